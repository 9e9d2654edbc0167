#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/effects/file_effects.hpp"

#include "whatif/util/error.hpp"

namespace whatif::effects {

// A unified diff of two versions of a file (dtl's diff, not a hand-written one).
// Binary content gives one "Binary files differ" line with both sizes.
// Either side may be absent (created or deleted file): pass nullptr.
Result<std::string> unified_diff(const std::string* before, const std::string* after,
                                 std::string_view shown_path);

// Short diffs for reports (Markdown): the first `max_files` text files created or
// modified (not ignored), each cut to `max_lines` lines. upper_of maps a host path
// to the file in the run's upper layer. `withheld` paths are left out (a decoy's
// host file holds the real secrets: paths_holding_decoy_content).
struct DiffSnippet {
    std::string path;
    std::string diff;
    bool cut = false;  // longer than max_lines
};
std::vector<DiffSnippet> diff_snippets(
    const FileEffects& files, const std::function<std::string(const std::string&)>& upper_of,
    const std::set<std::string>& withheld = {}, size_t max_files = 5, size_t max_lines = 20);

}  // namespace whatif::effects
