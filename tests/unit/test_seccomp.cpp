#include <doctest/doctest.h>
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "whatif/sandbox/seccomp.hpp"

using namespace whatif::sandbox;

TEST_CASE("the embedded seccomp program is the one libseccomp builds") {
    const auto embedded = seccomp::filter();
    REQUIRE(embedded.has_value());
    // Empty would mean the build could not compile it, and every run pays for it.
    REQUIRE(!embedded->empty());
    const auto built = seccomp::build_filter();
    REQUIRE(built.has_value());
    REQUIRE(built->size() == embedded->size());
    CHECK(std::memcmp(built->data(), embedded->data(), built->size() * sizeof(sock_filter)) == 0);
}

TEST_CASE("a process that loads the embedded program is denied namespaces and mounts") {
    const auto program = seccomp::filter();
    REQUIRE(program.has_value());
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // Bit per failed expectation; the filter stays in this child only.
        int failures = 0;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(100);
        ChildError err;
        const int notify_fd = seccomp::load_filter(*program, err);
        if (notify_fd < 0) _exit(101);
        if (!(syscall(SYS_unshare, CLONE_NEWUTS) == -1 && errno == EPERM)) failures |= 1;
        if (!(mount("none", "/", "tmpfs", 0, nullptr) == -1 && errno == EPERM)) failures |= 2;
        if (!(syscall(SYS_clone3, nullptr, 0) == -1 && errno == ENOSYS)) failures |= 4;
        if (!(syscall(SYS_setns, -1, 0) == -1 && errno == EPERM)) failures |= 8;
        if (getppid() <= 0) failures |= 16;  // everything else still allowed
        _exit(failures);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
