// The process log: init's side of the seccomp notifications. Every execve and
// execveat is recorded (pid, parent, argv read from the process's memory, the
// executable, the cwd), every connect to a filesystem or abstract unix socket, and
// every signal sent to a process the sandbox does not hold (kill -9 -1, a host
// pid); the call then always continues: observation, never enforcement.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace whatif::sandbox::proclog {

// What init knows of the network while it handles notifications.
struct NetState {
    enum class Mode { stub, none, host } mode = Mode::stub;
    int channel_fd = -1;
    std::set<std::pair<int, uint16_t>> sinks;  // (SOCK_STREAM|SOCK_DGRAM, port) already open
};

// Reads one notification from `notify_fd`, records it as a frame on `status_fd`,
// opens a sink for an IP destination (stub mode), and lets the call continue.
void handle_notification(int notify_fd, int status_fd, NetState& net);

// Status-pipe frames (init -> supervisor): type, 4-byte length, payload.
inline constexpr char kFrameSetupError = 'E';
inline constexpr char kFrameExited = 'X';  // the command's wait status, then its pid (ints)
inline constexpr char kFrameExec = 'P';    // pid \0 ppid \0 exe \0 cwd \0 arg0 \0 arg1 \0 ...
// pid \0 path \0 how \0   ("@name" for abstract sockets; how: "stubbed" when a stand-in
// of the stub network took the connection in place of a host socket, "internal" when
// a socket of the sandbox is bound there (stub mode), else empty)
inline constexpr char kFrameConnect = 'C';
// pid \0 kind (connect|send) \0 proto (tcp|udp) \0 address \0 port \0 bytes \0 outcome \0
// internal \0   ("internal" for a loopback connection to a server the command itself
// runs in the sandbox, else empty)
inline constexpr char kFrameNet = 'N';
// init's set-up, for -vv: microseconds since whatif started at the end of each
// step, as text ("cloned 2452 mapped 2496 root and network 4315 contained 4976").
inline constexpr char kFrameTiming = 'T';
// Something the debug log should say that does not stop the run, as text.
inline constexpr char kFrameNote = 'L';
// A host mount overlayfs refused, read-only in the run instead: the warning, as text.
inline constexpr char kFrameMountNotOverlaid = 'W';
// A process still running when the background grace was over, just before init
// killed it: pid \0 arg0 \0 arg1 \0 ... (its /proc cmdline; "[comm]" when empty).
inline constexpr char kFrameSurvivor = 'S';
// A kill-family call aimed at a process the sandbox does not hold:
// sender pid \0 signal \0 target as given ("-1", "-1234", "5678") \0 call \0 arg0 \0 ...
inline constexpr char kFrameSignal = 'K';

void write_frame(int fd, char type, const void* payload, size_t size);

struct ExecRecord {
    int pid = 0, ppid = 0;
    std::string exe, cwd;
    std::vector<std::string> argv;
    size_t argv_truncated = 0;  // arguments not kept (the process log's budget)
};
struct ConnectRecord {
    int pid = 0;
    std::string path;
    bool stubbed = false;           // a stand-in took it (the stub server has its sink event)
    bool sandbox_internal = false;  // to a socket the command bound itself
};
struct SurvivorRecord {
    int pid = 0;
    std::vector<std::string> argv;
};
struct SignalRecord {
    int pid = 0;  // the sender
    int signal = 0;
    std::string target;             // as the call gave it: "-1", "-1234" (a group), "5678"
    std::string call;               // kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo
    std::vector<std::string> argv;  // the sender's command line, when it could be read
};
struct NetRecord {
    int pid = 0;
    std::string kind, proto, address, outcome, host;
    uint16_t port = 0;
    uint64_t bytes = 0;
    bool sandbox_internal = false;  // to the command's own server on the sandbox's loopback
};

}  // namespace whatif::sandbox::proclog
