#pragma once

#include <functional>

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::mnt {

// In the child: make every mount private, assemble the new root (overlays, read-only
// binds, /proc, /sys, /dev, the store hidden) and pivot_root into it.
// enter_network is called just before sysfs is mounted: sysfs shows the network
// namespace of whoever mounts it.
bool build_root(const ChildPlan& plan, ChildError& err,
                const std::function<bool(ChildError&)>& enter_network);

}  // namespace whatif::sandbox::mnt
