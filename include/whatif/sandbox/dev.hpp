#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::dev {

// In the child: a minimal /dev on a tmpfs: null, zero, full, random, urandom, tty
// bound from the host, a new devpts instance, /dev/shm, and the usual symlinks.
bool build_dev(const ChildPlan& plan, ChildError& err);

}  // namespace whatif::sandbox::dev
