#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::init {

// The child's whole life, as pid 1 of the new pid namespace: wait for the id maps,
// build the root, start the command, forward signals, reap orphans, report the
// command's wait status. Never returns.
[[noreturn]] void run_init(const ChildPlan& plan);

}  // namespace whatif::sandbox::init
