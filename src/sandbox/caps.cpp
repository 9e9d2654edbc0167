#include "whatif/sandbox/caps.hpp"

#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include <array>
#include <cstdio>

namespace whatif::sandbox::caps {

namespace {

// What a root run needs to behave as it would for real (Docker's default set,
// less NET_RAW, SYS_CHROOT and SETPCAP). Everything else (sys_admin, sys_module,
// sys_rawio, sys_boot, sys_time, sys_ptrace, mac_*, syslog, bpf, perfmon,
// net_admin, ...) is dropped.
constexpr std::array<cap_value_t, 10> kRootKeeps = {
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,           CAP_FSETID,
    CAP_KILL,  CAP_SETGID,       CAP_SETUID,          CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE};

bool kept(cap_value_t c, bool root) {
    if (!root) return false;
    for (cap_value_t k : kRootKeeps)
        if (k == c) return true;
    return false;
}

}  // namespace

bool kept_for_root(cap_value_t c) {
    return kept(c, true);
}

Result<CapabilitySet> CapabilitySet::holding(std::span<const cap_value_t> kept, bool root) {
    cap_t set = cap_init();
    if (set == nullptr) return fail_errno("cap_init");
    const int n = static_cast<int>(kept.size());
    for (cap_flag_t flag : {CAP_PERMITTED, CAP_EFFECTIVE})
        if (n > 0 && cap_set_flag(set, flag, n, kept.data(), CAP_SET) != 0) {
            cap_free(set);
            return fail_errno("cap_set_flag");
        }
    return CapabilitySet(set, root);
}

Result<CapabilitySet> CapabilitySet::for_caller(bool caller_is_root) {
    return holding(
        caller_is_root ? std::span<const cap_value_t>(kRootKeeps) : std::span<const cap_value_t>(),
        caller_is_root);
}

Result<CapabilitySet> CapabilitySet::for_init() {
    static constexpr std::array<cap_value_t, 4> kInitKeeps = {
        CAP_KILL, CAP_SYS_PTRACE, CAP_NET_BIND_SERVICE, CAP_DAC_OVERRIDE};
    return holding(kInitKeeps, false);
}

bool keep_only(const CapabilitySet& keep, ChildError& err) {
    if (cap_set_proc(keep.get()) == 0) return true;
    err.syscall_failed("cap_set_proc", "init");
    return false;
}

CapabilitySet::~CapabilitySet() {
    if (set_ != nullptr) cap_free(set_);
}

bool drop_capabilities(const CapabilitySet& keep, ChildError& err) {
    const bool root = keep.caller_is_root();
    char name[16];
    // 1. The bounding set, while CAP_SETPCAP is still ours.
    for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
        if (kept(c, root)) continue;
        if (cap_drop_bound(c) != 0 && errno != EINVAL) {
            snprintf(name, sizeof name, "%d", c);
            err.syscall_failed("cap_drop_bound", name);
            return false;
        }
    }
    // 2. No ambient capabilities survive exec. (One prctl: libcap's cap_reset_ambient
    // first asks about each capability in turn, 41 calls.)
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
        err.syscall_failed("prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
        return false;
    }
    // 3. Lock the securebits. For anyone but root, uid 0 is given no special powers
    // by exec (a setuid-root binary gains nothing) and the caps cannot come back.
    unsigned bits = SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT_LOCKED |
                    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (!root) bits |= SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP;
    if (cap_set_secbits(bits) != 0) {
        err.syscall_failed("cap_set_secbits", "locked");
        return false;
    }
    // 4. The sets themselves: the kept capabilities (root) or none.
    if (cap_set_proc(keep.get()) != 0) {
        err.syscall_failed("cap_set_proc", root ? "root set" : "empty");
        return false;
    }
    return true;
}

}  // namespace whatif::sandbox::caps
