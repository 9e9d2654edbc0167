// Passing a file descriptor over a unix socket (SCM_RIGHTS), with a few bytes that
// say what it is: init sends the command's seccomp notify fd, and the sandbox's
// sinks and stood-in connections to the supervisor's stub server.
#pragma once

#include <cstddef>

namespace whatif::util {

// One message of `size` bytes (at least 1) carrying `fd`; true when all were sent.
// Allocates nothing: the command's process calls it between fork and exec.
bool send_with_fd(int socket_fd, const void* data, size_t size, int fd);

}  // namespace whatif::util
