#pragma once

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::caps {

// In the command's process, before exec (libcap, step by step as minijail does):
// drop the bounding set while CAP_SETPCAP is still held, clear the ambient set,
// set what remains, lock the securebits. A root caller keeps what a real root run
// needs to behave the same (chown, dac_override, fowner, setuid, ...); anyone else
// keeps nothing.
bool drop_capabilities(bool caller_is_root, ChildError& err);

}  // namespace whatif::sandbox::caps
