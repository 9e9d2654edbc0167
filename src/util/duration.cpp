#include "whatif/util/duration.hpp"

#include <charconv>
#include <string>

namespace whatif::util {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
    const std::string shown(text);
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end == text.data())
        return bad_input("invalid duration '" + shown + "' (expected e.g. 500ms, 30s, 5m, 2h, 7d)");
    const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
    uint64_t factor_ms = 0;
    if (unit.empty() || unit == "s")
        factor_ms = 1000;
    else if (unit == "ms")
        factor_ms = 1;
    else if (unit == "m" || unit == "min")
        factor_ms = 60'000;
    else if (unit == "h")
        factor_ms = 3'600'000;
    else if (unit == "d")
        factor_ms = 86'400'000;
    else
        return bad_input("invalid duration '" + shown + "': unknown unit '" + std::string(unit) +
                         "' (use ms, s, m, h or d)");
    if (value > UINT64_MAX / factor_ms / 2)
        return bad_input("duration '" + shown + "' is too long");
    return std::chrono::milliseconds(static_cast<int64_t>(value * factor_ms));
}

}  // namespace whatif::util
