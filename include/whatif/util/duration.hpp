#pragma once

#include <chrono>
#include <string_view>

#include "whatif/util/error.hpp"

namespace whatif::util {

// "500ms", "30s", "5m", "2h", "7d", or a bare number of seconds.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace whatif::util
