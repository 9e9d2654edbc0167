// Finding canaries where they should not be: in what the command sent over the
// stub network (raw bytes, HTTP Basic credentials decoded, DNS names) and in the
// files it wrote.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "whatif/creds/canary.hpp"

namespace whatif::creds {

// The canaries that appear in `bytes` (each once).
std::vector<const Canary*> canaries_in(std::string_view bytes, const std::vector<Canary>& canaries);

}  // namespace whatif::creds
