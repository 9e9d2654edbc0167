// The decision: may this run for real? Until profiles and rules exist (issue 7) one
// interim rule applies: an empty effect set is allowed, anything else asks.
#pragma once

#include "whatif/effects/effect_set.hpp"

namespace whatif::policy {

effects::Decision decide(const effects::EffectSet& set);

ExitCode exit_code_for(effects::Verdict verdict);

}  // namespace whatif::policy
