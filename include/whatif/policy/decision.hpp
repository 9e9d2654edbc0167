// The decision: may this run for real? Until profiles and rules exist (issue 7)
// interim rules apply: a leaked secret denies; filesystem changes, network
// attempts and credential reads ask; a run with none of these is allowed.
#pragma once

#include "whatif/effects/effect_set.hpp"

namespace whatif::policy {

effects::Decision decide(const effects::EffectSet& set);

ExitCode exit_code_for(effects::Verdict verdict);

}  // namespace whatif::policy
