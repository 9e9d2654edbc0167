// New namespaces from inside: unshare, clone with namespace flags, clone3, setns;
// the classic escape is unshare(CLONE_NEWUSER|CLONE_NEWNS) then unmounting an
// overlay to reach the host beneath it.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include "probe.hpp"

int main() {
    long rc = unshare(CLONE_NEWUSER | CLONE_NEWNS);
    expect_blocked("unshare(CLONE_NEWUSER|CLONE_NEWNS)", rc);
    if (rc == 0) expect_blocked("then umount2(/, MNT_DETACH)", umount2("/", MNT_DETACH));
    expect_blocked("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
    expect_blocked("clone(CLONE_NEWUSER)",
                   syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    expect_blocked("clone(CLONE_NEWNS|CLONE_NEWPID)",
                   syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, nullptr, nullptr,
                           nullptr, nullptr));
    rc = syscall(SYS_clone3, nullptr, 0);
    expect_blocked("clone3", rc);
    if (rc == -1 && errno != ENOSYS) {
        std::printf("ESCAPED: clone3 should fail with ENOSYS so that libc falls back to clone\n");
        g_escaped = 1;
    }
    const int fd = open("/proc/1/ns/mnt", O_RDONLY);
    expect_blocked("setns(init's mount namespace)", fd < 0 ? -1 : setns(fd, 0));
    return g_escaped;
}
