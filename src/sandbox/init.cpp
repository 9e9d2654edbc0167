#include "whatif/sandbox/init.hpp"

#include <errno.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "whatif/sandbox/mnt.hpp"
#include "whatif/sandbox/net.hpp"

namespace whatif::sandbox::init {

namespace {

void write_all(int fd, const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        size -= static_cast<size_t>(n);
    }
}

[[noreturn]] void die_with_setup_error(const ChildPlan& plan, const ChildError& err) {
    char frame[sizeof err.text + 1];
    frame[0] = kStatusSetupError;
    const size_t len = strlen(err.text);
    memcpy(frame + 1, err.text, len);
    write_all(plan.status_fd, frame, len + 1);
    _exit(1);
}

// execvp's errno is the last one it met: an unreadable PATH entry (EACCES) hides a
// plain "not found". Like a shell, look for the name itself. No allocation.
bool exists_in_path(const char* name) {
    const char* path = getenv("PATH");
    if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
    char candidate[4096];
    while (*path != '\0') {
        const char* end = strchrnul(path, ':');
        const size_t len = static_cast<size_t>(end - path);
        if (len + strlen(name) + 2 < sizeof candidate) {
            memcpy(candidate, len == 0 ? "." : path, len == 0 ? 1 : len);
            const size_t dir_len = len == 0 ? 1 : len;
            candidate[dir_len] = '/';
            strcpy(candidate + dir_len + 1, name);
            if (access(candidate, F_OK) == 0) return true;
        }
        path = *end == ':' ? end + 1 : end;
    }
    return false;
}

// In the command's process: undo what init changed, then become the command.
[[noreturn]] void exec_command(const ChildPlan& plan) {
    if (dup2(plan.stdout_fd, STDOUT_FILENO) < 0 || dup2(plan.stderr_fd, STDERR_FILENO) < 0) _exit(126);
    // Only fds 0-2 reach the command.
    syscall(SYS_close_range, 3U, ~0U, 0U);
    // Ignored signals survive execve: give the command default dispositions.
    for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &plan.original_mask, nullptr);
    execvp(plan.argv_ptrs[0], plan.argv_ptrs.data());
    const int err = errno;
    // Report like a shell does: 127 when there is no such command, 126 when it cannot run.
    if (strchr(plan.argv_ptrs[0], '/') == nullptr && !exists_in_path(plan.argv_ptrs[0])) {
        dprintf(STDERR_FILENO, "whatif: %s: command not found\n", plan.argv_ptrs[0]);
        _exit(127);
    }
    dprintf(STDERR_FILENO, "whatif: %s: %s\n", plan.argv_ptrs[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

}  // namespace

[[noreturn]] void run_init(const ChildPlan& plan) {
    ChildError err;
    // If the supervisor dies, so does the whole sandbox: pid 1 going takes the
    // namespace's other processes with it, and the mount namespace follows.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        err.syscall_failed("prctl", "PR_SET_PDEATHSIG");
        die_with_setup_error(plan, err);
    }
    char go = 0;
    if (read(plan.sync_fd, &go, 1) != 1) _exit(1);  // supervisor gone, or id maps failed
    close(plan.sync_fd);

    if (!mnt::build_root(plan, err)) die_with_setup_error(plan, err);
    if (!net::bring_loopback_up(err)) die_with_setup_error(plan, err);
    if (chdir(plan.cwd.c_str()) != 0) {
        err.syscall_failed("chdir", plan.cwd.c_str());
        die_with_setup_error(plan, err);
    }

    const pid_t command = fork();
    if (command < 0) {
        err.syscall_failed("fork", "command");
        die_with_setup_error(plan, err);
    }
    if (command == 0) exec_command(plan);
    close(plan.stdout_fd);
    close(plan.stderr_fd);

    // Signals stay blocked (inherited from the supervisor); we take them one by one.
    sigset_t waited;
    sigemptyset(&waited);
    for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH})
        sigaddset(&waited, sig);
    for (;;) {
        siginfo_t info{};
        const int sig = sigwaitinfo(&waited, &info);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            // A terminal's signals already reached the command's process group; only
            // signals sent by a process (the supervisor forwarding them) are passed on.
            if (info.si_code == SI_USER || info.si_code == SI_QUEUE) kill(command, sig);
            continue;
        }
        int status = 0;
        pid_t pid = 0;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != command) continue;  // an orphan, reaped
            // The command is done: end everything it left running, so that the
            // upper layers are final once the supervisor hears from us. (Our own
            // exit would do it too, but only after the kernel has torn down the
            // mount namespace, which the supervisor need not wait for.)
            kill(-1, SIGKILL);
            while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
            }
            char frame[1 + sizeof(int)];
            frame[0] = kStatusExited;
            memcpy(frame + 1, &status, sizeof(int));
            write_all(plan.status_fd, frame, sizeof frame);
            _exit(0);
        }
    }
}

}  // namespace whatif::sandbox::init
