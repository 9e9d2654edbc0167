#include "whatif/policy/decision.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "whatif/policy/analysis.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::policy {

using effects::Verdict;

namespace {

int severity(Verdict v) {
    return v == Verdict::deny ? 2 : v == Verdict::ask ? 1 : 0;
}

template <typename T>
bool contains(const std::vector<T>& list, const T& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

bool path_matches(const Rule& r, const std::string& path, const std::string& cwd,
                  const std::string& home) {
    return std::any_of(r.paths.begin(), r.paths.end(), [&](const std::string& g) {
        return glob_match(expand_glob(g, cwd, home), path);
    });
}

// paths_hit: for a grouped finding, whether some member's path matched the rule's
// globs (decided member by member, since a group may have millions).
bool matches(const Rule& r, const Finding& f, const std::string& cwd, const std::string& home,
             const bool* paths_hit = nullptr) {
    if (r.analysis != f.analysis) return false;
    if (!r.paths.empty()) {
        const bool any = paths_hit != nullptr
                             ? *paths_hit
                             : std::any_of(f.paths.begin(), f.paths.end(), [&](const auto& p) {
                                   return path_matches(r, p, cwd, home);
                               });
        if (!any) return false;
    }
    if (!r.changes.empty() && !contains(r.changes, f.change)) return false;
    if (!r.hosts.empty() && std::none_of(r.hosts.begin(), r.hosts.end(), [&](const auto& g) {
            return fnmatch(g.c_str(), f.host.c_str(), 0) == 0;
        }))
        return false;
    if (!r.ports.empty() && !contains(r.ports, f.port)) return false;
    if (!r.protocols.empty() && !contains(r.protocols, f.protocol)) return false;
    if (!r.methods.empty() && !contains(r.methods, f.method)) return false;
    if (!r.outcomes.empty() && !contains(r.outcomes, f.outcome)) return false;
    if (!r.argv.empty() && std::none_of(r.argv.begin(), r.argv.end(), [&](const auto& g) {
            return fnmatch(g.c_str(), f.argv.c_str(), 0) == 0;
        }))
        return false;
    if (!r.secret_kinds.empty() && !contains(r.secret_kinds, f.secret_kind)) return false;
    if (r.detail && !std::regex_search(f.detail, *r.detail)) return false;
    return f.count >= r.min_count && f.bytes >= r.min_bytes;
}

std::string fill(std::string text, const Finding& f, uint64_t count, uint64_t bytes) {
    const std::string host = f.port > 0 ? f.host + ":" + std::to_string(f.port) : f.host;
    const std::pair<const char*, std::string> values[] = {
        {"{count}", util::with_thousands(count)},
        {"{bytes}", util::human_bytes(bytes)},
        {"{path}",
         f.paths.empty() ? std::string() : util::shell_quote_for_display(f.paths.front())},
        {"{host}", host},
        {"{detail}", f.detail},
        {"{argv}", f.argv},
        {"{name}",
         f.argv.empty() ? (f.paths.empty() ? std::string("a secret") : f.paths.front()) : f.argv}};
    for (const auto& [key, value] : values)
        for (size_t at = text.find(key); at != std::string::npos;
             at = text.find(key, at + value.size()))
            text.replace(at, std::string_view(key).size(), value);
    // "... {host} {detail}" with no detail.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
}

// An allow rule about places in general (/tmp/**) never covers the project or
// the home directory, even when they happen to live in such a place.
bool allow_covers(const Rule& rule, const std::string& path, const std::string& cwd,
                  const std::string& home) {
    const bool personal = std::any_of(
        rule.paths.begin(), rule.paths.end(),
        [](const std::string& g) { return g.starts_with("$CWD") || g.starts_with("~"); });
    if (rule.paths.empty() || personal) return true;
    const bool in_cwd = util::path_is_within(path, cwd);
    const bool in_home = !home.empty() && util::path_is_within(path, home);
    return !in_cwd && !in_home;
}

// What an ask or deny rule has found so far.
struct RuleHits {
    std::optional<Finding> first;
    uint64_t count = 0, bytes = 0;
    std::vector<std::string> paths;    // the first few, for the reason
    std::vector<std::string> details;  // the first few distinct ones
    uint64_t more_details = 0;         // distinct or not, beyond those
};

// One finding of a grouping analysis, built member by member. A mass deletion is
// matched by its root (paths = {root}); outside-cwd and system-path by any member.
struct Group {
    Finding finding;
    bool match_member_paths = false;
    std::vector<bool> paths_hit;  // per rule, when match_member_paths
    std::vector<const Rule*> allowed_by;

    Group() = default;
    Group(std::string analysis, bool by_members) : match_member_paths(by_members) {
        finding.analysis = std::move(analysis);
        finding.count = 0;
    }
};

class Evaluator {
  public:
    Evaluator(const Profile& profile, std::string cwd, std::string home)
        : profile_(profile),
          cwd_(std::move(cwd)),
          home_(std::move(home)),
          hits_(profile.rules.size()) {}

    // A finding that stands alone (per effect, network, process, secret). Returns
    // whether an allow rule covers `covered_path` (empty: the finding's own).
    bool add(const Finding& f, const std::string& covered_path = {}) {
        bool covered = false;
        for (size_t r = 0; r < profile_.rules.size(); ++r) {
            const Rule& rule = profile_.rules[r];
            if (!matches(rule, f, cwd_, home_)) continue;
            if (rule.verdict == Verdict::allow) {
                const std::string& path =
                    !covered_path.empty() ? covered_path : (f.paths.empty() ? "" : f.paths[0]);
                if (path.empty() || allow_covers(rule, path, cwd_, home_)) covered = true;
                for (size_t i : f.network) net_covered_.insert(i);
                continue;
            }
            hit(r, f, f.count, f.bytes);
        }
        return covered;
    }

    // A member of a grouped finding: counts, bytes, and which rules' globs it meets.
    void add_member(Group& g, const std::string& path, uint64_t bytes) {
        ++g.finding.count;
        g.finding.bytes += bytes;
        if (!g.match_member_paths) return;
        if (g.paths_hit.empty()) g.paths_hit.assign(profile_.rules.size(), false);
        if (g.finding.paths.size() < 10) g.finding.paths.push_back(path);
        for (size_t r = 0; r < profile_.rules.size(); ++r) {
            const Rule& rule = profile_.rules[r];
            if (rule.analysis == g.finding.analysis && !g.paths_hit[r] && !rule.paths.empty() &&
                path_matches(rule, path, cwd_, home_))
                g.paths_hit[r] = true;
        }
    }

    void finish_group(Group& g) {
        if (g.paths_hit.empty()) g.paths_hit.assign(profile_.rules.size(), false);
        for (size_t r = 0; r < profile_.rules.size(); ++r) {
            const Rule& rule = profile_.rules[r];
            const bool hit_paths = g.paths_hit[r];
            if (!matches(rule, g.finding, cwd_, home_, g.match_member_paths ? &hit_paths : nullptr))
                continue;
            if (rule.verdict == Verdict::allow)
                g.allowed_by.push_back(&rule);
            else
                hit(r, g.finding, g.finding.count, g.finding.bytes);
        }
    }

    bool net_covered(size_t i) const { return net_covered_.contains(i); }
    bool covered_by(const Group& g, const std::string& path) const {
        return std::any_of(g.allowed_by.begin(), g.allowed_by.end(),
                           [&](const Rule* r) { return allow_covers(*r, path, cwd_, home_); });
    }

    // The reasons, in rule order.
    std::vector<effects::Reason> reasons() const {
        std::vector<effects::Reason> out;
        for (size_t r = 0; r < profile_.rules.size(); ++r) {
            const RuleHits& h = hits_[r];
            if (!h.first) continue;
            const Rule& rule = profile_.rules[r];
            effects::Reason reason;
            reason.rule = rule.name;
            reason.verdict = rule.verdict;
            reason.message = fill(rule.message, *h.first, h.count, h.bytes);
            // "git: moves branch main ...; deletes branch work": other findings'
            // details, when the message is about details.
            if (rule.message.find("{detail}") != std::string::npos) {
                for (size_t i = 1; i < h.details.size(); ++i) reason.message += "; " + h.details[i];
                if (h.more_details > 0)
                    reason.message += "; and " + util::with_thousands(h.more_details) + " more";
            }
            reason.paths = h.paths;
            out.push_back(std::move(reason));
        }
        return out;
    }

  private:
    void hit(size_t r, const Finding& f, uint64_t count, uint64_t bytes) {
        RuleHits& h = hits_[r];
        if (!h.first) h.first = f;
        h.count += count;
        h.bytes += bytes;
        if (!f.detail.empty() && !contains(h.details, f.detail)) {
            if (h.details.size() < 3)
                h.details.push_back(f.detail);
            else
                ++h.more_details;
        }
        for (const auto& p : f.paths)
            if (h.paths.size() < 10 && !contains(h.paths, p)) h.paths.push_back(p);
    }

    const Profile& profile_;
    std::string cwd_, home_;
    std::vector<RuleHits> hits_;
    std::set<size_t> net_covered_;
};

}  // namespace

effects::Decision decide(effects::EffectSet& set, const Profile& profile, const std::string& home) {
    const std::string& cwd = set.run.cwd;
    Evaluator eval(profile, cwd, home);

    // Pass 1: per-effect findings as they come; grouped findings member by member.
    std::vector<bool> covered(set.files.size(), false);
    Grouping grouping(cwd, home);
    std::map<std::string, Group> mass;  // by deleted tree root
    Group outside("outside-cwd", true), system("system-path", true);
    for (auto it = set.files.begin(); it != set.files.end(); ++it) {
        const effects::FileEffect& f = *it;
        const size_t i = it.index();
        bool ignored = false;
        for (const auto& g : profile.ignore)
            if (glob_match(expand_glob(g, cwd, home), f.path)) ignored = true;
        set.files.set_ignored(i, ignored);
        if (ignored) continue;
        findings_of_effect(f, home, [&](const Finding& finding) {
            if (eval.add(finding)) covered[i] = true;
        });
        const auto [added, removed] = effects::bytes_added_removed(f);
        if (auto key = grouping.mass_delete_key(f)) {
            auto [g, fresh] = mass.try_emplace(*key, "mass-delete", false);
            if (fresh) {
                g->second.finding.change = "deleted";
                g->second.finding.paths = {*key};
            }
            eval.add_member(g->second, f.path, removed);
        }
        if (grouping.outside_cwd(f)) eval.add_member(outside, f.path, added + removed);
        if (Grouping::system_path(f)) eval.add_member(system, f.path, 0);
    }
    for (auto& [key, g] : mass) eval.finish_group(g);
    if (outside.finding.count > 0) eval.finish_group(outside);
    if (system.finding.count > 0) eval.finish_group(system);
    const std::vector<Finding> others = other_findings(set);
    // A signal sent outside is an effect like a file's: unmatched unless allowed.
    size_t signals_uncovered = 0;
    for (const auto& f : others)
        if (!eval.add(f) && f.analysis == "signal") ++signals_uncovered;

    // Pass 2: what no allow rule covers gets the profile's verdict for the unmatched.
    size_t uncovered = 0;
    std::vector<std::string> examples;
    Grouping regrouping(cwd, home);
    for (auto it = set.files.begin(); it != set.files.end(); ++it) {
        const effects::FileEffect& f = *it;
        const size_t i = it.index();
        if (set.files.ignored(i)) continue;
        bool is_covered = covered[i];
        if (auto key = regrouping.mass_delete_key(f); key && !is_covered)
            is_covered = eval.covered_by(mass.at(*key), f.path);
        if (!is_covered && regrouping.outside_cwd(f)) is_covered = eval.covered_by(outside, f.path);
        if (!is_covered && Grouping::system_path(f)) is_covered = eval.covered_by(system, f.path);
        if (is_covered) continue;
        ++uncovered;
        if (examples.size() < 10) examples.push_back(f.path);
    }
    for (size_t i = 0; i < set.network.size(); ++i) {
        const auto& n = set.network[i];
        if (!is_network_effect(n) || eval.net_covered(i)) continue;
        ++uncovered;
    }
    uncovered += signals_uncovered;

    effects::Decision d;
    d.verdict = Verdict::allow;
    d.reasons = eval.reasons();
    for (const auto& r : d.reasons)
        if (severity(r.verdict) > severity(d.verdict)) d.verdict = r.verdict;
    if (uncovered > 0 && profile.unmatched != Verdict::allow) {
        effects::Reason reason;
        reason.rule = "unmatched";
        reason.verdict = profile.unmatched;
        reason.message = util::plural(uncovered, "effect", "effects") +
                         " that no rule of profile '" + profile.name + "' allows";
        reason.paths = examples;
        if (severity(profile.unmatched) > severity(d.verdict)) d.verdict = profile.unmatched;
        d.reasons.push_back(std::move(reason));
    }
    std::stable_sort(d.reasons.begin(), d.reasons.end(), [](const auto& a, const auto& b) {
        return severity(a.verdict) > severity(b.verdict) ||
               (severity(a.verdict) == severity(b.verdict) && a.rule != "unmatched" &&
                b.rule == "unmatched");
    });
    // Whatever the profile says: what was captured is not what the command would
    // do, so never an allow. First, since each gap qualifies every other reason.
    std::vector<effects::Reason> gaps;
    for (const auto& gap : set.run.capture)
        gaps.push_back({"incomplete-capture", Verdict::ask, gap.message, gap.paths});
    d.reasons.insert(d.reasons.begin(), gaps.begin(), gaps.end());
    if (!gaps.empty() && d.verdict == Verdict::allow) d.verdict = Verdict::ask;
    return d;
}

ExitCode exit_code_for(Verdict verdict) {
    switch (verdict) {
        case Verdict::allow:
            return ExitCode::allow;
        case Verdict::ask:
            return ExitCode::ask;
        case Verdict::deny:
            return ExitCode::deny;
    }
    return ExitCode::ask;
}

}  // namespace whatif::policy
