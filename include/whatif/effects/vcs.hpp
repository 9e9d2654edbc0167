// What a run did to git repositories, read from its captured effects (the host's
// .git against the upper layer's), never from the command line:
//
//   {"repo": "/p", "kind": "repository", "change": "deleted|created"}
//   {"repo": "/p", "kind": "ref", "ref": "refs/heads/main", "change": "created|deleted|moved",
//    "before": "<sha>", "after": "<sha>", "fast_forward": true|false|null,
//    "commits_lost": 3|null}                     (no longer reachable from any ref)
//   {"repo": "/p", "kind": "head", "before": "refs/heads/work", "after": "refs/heads/main"}
//   {"repo": "/p", "kind": "work-tree", "change": "uncommitted-discarded|uncommitted-deleted|
//    untracked-deleted|ignored-deleted", "count": 12, "paths": ["src/a.c", ...]}
//
// Refs are read by whatif (loose refs and packed-refs, on the host and in the upper
// layer); the history questions (fast-forward, commits lost) and the state of the
// work tree before the run (tracked, uncommitted, ignored) are asked of the host's
// git with read-only plumbing (GIT_OPTIONAL_LOCKS=0), the run's new objects added
// as an alternate object directory. Without git those fields are null.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "whatif/effects/file_effects.hpp"
#include "whatif/effects/scanner.hpp"

namespace whatif::effects {

nlohmann::json summarize_git(const FileEffects& files, const std::vector<ScanLayer>& layers);

// One vcs[] entry in words: "moves branch main from 043fd3b to 8105b49, not a
// fast-forward; 2 commits no longer reachable from any ref".
std::string describe_vcs(const nlohmann::json& entry);

}  // namespace whatif::effects
