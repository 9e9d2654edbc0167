#include "whatif/util/log.hpp"

#include <chrono>
#include <cstdio>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace whatif::util {

void init_logging(int verbosity) {
    auto logger = spdlog::stderr_color_st("whatif");
    logger->set_pattern("whatif[%^%l%$] %v");
    spdlog::set_default_logger(logger);
    spdlog::level::level_enum level = spdlog::level::warn;
    if (const char* env = std::getenv("WHATIF_LOG"); env != nullptr && *env != '\0')
        level = spdlog::level::from_str(env);
    if (verbosity == 1) level = spdlog::level::info;
    if (verbosity == 2) level = spdlog::level::debug;
    if (verbosity >= 3) level = spdlog::level::trace;
    spdlog::set_level(level);
}

namespace {
std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();
}  // namespace

void mark_start() {
    started_at = std::chrono::steady_clock::now();
}

long long micros_since_start() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 started_at)
        .count();
}

void log_phase(std::string_view phase) {
    if (!spdlog::should_log(spdlog::level::debug)) return;
    spdlog::debug("at {} us, peak {} kB: {}", micros_since_start(), peak_rss_kb(), phase);
}

long peak_rss_kb() {
    std::FILE* f = std::fopen("/proc/self/status", "re");
    if (f == nullptr) return 0;
    char line[256];
    long kb = 0;
    while (std::fgets(line, sizeof line, f) != nullptr)
        if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    std::fclose(f);
    return kb;
}

}  // namespace whatif::util
