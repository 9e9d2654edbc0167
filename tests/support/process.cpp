#include "support/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <boost/process.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace bp = boost::process;

namespace whatif::test {

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

std::vector<std::string> env_launch(const std::string& exe, const std::vector<std::string>& args,
                                    const std::map<std::string, std::string>& overrides) {
    std::vector<std::string> out;
    for (const auto& [k, v] : overrides)
        if (v.empty()) out.insert(out.end(), {"-u", k});
    for (const auto& [k, v] : overrides)
        if (!v.empty()) out.push_back(k + "=" + v);
    out.push_back(exe);
    out.insert(out.end(), args.begin(), args.end());
    return out;
}

std::string whatif_binary() {
    if (const char* env = std::getenv("WHATIF_BIN"); env != nullptr && *env != '\0') return env;
    return WHATIF_BINARY;
}

ProcessResult run_process(const std::string& exe, const std::vector<std::string>& args,
                          const ProcessOptions& options) {
    // Output goes through files: no pipe can fill up and deadlock the test.
    std::random_device rd;
    const std::string base = "/tmp/whatif-test-io-" + std::to_string(rd()) + std::to_string(rd());
    const std::string in_path = base + ".in", out_path = base + ".out", err_path = base + ".err";
    {
        std::ofstream in(in_path, std::ios::binary);
        in << options.stdin_data;
    }
    ProcessResult result;
    bp::child child("/usr/bin/env", bp::args(env_launch(exe, args, options.env)),
                    bp::start_dir(options.cwd.empty() ? "/tmp" : options.cwd),
                    bp::std_in<in_path, bp::std_out> out_path, bp::std_err > err_path);
    child.wait();
    result.exit_code = child.exit_code();
    result.out = slurp(out_path);
    result.err = slurp(err_path);
    std::remove(in_path.c_str());
    std::remove(out_path.c_str());
    std::remove(err_path.c_str());
    return result;
}

MeasuredResult run_process_measured(const std::string& exe, const std::vector<std::string>& args,
                                    const ProcessOptions& options, const std::string& out_path) {
    std::random_device rd;
    const std::string err_path =
        "/tmp/whatif-test-io-" + std::to_string(rd()) + std::to_string(rd()) + ".err";
    std::vector<std::string> argv = {"/usr/bin/env"};
    for (auto& a : env_launch(exe, args, options.env)) argv.push_back(a);
    std::vector<char*> ptrs;
    for (auto& a : argv) ptrs.push_back(a.data());
    ptrs.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
    MeasuredResult result;
    pid_t pid = -1;
    if (posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, ptrs.data(), environ) == 0) {
        int status = 0;
        rusage usage{};
        while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
        }
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        result.max_rss_kb = usage.ru_maxrss;
    }
    posix_spawn_file_actions_destroy(&actions);
    result.err = slurp(err_path);
    std::remove(err_path.c_str());
    return result;
}

bool long_tests_enabled() {
    const char* v = std::getenv("WHATIF_TEST_LONG");
    return v != nullptr && std::string(v) == "1";
}

}  // namespace whatif::test
