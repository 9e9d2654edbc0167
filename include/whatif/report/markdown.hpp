#pragma once

#include <string>

#include "whatif/effects/content_diff.hpp"
#include "whatif/effects/effect_set.hpp"

namespace whatif::report {

// For CI job summaries and pull-request comments: a verdict line and the reasons,
// leaks, git and database changes, a table of effects by kind, then collapsible
// details: files, network, and short diffs of changed text files (made by the
// caller, which can read the run's upper layer: effects::diff_snippets).
std::string render_markdown(const effects::EffectSet& set,
                            const std::vector<effects::DiffSnippet>& snippets = {});

}  // namespace whatif::report
