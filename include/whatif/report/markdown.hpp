#pragma once

#include <string>

#include "whatif/effects/effect_set.hpp"

namespace whatif::report {

// For CI job summaries and pull-request comments: a verdict line, a table of
// effects by kind, collapsible details.
std::string render_markdown(const effects::EffectSet& set);

}  // namespace whatif::report
