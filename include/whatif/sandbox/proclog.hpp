// The process log: init's side of the seccomp notifications. Every execve and
// execveat is recorded (pid, parent, argv read from the process's memory, the
// executable, the cwd) and every connect to a filesystem or abstract unix socket;
// the call then always continues: observation, never enforcement.
#pragma once

#include <string>
#include <vector>

namespace whatif::sandbox::proclog {

// Reads one notification from `notify_fd`, records it as a frame on `status_fd`,
// and lets the call continue.
void handle_notification(int notify_fd, int status_fd);

// Status-pipe frames (init -> supervisor): type, 4-byte length, payload.
inline constexpr char kFrameSetupError = 'E';
inline constexpr char kFrameExited = 'X';
inline constexpr char kFrameExec = 'P';     // pid \0 ppid \0 exe \0 cwd \0 arg0 \0 arg1 \0 ...
inline constexpr char kFrameConnect = 'C';  // pid \0 path \0   ("@name" for abstract sockets)

void write_frame(int fd, char type, const void* payload, size_t size);

struct ExecRecord {
    int pid = 0, ppid = 0;
    std::string exe, cwd;
    std::vector<std::string> argv;
};
struct ConnectRecord {
    int pid = 0;
    std::string path;
};

}  // namespace whatif::sandbox::proclog
