// Risk analyses: what the captured effects mean, computed from them (never from
// the command line, except the process log, which is what ran). Each produces
// findings that rules match.
//
//   file                one per file effect (not ignored)
//   mass-delete         one per deleted tree or directory of deletions: count, bytes
//   outside-cwd         file effects outside the working directory (and /tmp)
//   system-path         file effects under /etc, /usr, /boot, /var/lib, /bin, /sbin, /lib, /opt
//   persistence         shell start-up files, git hooks, cron, systemd and autostart units,
//   authorized_keys permission-widening world-writable files or directories, setuid/setgid gained
//   vcs                 git refs created, moved, deleted (loose refs and packed-refs)
//   database            SQLite and other database files changed or deleted
//   network             one per network attempt (not DNS, not the sandbox's own loopback)
//   destructive-intent  DROP/TRUNCATE/DELETE/ALTER queries, FLUSHALL/FLUSHDB, HTTP DELETE
//   process             one per program the command ran
//   secret              one per secrets[] entry
#pragma once

#include <string>
#include <vector>

#include "whatif/effects/effect_set.hpp"

namespace whatif::policy {

struct Finding {
    std::string analysis;
    std::vector<std::string> paths;
    std::string change;  // for file findings
    std::string host, protocol, method, detail, argv, secret_kind;
    int port = 0;
    uint64_t count = 1, bytes = 0;
    std::vector<size_t> files;    // indexes in EffectSet::files it covers
    std::vector<size_t> network;  // indexes in EffectSet::network it covers
};

std::vector<Finding> analyze(const effects::EffectSet& set, const std::string& home,
                             const std::vector<bool>& ignored);

}  // namespace whatif::policy
