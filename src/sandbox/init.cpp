#include "whatif/sandbox/init.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>

#include <dirent.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <iterator>
#include <optional>
#include <system_error>
#include <thread>

#include "whatif/sandbox/caps.hpp"
#include "whatif/sandbox/cgroup.hpp"
#include "whatif/sandbox/mnt.hpp"
#include "whatif/sandbox/net.hpp"
#include "whatif/sandbox/proclog.hpp"
#include "whatif/sandbox/seccomp.hpp"
#include "whatif/util/fault.hpp"
#include "whatif/util/fd_passing.hpp"
#include "whatif/util/log.hpp"

namespace whatif::sandbox::init {

namespace {

[[noreturn]] void die_with_setup_error(const ChildPlan& plan, const ChildError& err) {
    proclog::write_frame(plan.status_fd, proclog::kFrameSetupError, err.text, strlen(err.text));
    _exit(1);
}

// Fork bombs and memory bombs stay inside: per-sandbox process count (user
// namespaces count processes per namespace since Linux 5.14; root is exempt, and
// gets a pids cgroup from the supervisor) and data size.
bool apply_rlimits(ChildError& err) {
    struct sysinfo info {};
    sysinfo(&info);
    const rlim_t half_ram = static_cast<rlim_t>(info.totalram) * info.mem_unit / 2;
    const struct {
        int resource;
        rlim_t limit;
        const char* name;
    } limits[] = {{RLIMIT_NPROC, cgroup::kMaxProcesses, "RLIMIT_NPROC"},
                  {RLIMIT_DATA, half_ram > 0 ? half_ram : RLIM_INFINITY, "RLIMIT_DATA"},
                  {RLIMIT_CORE, 0, "RLIMIT_CORE"}};
    for (const auto& l : limits) {
        rlimit current{};
        getrlimit(l.resource, &current);
        const rlim_t value =
            current.rlim_max == RLIM_INFINITY ? l.limit : std::min(current.rlim_max, l.limit);
        const rlimit next{value, value};
        if (setrlimit(l.resource, &next) != 0) {
            err.syscall_failed("setrlimit", l.name);
            return false;
        }
    }
    return true;
}

// The command's process asked for its id maps (exec_command): written from here,
// the parent user namespace, as its /proc entry in the sandbox's /proc says.
bool write_command_id_maps(const ChildPlan& plan, pid_t command, int socket_fd, ChildError& err) {
    char byte = 0;
    if (recv(socket_fd, &byte, 1, 0) != 1) return true;  // it failed before: reported
    const struct {
        const char* file;
        const std::string& map;
    } maps[] = {{"uid_map", plan.command_uid_map}, {"gid_map", plan.command_gid_map}};
    for (const auto& m : maps) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(command), m.file);
        if (!write_whole_file(path, m.map.data(), m.map.size(), err)) return false;
    }
    send(socket_fd, &byte, 1, MSG_NOSIGNAL);  // if it died meanwhile, so be it
    return true;
}

int receive_fd(int socket_fd) {
    char dummy = 0;
    iovec iov{&dummy, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC) != 1) return -1;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg == nullptr || cmsg->cmsg_type != SCM_RIGHTS) return -1;
    int fd = -1;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    return fd;
}

// In the command's process: contain it, then become the command. The seccomp
// filter is the last step before exec.
[[noreturn]] void exec_command(const ChildPlan& plan, int fd_socket) {
    ChildError err;
    if (plan.command_user_ns) {
        // Our own user namespace (ChildPlan::command_user_ns); init, in the parent
        // one, writes its id maps and answers.
        if (unshare(CLONE_NEWUSER) != 0) {
            err.syscall_failed("unshare", "CLONE_NEWUSER");
            die_with_setup_error(plan, err);
        }
        char byte = 'u';
        if (send(fd_socket, &byte, 1, MSG_NOSIGNAL) != 1 || recv(fd_socket, &byte, 1, 0) != 1)
            _exit(126);  // init is gone, and the sandbox with it
    }
    if (plan.interactive) {
        // explore on a terminal: whatif's own stdio, whatif's session (a shell needs a
        // controlling terminal for job control), a process group of its own in the
        // foreground. TIOCSTI and TIOCLINUX stay denied by the filter below.
        if (setpgid(0, 0) != 0) {
            err.syscall_failed("setpgid", "0, 0");
            die_with_setup_error(plan, err);
        }
        signal(SIGTTOU, SIG_IGN);  // a background group may then take the terminal
        if (isatty(STDIN_FILENO) && tcsetpgrp(STDIN_FILENO, getpgrp()) != 0) {
            err.syscall_failed("tcsetpgrp", "stdin");
            die_with_setup_error(plan, err);
        }
    } else {
        if (dup2(plan.stdout_fd, STDOUT_FILENO) < 0 || dup2(plan.stderr_fd, STDERR_FILENO) < 0)
            _exit(126);
        // A session of its own: no controlling terminal to inject keystrokes into.
        if (setsid() < 0) {
            err.syscall_failed("setsid", "command");
            die_with_setup_error(plan, err);
        }
    }
#ifndef WHATIF_BENCH_WITHOUT_HARDENING  // see CMakeLists.txt: scripts/bench.sh only
    if (!caps::drop_capabilities(*plan.capabilities, err)) die_with_setup_error(plan, err);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        err.syscall_failed("prctl", "PR_SET_NO_NEW_PRIVS");
        die_with_setup_error(plan, err);
    }
#endif
    const char* name = plan.argv_ptrs[0];
    if (plan.resolved_command.empty()) {
        dprintf(STDERR_FILENO, "whatif: %s: command not found\n", name);
        _exit(127);
    }
#ifndef WHATIF_BENCH_WITHOUT_HARDENING
    const int notify_fd = seccomp::load_filter(plan.seccomp_program, err);
    if (notify_fd < 0) die_with_setup_error(plan, err);
    const char what = 'n';
    if (!util::send_with_fd(fd_socket, &what, 1, notify_fd)) {
        err.syscall_failed("sendmsg", "seccomp notify fd");
        die_with_setup_error(plan, err);
    }
#else
    (void)fd_socket;  // no filter: init waits for no notifications
#endif
    // Only fds 0-2 reach the command (the notify fd above included: never the command's).
    syscall(SYS_close_range, 3U, ~0U, 0U);
    // Ignored signals survive execve: give the command default dispositions.
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    // Limits last: they are meant for the command, not for the set-up above.
    if (!apply_rlimits(err)) {
        dprintf(STDERR_FILENO, "whatif: %s\n", err.text);
        _exit(126);
    }
    sigprocmask(SIG_SETMASK, &plan.original_mask, nullptr);
    execve(plan.resolved_command.c_str(), plan.argv_ptrs.data(),
           plan.env.empty() ? environ : plan.env_ptrs.data());
    const int exec_errno = errno;
    dprintf(STDERR_FILENO, "whatif: %s: %s\n", name, strerror(exec_errno));
    _exit(exec_errno == ENOENT ? 127 : 126);
}

long long monotonic_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Up to `size` bytes of a small /proc file; -1 when it cannot be read.
ssize_t read_proc_file(const char* path, char* buf, size_t size) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t total = 0;
    while (total < size) {
        const ssize_t n = read(fd, buf + total, size - total);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
    }
    close(fd);
    return static_cast<ssize_t>(total);
}

// Every process still in the sandbox but init, as a survivor frame each: its pid
// and command line (a zombie is done, not running: left out). Read from the
// sandbox's own /proc, before anything is killed.
void report_survivors(int status_fd) {
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return;
    int reported = 0;
    while (dirent* entry = readdir(proc)) {
        char* end = nullptr;
        const long pid = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 1) continue;
        char path[64];
        char stat[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        const ssize_t stat_len = read_proc_file(path, stat, sizeof stat - 1);
        if (stat_len <= 0) continue;  // gone meanwhile
        stat[stat_len] = '\0';
        const char* close_paren = strrchr(stat, ')');
        if (close_paren == nullptr) continue;
        // Done already: a zombie, or a process on its way out (its memory, and so
        // its command line, may be gone; PF_EXITING in the flags).
        char state = 0;
        unsigned flags = 0;
        if (sscanf(close_paren + 1, " %c %*d %*d %*d %*d %*d %u", &state, &flags) == 2 &&
            (state == 'Z' || state == 'X' || (flags & 0x4) != 0))
            continue;
        char payload[4096];
        int len = snprintf(payload, sizeof payload, "%ld", pid) + 1;  // and its NUL
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        const size_t room = sizeof payload - static_cast<size_t>(len) - 1;
        ssize_t n = read_proc_file(path, payload + len, room);
        if (n <= 0) {
            // No command line (a kernel-side state, or mid-exec): its name, as ps shows it.
            const char* open_paren = strchr(stat, '(');
            if (open_paren == nullptr || close_paren < open_paren) continue;
            n = snprintf(payload + len, room, "[%.*s]",
                         static_cast<int>(close_paren - open_paren - 1), open_paren + 1);
            n = std::min<ssize_t>(n, static_cast<ssize_t>(room) - 1) + 1;
        }
        len += static_cast<int>(n);
        if (payload[len - 1] != '\0') payload[len++] = '\0';  // a rewritten or cut command line
        proclog::write_frame(status_fd, proclog::kFrameSurvivor, payload, static_cast<size_t>(len));
        if (++reported == 1000) break;  // RLIMIT_NPROC bounds them anyway; the report need not
    }
    closedir(proc);
}

}  // namespace

// Everything the supervisor had open (the run's lock above all: a lock held by
// an exiting init would keep the run "in use") is closed, but what init needs.
void close_inherited_fds(const ChildPlan& plan) {
    int keep[] = {plan.sync_fd,   plan.status_fd,      plan.stdout_fd,
                  plan.stderr_fd, plan.net_channel_fd, plan.cgroup_self_join_fd};
    std::sort(std::begin(keep), std::end(keep));
    unsigned next = 3;
    for (int fd : keep) {
        if (fd < static_cast<int>(next)) continue;
        if (static_cast<unsigned>(fd) > next)
            syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0U);
        next = static_cast<unsigned>(fd) + 1;
    }
    syscall(SYS_close_range, next, ~0U, 0U);
}

[[noreturn]] void run_init(const ChildPlan& plan) {
    const long long cloned = util::micros_since_start();
    ChildError err;
    close_inherited_fds(plan);
    // If the supervisor dies, so does the whole sandbox: pid 1 going takes the
    // namespace's other processes with it, and the mount namespace follows.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        err.syscall_failed("prctl", "PR_SET_PDEATHSIG");
        die_with_setup_error(plan, err);
    }
    // Out of whatif's process group, the terminal's foreground: a Ctrl-C must reach
    // the supervisor alone, which forwards it once. (In the same group init got the
    // terminal's SIGINT too, which it ignores, and a forwarded one arriving while
    // that was pending merged with it and was lost.)
    if (setpgid(0, 0) != 0) {
        err.syscall_failed("setpgid", "init");
        die_with_setup_error(plan, err);
    }
    // Into the run's pids cgroup before anything is forked (cgroup.hpp: why init
    // moves itself on v1). Without it the run goes on unlimited, as when the
    // machine offers no cgroup.
    if (plan.cgroup_self_join_fd >= 0) {
        if (write(plan.cgroup_self_join_fd, "0", 1) != 1) {
            char note[96];
            const int n = snprintf(note, sizeof note, "no pids cgroup: write(tasks, \"0\"): %s",
                                   strerror(errno));
            proclog::write_frame(plan.status_fd, proclog::kFrameNote, note, static_cast<size_t>(n));
        }
        close(plan.cgroup_self_join_fd);
    }
    // The network namespace is made by a thread of ours while we mount (net.hpp),
    // from now on: it needs capabilities in our user namespace, not its id maps.
    // (A failure to start it leaves the work to this thread.)
    net::PreparedNamespace network;
    std::optional<std::thread> network_thread;
    if (plan.net_mode != ChildPlan::NetMode::host) {
        try {
            network_thread.emplace(net::prepare_namespace, std::cref(plan), std::ref(network));
        } catch (const std::system_error&) {
            net::prepare_namespace(plan, network);
        }
    }
    char go = 0;
    if (read(plan.sync_fd, &go, 1) != 1) _exit(1);  // supervisor gone, or id maps failed
    const long long mapped = util::micros_since_start();
    auto enter_network = [&](ChildError& e) {
        if (plan.net_mode == ChildPlan::NetMode::host) return true;
        if (network_thread) network_thread->join();
        network_thread.reset();
        return net::enter_namespace(network, e);
    };
    if (!mnt::build_root(plan, err, enter_network)) die_with_setup_error(plan, err);
    const long long mounts_done = util::micros_since_start();
    util::stop_point("setup");
    if (chdir(plan.cwd.c_str()) != 0) {
        err.syscall_failed("chdir", plan.cwd.c_str());
        die_with_setup_error(plan, err);
    }
    int fd_pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fd_pair) != 0) {
        err.syscall_failed("socketpair", "AF_UNIX");
        die_with_setup_error(plan, err);
    }

    // The supervisor's second byte: we are in our pids cgroup (root), so the
    // command is born there.
    if (read(plan.sync_fd, &go, 1) != 1) _exit(1);
    close(plan.sync_fd);

    // A plain fork, not vfork: the command's execve is itself a seccomp notification
    // that only init answers, so init must keep running while the command starts.
    // The child allocates nothing: its filter and capabilities were prepared before.
    const pid_t command = fork();
    if (command < 0) {
        err.syscall_failed("fork", "command");
        die_with_setup_error(plan, err);
    }
    if (command == 0) {
        close(fd_pair[0]);
        exec_command(plan, fd_pair[1]);
    }
    close(fd_pair[1]);
    close(plan.stdout_fd);
    close(plan.stderr_fd);
    // Then the set-up is done: init keeps only what watching the command needs.
    if ((plan.command_user_ns && !write_command_id_maps(plan, command, fd_pair[0], err)) ||
        !caps::keep_only(*plan.init_capabilities, err)) {
        kill(command, SIGKILL);
        die_with_setup_error(plan, err);
    }
    // -1 when the command's process failed before its filter was in place.
    int notify_fd = receive_fd(fd_pair[0]);
    close(fd_pair[0]);
    char timing[160];
    const int timing_len =
        snprintf(timing, sizeof timing,
                 "cloned %lld mapped %lld network %lld root and network %lld contained %lld",
                 cloned, mapped, network.ready_at, mounts_done, util::micros_since_start());
    proclog::write_frame(plan.status_fd, proclog::kFrameTiming, timing,
                         static_cast<size_t>(timing_len));

    // Signals stay blocked (inherited from the supervisor) and arrive on a signalfd.
    sigset_t waited;
    sigemptyset(&waited);
    for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH})
        sigaddset(&waited, sig);
    const int sigfd = signalfd(-1, &waited, SFD_CLOEXEC | SFD_NONBLOCK);
    proclog::NetState net_state;
    net_state.mode = plan.net_mode == ChildPlan::NetMode::stub   ? proclog::NetState::Mode::stub
                     : plan.net_mode == ChildPlan::NetMode::none ? proclog::NetState::Mode::none
                                                                 : proclog::NetState::Mode::host;
    net_state.channel_fd = plan.net_channel_fd;
    // The command's own process ends the run, unless it left others running
    // (`cmd &`, nohup, a daemon: orphans, reparented to us): then they get the
    // grace period, during which their execs and connections are served and
    // recorded like the command's, and those still running at its end are
    // reported and killed. A background command's grace runs from its start.
    std::optional<int> command_status;
    long long grace_ends_at =
        plan.command_is_background ? monotonic_ms() + plan.background_grace_ms : -1;
    for (;;) {
        int poll_timeout = -1;
        if (grace_ends_at >= 0)
            poll_timeout = static_cast<int>(
                std::clamp<long long>(grace_ends_at - monotonic_ms(), 0, 1'000'000));
        pollfd fds[2] = {{sigfd, POLLIN, 0}, {notify_fd, POLLIN, 0}};
        if (poll(fds, notify_fd >= 0 ? 2 : 1, poll_timeout) < 0) continue;
        if (notify_fd >= 0 && (fds[1].revents & POLLIN) != 0)
            proclog::handle_notification(notify_fd, plan.status_fd, net_state);
        // No process uses the filter any more (the last one exited): no notification
        // can come, and a hung-up fd would make every poll return at once, spinning
        // until the exited process can be reaped (a thousand rounds, measured).
        if (notify_fd >= 0 && (fds[1].revents & (POLLHUP | POLLERR)) != 0 &&
            (fds[1].revents & POLLIN) == 0) {
            close(notify_fd);
            notify_fd = -1;
        }
        if ((fds[0].revents & POLLIN) != 0) {
            signalfd_siginfo info{};
            while (read(sigfd, &info, sizeof info) == sizeof info) {
                const int sig = static_cast<int>(info.ssi_signo);
                if (sig == SIGCHLD) continue;
                // The command has a session of its own, so the terminal's signals reach
                // it only through us: the supervisor forwards them (SI_USER), we pass
                // them to the command's whole process group.
                if (info.ssi_code == SI_USER || info.ssi_code == SI_QUEUE) kill(-command, sig);
            }
        }
        int status = 0;
        pid_t pid = 0;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != command) continue;  // an orphan, reaped
            command_status = status;
            if (grace_ends_at < 0) grace_ends_at = monotonic_ms() + plan.background_grace_ms;
        }
        // Every process of the namespace descends from us: no child left is none left.
        const bool none_left = pid < 0 && errno == ECHILD;
        const bool grace_over = grace_ends_at >= 0 && monotonic_ms() >= grace_ends_at;
        if (!(command_status && none_left) && !grace_over) continue;
        if (!none_left) report_survivors(plan.status_fd);
        // End everything still running, so that the upper layers are final once the
        // supervisor hears from us. (Our own exit would do it too, but only after
        // the kernel has torn down the mount namespace, which the supervisor need
        // not wait for.)
        kill(-1, SIGKILL);
        // Notifications still pending belong to processes being killed.
        while ((pid = waitpid(-1, &status, 0)) > 0 || errno == EINTR)
            if (pid == command) command_status = status;
        const int exited[2] = {command_status.value_or(SIGKILL), command};
        proclog::write_frame(plan.status_fd, proclog::kFrameExited, exited, sizeof exited);
        _exit(0);
    }
}

}  // namespace whatif::sandbox::init
