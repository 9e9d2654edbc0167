#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::net {

// In the child, inside its new network namespace: bring the loopback interface up.
bool bring_loopback_up(ChildError& err);

}  // namespace whatif::sandbox::net
