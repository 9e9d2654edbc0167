#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "whatif/util/error.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::sandbox::cgroup {

// Processes (and threads) a sandbox may have at once: RLIMIT_NPROC, and pids.max.
constexpr unsigned kMaxProcesses = 1024;

// A pids cgroup for one sandbox, for root callers. RLIMIT_NPROC bounds an ordinary
// caller's sandbox (counted per user namespace), but the kernel exempts uid 0 of
// the initial namespace from it, so a root caller's fork bomb needs a cgroup.
// cgroup v2 (/sys/fs/cgroup/whatif/RUN) or the v1 pids hierarchy
// (/sys/fs/cgroup/pids/whatif/RUN). Removed when the object goes, if empty by then,
// else marked as ended; the next run sweeps those and the leftovers of runs that
// ended badly.
//
// Joining costs differ. Moving a process by pid (cgroup.procs) takes the kernel's
// global threadgroup lock, which waits for an RCU grace period: 0.1 to 30 ms
// measured. A thread moving itself through v1's `tasks` file ("0") skips that
// lock, so on v1 the sandbox's init joins itself, single-threaded, with
// self_join_fd(); on v2 the supervisor adds init by pid while init mounts.
class PidsLimit {
  public:
    // nullopt with the reason in `why` when this machine offers no writable pids
    // controller (not root, a container's read-only cgroupfs, no pids controller).
    static std::optional<PidsLimit> create(const std::string& run_id, unsigned max_pids,
                                           std::string& why);
    PidsLimit(PidsLimit&& other) noexcept
        : dir_(std::move(other.dir_)), self_join_(std::move(other.self_join_)) {
        other.dir_.clear();
    }
    PidsLimit& operator=(PidsLimit&&) = delete;
    ~PidsLimit();

    // Moves `pid` (and so everything it starts) into the cgroup.
    Status add(pid_t pid) const;
    // v1: the cgroup's `tasks` file, open for writing; a single-threaded process
    // that writes "0" to it moves itself. -1 on v2.
    int self_join_fd() const { return self_join_.get(); }
    const std::string& dir() const { return dir_; }

  private:
    explicit PidsLimit(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;
    UniqueFd self_join_;
};

}  // namespace whatif::sandbox::cgroup
