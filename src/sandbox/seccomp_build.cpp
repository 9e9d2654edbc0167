// build_filter: the filter, compiled with libseccomp. Also linked into
// tools/seccomp_gen.cpp, which runs it at build time (seccomp.hpp: why).
#include "whatif/sandbox/seccomp.hpp"

#include <errno.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "whatif/util/unique_fd.hpp"

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

Result<std::vector<sock_filter>> build_filter() {
    Ctx f{seccomp_init(SCMP_ACT_ALLOW)};
    if (f.ctx == nullptr) return fail("seccomp_init failed");
    // Any ABI but the native one: denied (int 0x80, the x32 bit).
    if (seccomp_attr_set(f.ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM)) != 0)
        return fail("seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH) failed");
    std::string failed;
    auto add = [&](uint32_t action, const char* name, unsigned count = 0, scmp_arg_cmp cmp = {}) {
        const int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) return true;  // not on this architecture
        const int rc = count == 0 ? seccomp_rule_add(f.ctx, action, nr, 0)
                                  : seccomp_rule_add(f.ctx, action, nr, 1, cmp);
        if (rc != 0 && failed.empty()) failed = name;
        return rc == 0;
    };
    for (const char* name : kDenied) add(SCMP_ACT_ERRNO(EPERM), name);
    add(SCMP_ACT_ERRNO(ENOSYS), "clone3");
    for (unsigned long flag : kNamespaceFlags)
        add(SCMP_ACT_ERRNO(EPERM), "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    // Terminal injection: matched on the low 32 bits, so the high-bits variant
    // (CVE-2019-10063) is caught too.
    for (unsigned long request :
         {static_cast<unsigned long>(TIOCSTI), static_cast<unsigned long>(TIOCLINUX)})
        add(SCMP_ACT_ERRNO(EPERM), "ioctl", 1, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xFFFFFFFFUL, request));
    for (const char* name : {"execve", "execveat", "connect"}) add(SCMP_ACT_NOTIFY, name);
    // Datagrams sent to an address (UDP without connect); a stream's send() has no
    // address and is never notified.
    add(SCMP_ACT_NOTIFY, "sendto", 1, SCMP_A4(SCMP_CMP_NE, 0));
    // Signals, to see those aimed outside the sandbox (kill -9 -1, a host pid),
    // which inside reach nothing or only the sandbox's own processes. The probe
    // signal 0 (kill -0, "is it alive?") is not notified. pidfd_send_signal needs
    // none: a pidfd only ever names a process the sandbox can see.
    add(SCMP_ACT_NOTIFY, "kill", 1, SCMP_A1(SCMP_CMP_NE, 0));
    add(SCMP_ACT_NOTIFY, "tkill", 1, SCMP_A1(SCMP_CMP_NE, 0));
    add(SCMP_ACT_NOTIFY, "rt_sigqueueinfo", 1, SCMP_A1(SCMP_CMP_NE, 0));
    add(SCMP_ACT_NOTIFY, "tgkill", 1, SCMP_A2(SCMP_CMP_NE, 0));
    add(SCMP_ACT_NOTIFY, "rt_tgsigqueueinfo", 1, SCMP_A2(SCMP_CMP_NE, 0));
    if (!failed.empty()) return fail("seccomp_rule_add(" + failed + ") failed");

    // libseccomp 2.5 exports to a file descriptor only.
    UniqueFd memfd(memfd_create("whatif-seccomp", MFD_CLOEXEC));
    if (!memfd) return fail_errno("memfd_create");
    if (seccomp_export_bpf(f.ctx, memfd.get()) != 0) return fail("seccomp_export_bpf failed");
    const off_t size = lseek(memfd.get(), 0, SEEK_END);
    if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0)
        return fail("seccomp_export_bpf wrote no whole program");
    std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
    if (pread(memfd.get(), program.data(), static_cast<size_t>(size), 0) != size)
        return fail_errno("read the seccomp program");
    return program;
}

}  // namespace whatif::sandbox::seccomp
