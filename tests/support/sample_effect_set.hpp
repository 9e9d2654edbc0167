// One rich effect set, made by hand: every kind of file effect, processes, network,
// secrets, git and database findings and a decision. The golden tests render it;
// the profile fuzzer decides on it.
#pragma once

#include "whatif/effects/effect_set.hpp"

namespace whatif::test {

effects::EffectSet sample_effect_set();

}  // namespace whatif::test
