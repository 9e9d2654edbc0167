#pragma once

#include <sys/capability.h>

#include <span>

#include "whatif/sandbox/child_plan.hpp"
#include "whatif/util/error.hpp"

namespace whatif::sandbox::caps {

// What the command keeps, made before the sandbox exists (libcap allocates; the
// command's process must not): a root caller keeps what a real root run needs to
// behave the same (chown, dac_override, fowner, setuid, ...); anyone else nothing.
class CapabilitySet {
  public:
    static Result<CapabilitySet> for_caller(bool caller_is_root);
    // What init keeps once the command runs (keep_only): kill (to end the
    // sandbox's processes, whatever their uid), sys_ptrace (to read the memory and
    // /proc links of a process it is notified about), net_bind_service (stub sinks
    // on low ports) and dac_override (to check what a process execs wherever that
    // is). Nothing that mounts, enters namespaces or opens files by handle: for a
    // root caller, init's user namespace is the host's.
    static Result<CapabilitySet> for_init();
    CapabilitySet(CapabilitySet&& other) noexcept : set_(other.set_), root_(other.root_) {
        other.set_ = nullptr;
    }
    CapabilitySet& operator=(CapabilitySet&&) = delete;
    ~CapabilitySet();
    cap_t get() const { return set_; }
    bool caller_is_root() const { return root_; }

  private:
    CapabilitySet(cap_t set, bool root) : set_(set), root_(root) {}
    // Exactly `kept`, permitted and effective.
    static Result<CapabilitySet> holding(std::span<const cap_value_t> kept, bool root);
    cap_t set_ = nullptr;
    bool root_ = false;
};

// In the command's process, before exec (libcap, step by step as minijail does):
// drop the bounding set while CAP_SETPCAP is still held, clear the ambient set,
// lock the securebits, set what remains. System calls only: no allocation.
bool drop_capabilities(const CapabilitySet& keep, ChildError& err);

// Whether a root caller's command keeps capability `c` in the sandbox (what a
// file-capability program asks for beyond these it lacks in the dry run).
bool kept_for_root(cap_value_t c);

// In init, which never execs: its capability sets become `keep`. No allocation.
bool keep_only(const CapabilitySet& keep, ChildError& err);

}  // namespace whatif::sandbox::caps
