// deny_userns COMMAND [ARG...]: runs COMMAND under a seccomp filter that refuses
// new user namespaces (clone and unshare with CLONE_NEWUSER: EPERM; clone3: ENOSYS,
// so that libc falls back to clone), as some container runtimes' filters do. The
// integration tests check that whatif then says why, in one message.
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: deny_userns COMMAND [ARG...]\n");
        return 2;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == nullptr) return 125;
    const scmp_datum_t flag = CLONE_NEWUSER;
    const bool built = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) == 0 &&
                       seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) == 0 &&
                       seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
    if (!built || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || seccomp_load(ctx) != 0) {
        fprintf(stderr, "deny_userns: the filter could not be loaded\n");
        return 125;
    }
    seccomp_release(ctx);
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
