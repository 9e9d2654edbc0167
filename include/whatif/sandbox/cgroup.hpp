#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "whatif/util/error.hpp"

namespace whatif::sandbox::cgroup {

// Processes (and threads) a sandbox may have at once: RLIMIT_NPROC, and pids.max.
constexpr unsigned kMaxProcesses = 1024;

// A pids cgroup for one sandbox, for root callers. RLIMIT_NPROC bounds an ordinary
// caller's sandbox (counted per user namespace), but the kernel exempts uid 0 of
// the initial namespace from it, so a root caller's fork bomb needs a cgroup.
// cgroup v2 (/sys/fs/cgroup/whatif/RUN) or the v1 pids hierarchy
// (/sys/fs/cgroup/pids/whatif/RUN). Removed when the object goes, if empty by then;
// leftovers of runs that ended badly are swept by the next one.
class PidsLimit {
  public:
    // nullopt with the reason in `why` when this machine offers no writable pids
    // controller (not root, a container's read-only cgroupfs, no pids controller).
    static std::optional<PidsLimit> create(const std::string& run_id, unsigned max_pids,
                                           std::string& why);
    PidsLimit(PidsLimit&& other) noexcept : dir_(std::move(other.dir_)) { other.dir_.clear(); }
    PidsLimit& operator=(PidsLimit&&) = delete;
    ~PidsLimit();

    // Moves `pid` (and so everything it starts) into the cgroup.
    Status add(pid_t pid) const;
    const std::string& dir() const { return dir_; }

  private:
    explicit PidsLimit(std::string dir) : dir_(std::move(dir)) {}
    std::string dir_;
};

}  // namespace whatif::sandbox::cgroup
