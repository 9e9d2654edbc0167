#pragma once

#include <string_view>

namespace whatif::util {

// spdlog to stderr only (stdout may carry JSON). Level: -v flags, else $WHATIF_LOG.
void init_logging(int verbosity);

// This process's peak resident memory so far (VmHWM), in kB; 0 when unknown. For
// debug logs at phase boundaries: memory must not grow with the effects' number.
long peak_rss_kb();

// Microseconds since main() began (for -vv phase timings: every agent command pays
// whatif's set-up, so where it goes is worth a log line).
long long micros_since_start();
void mark_start();

// -vv: "at 8905 us, peak 7116 kB: scanned". Measures nothing unless debug logging
// is on (every dry run passes through here).
void log_phase(std::string_view phase);

}  // namespace whatif::util
