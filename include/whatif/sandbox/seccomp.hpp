#pragma once

#include <linux/filter.h>

#include <span>
#include <vector>

#include "whatif/sandbox/child_plan.hpp"
#include "whatif/util/error.hpp"

namespace whatif::sandbox::seccomp {

// The filter, compiled with libseccomp (at build time: see filter() below): it
// denies the namespace-sandbox escape classes (EPERM; ENOSYS for clone3 so libc
// falls back to clone), denies every non-native ABI (int 0x80, x32), and asks for a
// user notification on execve, execveat, connect, addressed sendto and the
// kill family with a signal (proclog.cpp: those aimed outside), which init
// uses to observe (the process log, the network) and always continues. Exported as
// a BPF program, so that the command's process only loads it.
Result<std::vector<sock_filter>> build_filter();

// The program every run loads. The rules never change at run time, so the build
// runs build_filter once (tools/seccomp_gen.cpp) and whatif embeds the result:
// compiling it took about 200 us of every run's set-up. When the build could not
// (libseccomp refused on the build machine), it is built here, once per process.
// A fix to libseccomp's code generation reaches whatif when whatif is rebuilt.
Result<std::span<const sock_filter>> filter();

// In the command's process, the last step before exec (no_new_privs set): one
// seccomp(2) call, no allocation. Returns the notification fd, or -1 with `err` set.
int load_filter(std::span<const sock_filter> program, ChildError& err);

}  // namespace whatif::sandbox::seccomp
