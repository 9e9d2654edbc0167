#pragma once

#include <string>
#include <string_view>

#include "whatif/util/error.hpp"

namespace whatif::effects {

// A unified diff of two versions of a file (dtl's diff, not a hand-written one).
// Binary content gives one "Binary files differ" line with both sizes.
// Either side may be absent (created or deleted file): pass nullptr.
Result<std::string> unified_diff(const std::string* before, const std::string* after,
                                 std::string_view shown_path);

}  // namespace whatif::effects
