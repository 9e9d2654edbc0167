// Fault injection for tests: with WHATIF_TEST_STOP_AT=PHASE, a whatif process
// that reaches PHASE stops itself (SIGSTOP), so that a test can SIGKILL whatif in
// exactly that phase and check what it leaves behind. The sandbox's init cannot be
// stopped (the kernel ignores SIGSTOP sent to a pid namespace's init from inside):
// it waits forever instead, and a test sees the phase in its mount table. Phases:
//   setup    the sandbox's init, its mounts built, before the command starts
//   scan     the supervisor, the command done, before the upper layers are read
//   report   the supervisor, effects.json written, the run not yet complete
// Unset (always, outside tests), it does nothing. Async-signal-safe: init calls it
// between clone and exec.
#pragma once

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace whatif::util {

inline void stop_point(const char* phase) {
    const char* wanted = getenv("WHATIF_TEST_STOP_AT");
    if (wanted == nullptr || strcmp(wanted, phase) != 0) return;
    if (getpid() != 1) {
        raise(SIGSTOP);
        return;
    }
    for (;;) pause();
}

}  // namespace whatif::util
