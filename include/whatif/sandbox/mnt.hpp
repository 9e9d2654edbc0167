#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::mnt {

// In the child: make every mount private, assemble the new root (overlays, read-only
// binds, /proc, /sys, /dev, the store hidden) and pivot_root into it.
bool build_root(const ChildPlan& plan, ChildError& err);

}  // namespace whatif::sandbox::mnt
