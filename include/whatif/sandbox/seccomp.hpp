#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::seccomp {

// In the command's process, the last step before exec: a libseccomp filter that
// denies the namespace-sandbox escape classes (EPERM; ENOSYS for clone3 so libc
// falls back to clone), denies every non-native ABI (int 0x80, x32), and asks for
// a user notification on execve, execveat and connect, which init uses to observe
// (the process log, unix-socket attempts) and always continues.
// Returns the notification fd, or -1 with `err` set.
int install_filter(ChildError& err);

}  // namespace whatif::sandbox::seccomp
