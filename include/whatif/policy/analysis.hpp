// Risk analyses: what the captured effects mean, computed from them (never from
// the command line, except the process log, which is what ran). Each produces
// findings that rules match.
//
//   file                one per file effect (not ignored)
//   mass-delete         one per deleted tree or directory of deletions: count, bytes
//   outside-cwd         file effects outside the working directory (and /tmp)
//   system-path         file effects under /etc, /usr, /boot, /var/lib, /bin, /sbin, /lib, /opt
//   persistence         shell start-up files, git hooks, cron, systemd and autostart units,
//                       authorized_keys
//   permission-widening world-writable files or directories, setuid/setgid gained
//   vcs                 git refs created, moved, deleted; work lost from the work tree
//   database            SQLite and other database files changed or deleted
//   network             one per network attempt (not DNS, not a connection to a server the
//                       command itself runs in the sandbox); real ones (--net host) included
//   destructive-intent  DROP/TRUNCATE/DELETE/ALTER queries, FLUSHALL/FLUSHDB, HTTP DELETE
//   process             one per program the command ran
//   secret              one per secrets[] entry
//   command-failed      the command failed (exit status, signal); change "after-stub" when
//                       a stubbed network answer or credential, or a write the sandbox
//                       refused, came before (the real run may not fail there), else "failed"
//   signal              one per signals[] entry: a signal sent outside the sandbox
//
// File effects can be millions: the per-file analyses look at one effect at a
// time, and the grouping ones (mass-delete, outside-cwd, system-path) say which
// group an effect belongs to, so that the decision can aggregate as it streams.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "whatif/effects/effect_set.hpp"

namespace whatif::policy {

struct Finding {
    std::string analysis;
    std::vector<std::string> paths;  // for grouped findings: the first few members
    std::string change;              // for file findings
    std::string host, protocol, method, detail, argv, secret_kind;
    std::string outcome;  // network findings: stubbed | blocked | allowed (real traffic)
    int port = 0;
    uint64_t count = 1, bytes = 0;
    std::vector<size_t> network;  // indexes in EffectSet::network it covers
};

// The findings about one file effect alone: file, persistence, permission-widening,
// database, and vcs for ref files.
void findings_of_effect(const effects::FileEffect& e, const std::string& home,
                        const std::function<void(const Finding&)>& out);

// Which group of a grouping analysis an effect belongs to. mass-delete needs to
// see deleted directories before what was beneath them (scan order, or path order).
class Grouping {
  public:
    Grouping(std::string cwd, std::string home) : cwd_(std::move(cwd)), home_(std::move(home)) {}
    // The deleted tree's root, or the directory of a single deleted entry.
    std::optional<std::string> mass_delete_key(const effects::FileEffect& e);
    bool outside_cwd(const effects::FileEffect& e) const;
    static bool system_path(const effects::FileEffect& e);

  private:
    std::string cwd_, home_;
    std::map<std::string, std::string> deleted_dir_roots_;  // deleted dir -> its tree's root
};

// Whether a network[] entry is an effect (a finding of analysis network): not a
// name lookup, not the C library's name-service socket, not the sandbox's own
// loopback traffic to a server the command runs itself.
bool is_network_effect(const nlohmann::json& entry);

// Findings of the rest of the effect set: vcs and database summaries, network
// attempts and destructive intent, processes, secrets.
std::vector<Finding> other_findings(const effects::EffectSet& set);

}  // namespace whatif::policy
