// The report a person reads in five seconds: decision and the biggest effects first,
// grouped by directory, long lists folded.
#pragma once

#include <string>

#include "whatif/effects/effect_set.hpp"

namespace whatif::report {

struct TextOptions {
    bool color = false;
    size_t max_lines_per_change = 6;  // then "and N more"
};

std::string render_text(const effects::EffectSet& set, const TextOptions& options);
// "exit 0", "exit 127", "killed by SIGKILL", "timed out, killed": every report says it.
std::string status_text(const effects::RunInfo& run);
// Colors when stdout is a terminal and NO_COLOR is unset (https://no-color.org).
bool stdout_wants_color();

}  // namespace whatif::report
