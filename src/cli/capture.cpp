#include "whatif/cli/capture.hpp"

#include <cstdio>

namespace whatif::cli {

namespace {

std::string seconds_text(int64_t ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

}  // namespace

void record_sandbox_gaps(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    if (outcome.timed_out)
        set.run.add_gap({"timeout",
                         "the dry run timed out after " + seconds_text(outcome.duration_ms) +
                             " and was killed: what the command would do after that is unknown",
                         {},
                         {}});
    if (!outcome.mounts_not_overlaid.empty())
        set.run.add_gap({"unsupported-mount",
                         "a mount could not be overlaid and was read-only in the dry run, so "
                         "writes there failed that would not fail for real (see the warnings)",
                         {},
                         {}});
}

void record_store_full(const std::string& store_root, effects::EffectSet& set) {
    set.run.add_gap({"store-full",
                     "the run store filled up, so the command's writes failed in the dry run "
                     "that would not fail for real",
                     {store_root},
                     {}});
}

}  // namespace whatif::cli
