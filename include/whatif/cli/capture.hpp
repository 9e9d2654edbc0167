// What the dry run could not see, gathered in one place: run.capture of the effect
// set (effect_set.hpp: CaptureGap), which policy::decide reads first. Each source
// of doubt has one function here, so that the decision's inputs can be read in
// one file: the sandbox's outcome (a timeout, a mount it could not overlay, ...),
// the run store, what the command printed.
#pragma once

#include <string>

#include "whatif/effects/effect_set.hpp"
#include "whatif/sandbox/sandbox.hpp"

namespace whatif::cli {

// Gaps the sandbox itself reports: a timeout, mounts that could not be overlaid.
void record_sandbox_gaps(const sandbox::RunOutcome& outcome, effects::EffectSet& set);

// The run store's filesystem filled up during the run: the command's writes failed.
void record_store_full(const std::string& store_root, effects::EffectSet& set);

}  // namespace whatif::cli
