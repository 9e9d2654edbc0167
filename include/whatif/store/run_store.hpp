// The run store: one directory per dry run, under $WHATIF_HOME, else
// $XDG_STATE_HOME/whatif, else ~/.local/state/whatif.
//
//   runs/<id>/meta.json      what was run, when, and the run's state
//   runs/<id>/lock           flock'ed by the whatif process that owns the run
//   runs/<id>/upper/<n>/     overlay upper layer of host mount n (see meta.json)
//   runs/<id>/effects.json   the effect set, once the scan finished
//   runs/<id>/stdout.log, stderr.log   the command's output
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/effects/effect_set.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/util/error.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::store {

enum class RunState { running, complete, failed, incomplete };
std::string_view to_string(RunState s);

struct RunMeta {
    std::string id;
    std::vector<std::string> argv;
    std::string cwd;
    std::string started_at;  // RFC 3339, UTC
    int64_t started_unix_ns = 0;
    RunState state = RunState::running;
    std::string error;       // when failed
    std::string verdict;     // when complete
    std::string applied_at;  // RFC 3339, once `apply` finished
    // The kinds of the effect set's capture gaps (effect_set.hpp), when complete:
    // `whatif list` says timed-out or partial without reading the effect set.
    std::vector<std::string> capture_gaps;
    std::vector<sandbox::Layer> layers;  // upper_dir relative to the run directory
};

// A run being made: its directory exists and its lock is held until destruction.
struct ActiveRun {
    std::string id;
    std::string dir;
    UniqueFd lock;
};

// What `whatif list` shows: applied, timed-out, partial (the dry run ended but
// could not see everything), or the state itself.
std::string listed_state(const RunMeta& meta);

struct RunListing {
    RunMeta meta;  // state is `incomplete` when the owning whatif died mid-run
    std::string dir;
};

// "20261123T205731-3f9c": UTC time, then 4 random hex digits.
bool is_valid_run_id(std::string_view id);

class RunStore {
  public:
    // Creates the store directory (mode 0700) if needed.
    static Result<RunStore> open_default();
    static Result<RunStore> open_at(const std::string& root);

    const std::string& root() const { return root_; }
    std::string run_dir(const std::string& id) const;

    Result<ActiveRun> create_run();
    // "last", or a full id: the run's id. Bad syntax or no such run: bad input.
    Result<std::string> resolve(std::string_view ref) const;
    Result<std::vector<RunListing>> list() const;
    Result<RunMeta> load(const std::string& id) const;
    // The run's lock, held until the fd closes: one whatif at a time works on a run
    // (apply, explore), and a concurrent discard or gc cannot remove it half-way.
    // Bad input when there is no such run or another whatif holds it.
    Result<UniqueFd> lock_run(const std::string& id) const;
    Status discard(const std::string& id);
    // Removes finished or abandoned runs that started before now - older_than.
    Result<std::vector<std::string>> gc(std::chrono::milliseconds older_than);

  private:
    explicit RunStore(std::string root) : root_(std::move(root)) {}
    std::string root_;
};

// A finished run, ready for show, diff, apply and exec.
struct LoadedRun {
    RunMeta meta;
    std::string dir;
    effects::EffectSet set;
};
Result<LoadedRun> load_complete_run(const RunStore& store, const std::string& ref);
// The upper-layer entry holding the new version of host `path`.
std::string upper_path_for(const LoadedRun& run, const std::string& path);

// Room for runs' own records: a file of `bytes` in the store, made when missing
// (normally a stat per run), and given up by a run whose command filled the
// store's filesystem, so that the report saying so can still be written.
Status reserve_room(const std::string& store_root, size_t bytes = 1 << 20);
void release_room(const std::string& store_root);
// The filesystem holding `dir` has no room left worth the name (under 64 kB, or
// no free inodes): what the command wrote there hit ENOSPC.
bool filesystem_full(const std::string& dir);

Status save_meta(const std::string& run_dir, const RunMeta& meta);
Result<RunMeta> load_meta(const std::string& run_dir);
// True while a whatif process holds the run's lock.
bool run_is_locked(const std::string& run_dir);

}  // namespace whatif::store
