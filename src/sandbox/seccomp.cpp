#include "whatif/sandbox/seccomp.hpp"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>

namespace whatif::sandbox::seccomp {

namespace {

constexpr const char* kDenied[] = {
    // mounts, old and new API
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "open_tree", "move_mount", "mount_setattr",
    // namespaces
    "setns", "unshare",
    // kernel keyrings, BPF, perf, userfaultfd, io_uring
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register",
    // other processes' memory
    "ptrace", "process_vm_readv", "process_vm_writev",
    // the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "open_by_handle_at", "syslog", "quotactl", "vhangup"};

constexpr unsigned long kNamespaceFlags[] = {CLONE_NEWNS,     CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER,   CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWCGROUP, 0x00000080 /* NEWTIME */};

struct Ctx {
    scmp_filter_ctx ctx;
    ~Ctx() { seccomp_release(ctx); }
};

}  // namespace

int install_filter(ChildError& err) {
    Ctx f{seccomp_init(SCMP_ACT_ALLOW)};
    if (f.ctx == nullptr) {
        err.message("seccomp_init failed");
        return -1;
    }
    // Any ABI but the native one: denied (int 0x80, the x32 bit).
    if (seccomp_attr_set(f.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM)) != 0) {
        err.message("seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH) failed");
        return -1;
    }
    auto add = [&](uint32_t action, const char* name, unsigned count = 0, scmp_arg_cmp cmp = {}) {
        const int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) return true;  // not on this architecture
        const int rc = count == 0 ? seccomp_rule_add(f.ctx, action, nr, 0)
                                  : seccomp_rule_add(f.ctx, action, nr, 1, cmp);
        if (rc != 0) {
            err.message(name);
            return false;
        }
        return true;
    };
    for (const char* name : kDenied)
        if (!add(SCMP_ACT_ERRNO(EPERM), name)) return -1;
    if (!add(SCMP_ACT_ERRNO(ENOSYS), "clone3")) return -1;
    for (unsigned long flag : kNamespaceFlags)
        if (!add(SCMP_ACT_ERRNO(EPERM), "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)))
            return -1;
    // Terminal injection: matched on the low 32 bits, so the high-bits variant
    // (CVE-2019-10063) is caught too.
    for (unsigned long request :
         {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)})
        if (!add(SCMP_ACT_ERRNO(EPERM), "ioctl", 1,
                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFUL, request)))
            return -1;
    for (const char* name : {"execve", "execveat", "connect"})
        if (!add(SCMP_ACT_NOTIFY, name)) return -1;
    // Datagrams sent to an address (UDP without connect); a stream's send() has no
    // address and is never notified.
    if (!add(SCMP_ACT_NOTIFY, "sendto", 1, SCMP_A4(SCMP_CMP_NE, 0))) return -1;
    if (seccomp_load(f.ctx) != 0) {
        err.syscall_failed("seccomp_load", "filter");
        return -1;
    }
    const int fd = seccomp_notify_fd(f.ctx);
    if (fd < 0) err.message("seccomp_notify_fd failed");
    return fd;
}

}  // namespace whatif::sandbox::seccomp
