#include "whatif/sandbox/proclog.hpp"

#include "whatif/sandbox/net.hpp"
#include "whatif/util/unique_fd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace whatif::sandbox::proclog {

namespace {

constexpr size_t kMaxString = 128 * 1024;  // one argument
constexpr size_t kMaxArgs = 100'000;
constexpr size_t kMaxRecord = 4 * 1024 * 1024;

// The memory of a process that is stopped in a syscall we are notified about.
class Memory {
  public:
    explicit Memory(int pid) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/mem", pid);
        fd_ = open(path, O_RDONLY | O_CLOEXEC);
    }
    ~Memory() {
        if (fd_ >= 0) close(fd_);
    }
    bool ok() const { return fd_ >= 0; }

    bool read_string(uint64_t addr, std::string& out) const {
        out.clear();
        char buf[4096];
        while (out.size() < kMaxString) {
            // Never read across a page boundary in one go: the next page may be unmapped.
            const size_t to_page_end = 4096 - (addr % 4096);
            const ssize_t n = pread(fd_, buf, to_page_end, static_cast<off_t>(addr));
            if (n <= 0) return false;
            const void* nul = memchr(buf, '\0', static_cast<size_t>(n));
            if (nul != nullptr) {
                out.append(buf, static_cast<size_t>(static_cast<const char*>(nul) - buf));
                return true;
            }
            out.append(buf, static_cast<size_t>(n));
            addr += static_cast<uint64_t>(n);
        }
        return true;  // truncated at kMaxString
    }
    bool read_pointer(uint64_t addr, uint64_t& out) const {
        return pread(fd_, &out, sizeof out, static_cast<off_t>(addr)) ==
               static_cast<ssize_t>(sizeof out);
    }
    bool read_bytes(uint64_t addr, void* out, size_t size) const {
        return pread(fd_, out, size, static_cast<off_t>(addr)) == static_cast<ssize_t>(size);
    }

  private:
    int fd_ = -1;
};

std::string read_link(const char* path) {
    char buf[4096];
    const ssize_t n = readlink(path, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

int parent_of(int pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[1024];
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char* close_paren = strrchr(buf, ')');  // the command name may hold spaces and parens
    if (close_paren == nullptr) return 0;
    char state = 0;
    int ppid = 0;
    if (sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return 0;
    return ppid;
}

void append_field(std::string& payload, const std::string& field) {
    payload += field;
    payload += '\0';
}

std::string exec_payload(const seccomp_notif& req, const Memory& mem) {
    const int pid = static_cast<int>(req.pid);
    const bool at = req.data.nr == static_cast<int>(SYS_execveat);
    const uint64_t path_addr = at ? req.data.args[1] : req.data.args[0];
    const uint64_t argv_addr = at ? req.data.args[2] : req.data.args[1];
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/%d/cwd", pid);
    const std::string cwd = read_link(proc);
    std::string exe;
    mem.read_string(path_addr, exe);
    if (at && exe.empty()) {
        snprintf(proc, sizeof proc, "/proc/%d/fd/%d", pid, static_cast<int>(req.data.args[0]));
        exe = read_link(proc);  // execveat(fd, "", AT_EMPTY_PATH)
    } else if (!exe.empty() && exe.front() != '/') {
        exe = (at ? std::string() : cwd + "/") + exe;
    }
    // Shells and execvp try one PATH entry after another: only a file that exists
    // is a program that runs. (We share the sandbox's root; relative names are
    // looked up from the process's cwd.)
    if (exe.empty()) return {};
    if (exe.front() == '/') {
        if (access(exe.c_str(), F_OK) != 0) return {};
    } else {
        snprintf(proc, sizeof proc, "/proc/%d/cwd/", pid);
        if (access((proc + exe).c_str(), F_OK) != 0) return {};
    }
    std::string payload;
    append_field(payload, std::to_string(pid));
    append_field(payload, std::to_string(parent_of(pid)));
    append_field(payload, exe);
    append_field(payload, cwd);
    std::string arg;
    for (size_t i = 0; i < kMaxArgs && argv_addr != 0 && payload.size() < kMaxRecord; ++i) {
        uint64_t ptr = 0;
        if (!mem.read_pointer(argv_addr + i * sizeof(uint64_t), ptr) || ptr == 0) break;
        if (!mem.read_string(ptr, arg)) break;
        append_field(payload, arg);
    }
    return payload;
}

// Whether a socket of the sandbox's own network namespace is bound to the inode
// `st` (sock_diag, UNIX_DIAG_VFS): the command's own server, not a host socket.
bool sandbox_socket_bound_to(const struct stat& st) {
    UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!nl) return true;  // unknown: leave the connect alone
    struct {
        nlmsghdr header;
        unix_diag_req request;
    } query{};
    query.header.nlmsg_len = sizeof query;
    query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    query.request.sdiag_family = AF_UNIX;
    query.request.udiag_states = ~0U;
    query.request.udiag_show = UDIAG_SHOW_VFS;
    if (send(nl.get(), &query, sizeof query, 0) < 0) return true;
    alignas(nlmsghdr) char buf[16384];
    for (;;) {
        const ssize_t received = recv(nl.get(), buf, sizeof buf, 0);
        if (received <= 0) return true;
        unsigned left = static_cast<unsigned>(received);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_DONE) return false;
            if (h->nlmsg_type == NLMSG_ERROR) return true;
            const auto* msg = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
            int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof *msg));
            for (auto* a = reinterpret_cast<const rtattr*>(msg + 1); RTA_OK(a, len);
                 a = RTA_NEXT(a, len)) {
                if (a->rta_type != UNIX_DIAG_VFS) continue;
                unix_diag_vfs vfs{};
                memcpy(&vfs, RTA_DATA(a), sizeof vfs);
                // The kernel's own dev_t (12-bit major above a 20-bit minor).
                const dev_t dev = makedev(vfs.udiag_vfs_dev >> 20, vfs.udiag_vfs_dev & 0xfffff);
                if (vfs.udiag_vfs_ino == st.st_ino && dev == st.st_dev) return true;
            }
        }
    }
}

// The C library's own name-service sockets: a stand-in there would only make
// every user and host lookup wait for the stub's deadline.
bool is_name_service_socket(const std::string& path) {
    return path.ends_with("/nscd/socket") || path.starts_with("/run/systemd/userdb/") ||
           path.starts_with("/run/systemd/resolve/");
}

// A connect to a host unix socket (stub mode): nothing inside the sandbox may
// reach a host process through one (the overlay makes most unreachable, a
// read-only bind mount would not), and a local database, cache or container
// engine is the command's real target there (psql's default socket,
// /var/run/docker.sock). So whatever socket file the command connects to that no
// socket of the sandbox is bound to, whatever mount it lives on, is stood in for:
// init makes a socket pair, gives one end to the stub server (the same protocol
// readers as the IP sinks) and puts the other in place of the command's socket
// (SECCOMP_IOCTL_NOTIF_ADDFD, SETFD: the same fd number), and answers the
// connect as done. The call itself never runs, so the path read from the
// process's memory cannot have been swapped for another since. Returns whether
// the call was answered so; otherwise it continues as before.
enum class UnixConnect { host, stubbed, sandbox_own };
UnixConnect stand_in_for_host_socket(int notify_fd, const seccomp_notif& req,
                                     const std::string& path, const NetState& net) {
    if (net.mode != NetState::Mode::stub || path.empty() || path.front() == '@' ||
        is_name_service_socket(path))
        return UnixConnect::host;
    const int pid = static_cast<int>(req.pid);
    const int target_fd = static_cast<int>(req.data.args[0]);
    // The path as the process sees it (init shares its root; a relative one is
    // looked up from the process's cwd).
    const std::string seen =
        path.front() == '/' ? path : "/proc/" + std::to_string(pid) + "/cwd/" + path;
    struct stat st {};
    if (stat(seen.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return UnixConnect::host;
    if (sandbox_socket_bound_to(st)) return UnixConnect::sandbox_own;
    // Only stream sockets: a datagram one (syslog's /dev/log) is left refused.
    const UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd) return UnixConnect::host;
    const UniqueFd original(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), target_fd, 0)));
    if (!original) return UnixConnect::host;
    int type = -1;
    socklen_t type_len = sizeof type;
    if (getsockopt(original.get(), SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 ||
        type != SOCK_STREAM)
        return UnixConnect::host;
    const int status_flags = fcntl(original.get(), F_GETFL);
    // FD_CLOEXEC is the fd's, not the description's: read it from fdinfo.
    bool cloexec = false;
    {
        const std::string fdinfo =
            "/proc/" + std::to_string(pid) + "/fdinfo/" + std::to_string(target_fd);
        if (FILE* f = fopen(fdinfo.c_str(), "re")) {
            char line[128];
            unsigned long flags = 0;
            while (fgets(line, sizeof line, f) != nullptr)
                if (sscanf(line, "flags: %lo", &flags) == 1) cloexec = (flags & O_CLOEXEC) != 0;
            fclose(f);
        }
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return UnixConnect::host;
    const UniqueFd command_end(pair[0]), stub_end(pair[1]);
    if (status_flags >= 0 && (status_flags & O_NONBLOCK) != 0)
        fcntl(command_end.get(), F_SETFL, O_NONBLOCK);
    if (seccomp_notify_id_valid(notify_fd, req.id) != 0) return UnixConnect::host;
    if (!sandbox::net::send_unix_connection(net.channel_fd, path, stub_end.get()))
        return UnixConnect::host;
    seccomp_notif_addfd addfd{};
    addfd.id = req.id;
    addfd.flags = SECCOMP_ADDFD_FLAG_SETFD;
    addfd.srcfd = static_cast<uint32_t>(command_end.get());
    addfd.newfd = static_cast<uint32_t>(target_fd);
    addfd.newfd_flags = cloexec ? O_CLOEXEC : 0;
    // The stub's end is already the supervisor's: if this fails, it sees a client
    // that sent nothing, and the connect goes on to be refused as before.
    return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) >= 0 ? UnixConnect::stubbed
                                                                    : UnixConnect::host;
}

std::string connect_payload(const seccomp_notif& req, const Memory& mem, std::string& path) {
    const uint64_t addr = req.data.args[1];
    const uint64_t len = req.data.args[2];
    sockaddr_un sun{};
    if (len < sizeof(sa_family_t) + 1 || len > sizeof sun) return {};
    if (!mem.read_bytes(addr, &sun, static_cast<size_t>(len))) return {};
    if (sun.sun_family != AF_UNIX) return {};  // IP connects are the stub network's business
    const size_t path_len = static_cast<size_t>(len) - offsetof(sockaddr_un, sun_path);
    if (sun.sun_path[0] == '\0')
        path = "@" + std::string(sun.sun_path + 1, path_len - 1);  // abstract
    else
        path = std::string(sun.sun_path, strnlen(sun.sun_path, path_len));
    std::string payload;
    append_field(payload, std::to_string(req.pid));
    append_field(payload, path);
    return payload;
}

bool is_loopback(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET)
        return (ntohl(reinterpret_cast<const sockaddr_in&>(ss).sin_addr.s_addr) >> 24) == 127;
    const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a6)) return a6.s6_addr[12] == 127;
    return IN6_IS_ADDR_LOOPBACK(&a6);
}

// Whether a /proc/net/{tcp,udp}[6] local address (hex, as the kernel prints it:
// the address's bytes in host order per 32-bit word) is a wildcard or loopback
// address, i.e. one a connection to the sandbox's loopback would reach.
bool reachable_from_loopback(std::string_view hex) {
    if (hex.size() == 8) {  // IPv4: one word, the first byte of the address is the low byte
        const unsigned long word = std::strtoul(std::string(hex).c_str(), nullptr, 16);
        const unsigned first_byte = static_cast<unsigned>(word & 0xff);
        return word == 0 || first_byte == 127;
    }
    if (hex.size() != 32) return false;
    uint8_t bytes[16];
    for (size_t w = 0; w < 4; ++w) {
        const auto word = static_cast<uint32_t>(
            std::strtoul(std::string(hex.substr(w * 8, 8)).c_str(), nullptr, 16));
        memcpy(bytes + w * 4, &word, 4);  // the kernel printed the word in host order
    }
    in6_addr a6{};
    memcpy(&a6, bytes, sizeof bytes);
    if (IN6_IS_ADDR_UNSPECIFIED(&a6) || IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) &&
           (a6.s6_addr[12] == 127 || (a6.s6_addr[12] == 0 && a6.s6_addr[13] == 0 &&
                                      a6.s6_addr[14] == 0 && a6.s6_addr[15] == 0));
}

// Whether a socket of the sandbox (init reads its own network namespace's
// /proc/net) serves `port` on loopback: a TCP listener, or a bound, unconnected
// UDP socket.
bool sandbox_serves(int type, uint16_t port) {
    const bool tcp = type == SOCK_STREAM;
    static const char* const tcp_tables[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    static const char* const udp_tables[] = {"/proc/net/udp", "/proc/net/udp6"};
    for (const char* table : tcp ? tcp_tables : udp_tables) {
        FILE* f = fopen(table, "re");
        if (f == nullptr) continue;
        char line[512];
        bool found = false;
        if (fgets(line, sizeof line, f) != nullptr)  // the header
            while (!found && fgets(line, sizeof line, f) != nullptr) {
                // "  0: 0100007F:1F90 00000000:0000 0A ..."
                char local[64], remote[64];
                unsigned state = 0;
                if (sscanf(line, "%*d: %63s %63s %x", local, remote, &state) != 3) continue;
                const std::string_view l(local);
                const size_t colon = l.rfind(':');
                if (colon == std::string_view::npos) continue;
                const auto local_port = static_cast<uint16_t>(
                    std::strtoul(std::string(l.substr(colon + 1)).c_str(), nullptr, 16));
                constexpr unsigned kTcpListen = 0x0A, kUdpUnconnected = 0x07;
                found = local_port == port && state == (tcp ? kTcpListen : kUdpUnconnected) &&
                        reachable_from_loopback(l.substr(0, colon));
            }
        fclose(f);
        if (found) return true;
    }
    return false;
}

// The type of the target's socket `fd`: a duplicate through its pidfd.
int socket_type_of(int pid, int fd) {
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return -1;
    const int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    close(pidfd);
    if (dup < 0) return -1;
    int type = -1;
    socklen_t len = sizeof type;
    if (getsockopt(dup, SOL_SOCKET, SO_TYPE, &type, &len) != 0) type = -1;
    close(dup);
    return type;
}

// connect() or sendto() to an IPv4/IPv6 address. Opens the stub's sink for the
// port before the call goes on, so that the connection lands there.
std::string ip_payload(const seccomp_notif& req, const Memory& mem, NetState& net, bool is_sendto) {
    const uint64_t addr = is_sendto ? req.data.args[4] : req.data.args[1];
    const uint64_t len = is_sendto ? req.data.args[5] : req.data.args[2];
    sockaddr_storage ss{};
    if (len < sizeof(sa_family_t) || len > sizeof ss ||
        !mem.read_bytes(addr, &ss, static_cast<size_t>(len)))
        return {};
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return {};
    const uint16_t port =
        ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(ss).sin_port
                                      : reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
    char text[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in&>(ss).sin_addr, text, sizeof text);
    } else {
        const auto& a6 = reinterpret_cast<sockaddr_in6&>(ss).sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text);
        else
            inet_ntop(AF_INET6, &a6, text, sizeof text);
    }
    const int type =
        is_sendto ? SOCK_DGRAM
                  : socket_type_of(static_cast<int>(req.pid), static_cast<int>(req.data.args[0]));
    if (type != SOCK_STREAM && type != SOCK_DGRAM) return {};
    if (type == SOCK_DGRAM && port == 53 && net.mode == NetState::Mode::stub)
        return {};  // the DNS stub records it
    // Where the connection goes. The sandbox's loopback is no exception to the
    // stub: a database, a cache or a search engine on the developer's machine is
    // the command's real target there (psql -h 127.0.0.1 ... 'DROP DATABASE prod'),
    // so a loopback destination gets a sink like a remote one, unless the command
    // itself serves that port: then the connection is the sandbox's own business
    // (a test that starts a server and curls it) and no effect.
    //
    // Why look first, rather than bind the sink and let a failed bind say "in
    // use": a UDP socket bound with SO_REUSEADDR shares its port with our sink
    // (which sets it too), and the datagrams would go to either. And why not
    // SO_REUSEPORT on the sink: the command's later bind would then succeed only
    // if it set SO_REUSEPORT itself, and if it did, the kernel would spread its
    // clients over its server and our sink at random, worse than either outcome.
    // What stays: a port the command connects to before it serves it (a wait-for-
    // the-server loop) is the sink's from then on, and the command's bind fails
    // with EADDRINUSE; the verdict then still asks (the loopback connection is a
    // finding), it never allows what it did not see.
    std::string outcome;
    bool sandbox_internal = false;
    const bool loopback = is_loopback(ss);
    const auto key = std::make_pair(type, port);
    if (net.mode == NetState::Mode::host) {
        outcome = "allowed";  // the real network (--net host), loopback included: the host's
    } else if (loopback && !net.sinks.contains(key) && sandbox_serves(type, port)) {
        outcome = "allowed";
        sandbox_internal = true;
    } else if (net.mode == NetState::Mode::none) {
        outcome = "blocked";
    } else {
        outcome = "stubbed";
        if (!net.sinks.contains(key)) {
            if (sandbox::net::open_sink(net.channel_fd, type, port))
                net.sinks.insert(key);
            else if (loopback)
                outcome = "blocked";  // no sink, no server: refused
        }
    }
    std::string payload;
    append_field(payload, std::to_string(req.pid));
    append_field(payload, is_sendto ? "send" : "connect");
    append_field(payload, type == SOCK_STREAM ? "tcp" : "udp");
    append_field(payload, text);
    append_field(payload, std::to_string(port));
    append_field(payload, std::to_string(is_sendto ? req.data.args[2] : 0));
    append_field(payload, outcome);
    append_field(payload, sandbox_internal ? "internal" : "");
    return payload;
}

// The highest pid the sandbox's pid namespace has handed out (pids are given in
// increasing order from 2): a pid at most this is one of the command's processes,
// alive or gone; 0 when unknown, and then every target is taken as a host's.
int last_pid_in_sandbox() {
    const int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[32] = {};
    const ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 ? atoi(buf) : 0;
}

// kill(2)'s pid as the command gave it: is what it names outside the sandbox for
// real? -1 is every process the user may signal (inside, only the sandbox's: why
// it looks harmless here); a group or pid the sandbox never had is the host's, as
// is 1 (whatif's init here, the host's init for real). 0 is the sender's own group.
bool aimed_outside(int target) {
    if (target == -1) return true;
    if (target == 0) return false;
    const long id = target < 0 ? -static_cast<long>(target) : target;
    return id == 1 || id > last_pid_in_sandbox();
}

// kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo (the filter notifies
// them only with a signal, not the probe signal 0): a frame when aimed outside.
std::string signal_payload(const seccomp_notif& req) {
    const int nr = req.data.nr;
    const char* call = nr == static_cast<int>(SYS_kill)              ? "kill"
                       : nr == static_cast<int>(SYS_tkill)           ? "tkill"
                       : nr == static_cast<int>(SYS_tgkill)          ? "tgkill"
                       : nr == static_cast<int>(SYS_rt_sigqueueinfo) ? "rt_sigqueueinfo"
                                                                     : "rt_tgsigqueueinfo";
    const bool thread_call =
        nr == static_cast<int>(SYS_tgkill) || nr == static_cast<int>(SYS_rt_tgsigqueueinfo);
    const bool names_thread = thread_call || nr == static_cast<int>(SYS_tkill);
    const int target = static_cast<int>(static_cast<int32_t>(req.data.args[0]));
    const int sig = static_cast<int>(req.data.args[thread_call ? 2 : 1]);
    // A thread call names a thread group, never a process group or "all".
    if (sig == 0 || (names_thread && target <= 0) || !aimed_outside(target)) return {};
    std::string payload;
    append_field(payload, std::to_string(req.pid));
    append_field(payload, std::to_string(sig));
    append_field(payload, std::to_string(target));
    append_field(payload, call);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", static_cast<int>(req.pid));
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[4096];
        const ssize_t n = read(fd, buf, sizeof buf);
        close(fd);
        if (n > 0) {
            payload.append(buf, static_cast<size_t>(n));
            if (payload.back() != '\0') payload += '\0';
        }
    }
    return payload;
}

bool is_signal_call(int nr) {
    return nr == static_cast<int>(SYS_kill) || nr == static_cast<int>(SYS_tkill) ||
           nr == static_cast<int>(SYS_tgkill) || nr == static_cast<int>(SYS_rt_sigqueueinfo) ||
           nr == static_cast<int>(SYS_rt_tgsigqueueinfo);
}

}  // namespace

void write_frame(int fd, char type, const void* payload, size_t size) {
    char header[5];
    header[0] = type;
    const uint32_t len = static_cast<uint32_t>(size);
    memcpy(header + 1, &len, sizeof len);
    auto write_all = [fd](const char* p, size_t n) {
        while (n > 0) {
            const ssize_t w = write(fd, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return;
            p += w;
            n -= static_cast<size_t>(w);
        }
    };
    write_all(header, sizeof header);
    write_all(static_cast<const char*>(payload), size);
}

void handle_notification(int notify_fd, int status_fd, NetState& net) {
    seccomp_notif* req = nullptr;
    seccomp_notif_resp* resp = nullptr;
    if (seccomp_notify_alloc(&req, &resp) != 0) return;
    if (seccomp_notify_receive(notify_fd, req) == 0) {
        bool answered = false;  // a stand-in made the connection: the call does not run
        {
            const Memory mem(static_cast<int>(req->pid));
            const bool is_connect = req->data.nr == static_cast<int>(SYS_connect);
            const bool is_sendto = req->data.nr == static_cast<int>(SYS_sendto);
            std::string payload, unix_path;
            char frame = kFrameExec;
            if (is_signal_call(req->data.nr)) {
                payload = signal_payload(*req);
                frame = kFrameSignal;
            } else if (mem.ok() && (is_connect || is_sendto)) {
                payload = is_connect ? connect_payload(*req, mem, unix_path) : std::string();
                frame = kFrameConnect;
                if (!payload.empty()) {
                    const auto how = stand_in_for_host_socket(notify_fd, *req, unix_path, net);
                    answered = how == UnixConnect::stubbed;
                    append_field(payload, answered                          ? "stubbed"
                                          : how == UnixConnect::sandbox_own ? "internal"
                                                                            : "");
                } else {
                    payload = ip_payload(*req, mem, net, is_sendto);
                    frame = kFrameNet;
                }
            } else if (mem.ok()) {
                payload = exec_payload(*req, mem);
            }
            // Only what was read while the process was still stopped in this very
            // call is recorded: the pid cannot have been reused meanwhile.
            if (!payload.empty() && seccomp_notify_id_valid(notify_fd, req->id) == 0)
                write_frame(status_fd, frame, payload.data(), payload.size());
        }
        resp->id = req->id;
        resp->val = 0;
        resp->error = 0;
        resp->flags = answered ? 0 : SECCOMP_USER_NOTIF_FLAG_CONTINUE;  // answered: connected
        seccomp_notify_respond(notify_fd, resp);
    }
    seccomp_notify_free(req, resp);
}

}  // namespace whatif::sandbox::proclog
