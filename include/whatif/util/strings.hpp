#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace whatif::util {

bool is_valid_utf8(std::string_view s);
// Invalid UTF-8 bytes become U+FFFD: for JSON, which must be UTF-8.
std::string to_valid_utf8(std::string_view s);
std::string to_hex(std::string_view bytes);
std::string from_hex(std::string_view hex);  // empty on malformed input

// A path or argument as a person should see it: as is when it is plain, else in
// bash's $'...' quoting, so that newlines, control bytes and invalid UTF-8 are
// visible and the name can be pasted back into a shell exactly.
std::string shell_quote_for_display(std::string_view s);
// Any text from the command or the network (a query, an HTTP target, a user
// name, an SSH banner), made safe to show on a terminal: control bytes, C1
// controls, bidirectional overrides and invalid UTF-8 become \xNN (\n, \r, \t
// by name), so that nothing in it moves the cursor, writes the clipboard (OSC 52)
// or paints a line of its own. Every report goes through it for such text.
std::string printable(std::string_view s);
// Quote argv so that the printed command line can be pasted into a shell.
std::string join_argv_for_display(const std::vector<std::string>& argv);

std::string with_thousands(uint64_t n);      // 1204 -> "1,204"
std::string human_bytes(uint64_t n);         // 222298112 -> "212 MB"
std::string human_duration_ms(uint64_t ms);  // 41 -> "0.04 s"
std::string signal_name(int sig);            // 9 -> "SIGKILL"
std::string plural(uint64_t n, std::string_view one, std::string_view many);

// Appends each NUL-terminated field of `text` (git -z output, the process log's
// frames) to `out`; bytes after the last NUL are not a field.
void split_nul_terminated(std::string_view text, std::vector<std::string>& out);

}  // namespace whatif::util
