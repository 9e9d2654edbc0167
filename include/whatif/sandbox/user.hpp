#pragma once

#include <sys/types.h>

#include <string>
#include <utility>

#include "whatif/util/error.hpp"

namespace whatif::sandbox::user {

// From the supervisor: map the caller's uid and gid to themselves inside the child's
// user namespace (root: every id the caller's own namespace maps, to itself).
Status write_id_maps(pid_t child);

// Root's maps for a user namespace of its own child: every id this process's
// namespace maps, to itself ("0 0 4294967295" on a host). uid_map, then gid_map.
std::pair<std::string, std::string> identity_maps();

// Why user namespaces may be unavailable here, naming the setting that fixes it;
// empty when nothing looks wrong.
// clone_errno: what clone(CLONE_NEWUSER|...) failed with, when it did (ENOSPC: a
// limit reached; EPERM with no setting to blame: a seccomp filter, as in Docker).
std::string userns_diagnosis(int clone_errno = 0);

}  // namespace whatif::sandbox::user
