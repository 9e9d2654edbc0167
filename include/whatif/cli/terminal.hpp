// What a person at a terminal gets: a pager for long output.
#pragma once

#include <string>
#include <vector>

namespace whatif::cli {

// Runs "less -R" style command lines (split on spaces) with `input` on stdin and the
// terminal for the rest; its exit status, 127 when it cannot start.
int run_tool(const std::string& command_line, const std::vector<std::string>& extra,
             const std::string& input);

// `text` to stdout: through $PAGER (less -R by default) when stdout is a terminal
// and `always` or the text is longer than the screen; as is otherwise.
void page(const std::string& text, bool always);

}  // namespace whatif::cli
