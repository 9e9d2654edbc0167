// The decision: may this run for real? The profile's rules over the risk analyses
// of the effect set give a verdict and the reasons for it, most severe first.
#pragma once

#include "whatif/effects/effect_set.hpp"
#include "whatif/policy/profile.hpp"

namespace whatif::policy {

// Marks ignored files in `set` and returns the decision.
effects::Decision decide(effects::EffectSet& set, const Profile& profile, const std::string& home);

ExitCode exit_code_for(effects::Verdict verdict);

}  // namespace whatif::policy
