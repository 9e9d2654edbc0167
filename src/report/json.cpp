#include "whatif/report/json.hpp"

namespace whatif::report {

std::string render_json(const effects::EffectSet& set) {
    return effects::to_json(set).dump(2) + "\n";
}

}  // namespace whatif::report
