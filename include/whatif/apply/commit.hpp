// `whatif apply`: commit a run's captured filesystem effects to the host, exactly,
// all or nothing against conflicts, resumable after a crash.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "whatif/store/run_store.hpp"
#include "whatif/util/error.hpp"

namespace whatif::apply {

struct ApplyOptions {
    std::vector<std::string> only, exclude;
    std::optional<std::vector<size_t>>
        selection;                 // from an interactive edit; overrides only/exclude
    bool force = false;            // apply despite conflicts
    bool keep_privileges = false;  // keep setuid/setgid bits
};

struct ApplyOutcome {
    size_t effects_applied = 0;
    size_t privileges_stripped = 0;
    bool resumed = false;
    std::vector<std::string> notes;
};

// Conflicts are an error with ExitCode::deny and every conflict in the message.
Result<ApplyOutcome> commit(const store::LoadedRun& run, const ApplyOptions& options);

// After an interrupted apply: what was applied, exactly; the run is then closed.
Result<std::vector<std::string>> abort_apply(const store::LoadedRun& run);

// For the report: the host entries an apply would now conflict with.
std::vector<std::string> find_conflicts(const store::LoadedRun& run,
                                        const std::vector<size_t>& selected);

}  // namespace whatif::apply
