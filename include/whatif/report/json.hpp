#pragma once

#include <string>

#include "whatif/effects/effect_set.hpp"
#include "whatif/util/error.hpp"
#include "whatif/util/fs.hpp"

namespace whatif::report {

// The effect set as JSON (schema whatif/effects/v1), newline-terminated. For
// large sets prefer write_json_file, which never holds the whole text.
std::string render_json(const effects::EffectSet& set);
// Written piece by piece to a temporary file, then renamed over `path`.
Status write_json_file(const effects::EffectSet& set, const std::string& path,
                       unsigned mode = 0600);

}  // namespace whatif::report
