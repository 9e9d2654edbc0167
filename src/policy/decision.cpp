#include "whatif/policy/decision.hpp"

#include <fnmatch.h>

#include <algorithm>

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

bool matches(const Rule& r, const Finding& f, const std::string& cwd, const std::string& home) {
    if (r.analysis != f.analysis) return false;
    if (!r.paths.empty()) {
        bool any = false;
        for (const auto& g : r.paths)
            for (const auto& p : f.paths) any = any || glob_match(expand_glob(g, cwd, home), p);
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
    if (!r.argv.empty() && std::none_of(r.argv.begin(), r.argv.end(), [&](const auto& g) {
            return fnmatch(g.c_str(), f.argv.c_str(), 0) == 0;
        }))
        return false;
    if (!r.secret_kinds.empty() && !contains(r.secret_kinds, f.secret_kind)) return false;
    if (r.detail && !std::regex_search(f.detail, *r.detail)) return false;
    return f.count >= r.min_count && f.bytes >= r.min_bytes;
}

std::string fill(std::string text, const std::vector<const Finding*>& found) {
    const Finding& f = *found.front();
    uint64_t count = 0, bytes = 0;
    for (const auto* x : found) {
        count += x->count;
        bytes += x->bytes;
    }
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
    return text;
}

}  // namespace

effects::Decision decide(effects::EffectSet& set, const Profile& profile, const std::string& home) {
    const std::string& cwd = set.run.cwd;
    std::vector<bool> ignored(set.files.size(), false);
    for (size_t i = 0; i < set.files.size(); ++i) {
        for (const auto& g : profile.ignore)
            if (glob_match(expand_glob(g, cwd, home), set.files[i].path)) ignored[i] = true;
        set.files[i].ignored = ignored[i];
    }
    const std::vector<Finding> findings = analyze(set, home, ignored);

    effects::Decision d;
    d.verdict = Verdict::allow;
    std::vector<bool> file_covered(set.files.size(), false), net_covered(set.network.size(), false);
    for (const Rule& rule : profile.rules) {
        std::vector<const Finding*> found;
        for (const auto& f : findings)
            if (matches(rule, f, cwd, home)) found.push_back(&f);
        if (found.empty()) continue;
        if (rule.verdict == Verdict::allow) {
            // A rule about places in general (/tmp/**) never covers the project or
            // the home directory, even when they happen to live in such a place.
            const bool personal = std::any_of(
                rule.paths.begin(), rule.paths.end(),
                [](const std::string& g) { return g.starts_with("$CWD") || g.starts_with("~"); });
            for (const auto* f : found) {
                for (size_t i : f->files) {
                    const std::string& path = set.files[i].path;
                    const bool in_cwd = util::path_is_within(path, cwd);
                    const bool in_home = !home.empty() && util::path_is_within(path, home);
                    if (!rule.paths.empty() && !personal && (in_cwd || in_home)) continue;
                    file_covered[i] = true;
                }
                for (size_t i : f->network) net_covered[i] = true;
            }
            continue;
        }
        effects::Reason reason;
        reason.rule = rule.name;
        reason.verdict = rule.verdict;
        reason.message = fill(rule.message, found);
        for (const auto* f : found)
            for (const auto& p : f->paths)
                if (reason.paths.size() < 10 && !contains(reason.paths, p))
                    reason.paths.push_back(p);
        if (severity(rule.verdict) > severity(d.verdict)) d.verdict = rule.verdict;
        d.reasons.push_back(std::move(reason));
    }
    // What no allow rule covers gets the profile's verdict for the unmatched.
    size_t uncovered = 0;
    std::vector<std::string> examples;
    for (size_t i = 0; i < set.files.size(); ++i)
        if (!ignored[i] && !file_covered[i]) {
            ++uncovered;
            if (examples.size() < 10) examples.push_back(set.files[i].path);
        }
    for (size_t i = 0; i < set.network.size(); ++i) {
        const auto& n = set.network[i];
        if (n.value("kind", "") == "dns" || n.value("outcome", "") == "allowed" ||
            n["protocol"] == "nss" || net_covered[i])
            continue;
        ++uncovered;
    }
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
