#pragma once

#include <string>

#include "whatif/effects/effect_set.hpp"

namespace whatif::report {

// The effect set as JSON (schema whatif/effects/v1), newline-terminated.
std::string render_json(const effects::EffectSet& set);

}  // namespace whatif::report
