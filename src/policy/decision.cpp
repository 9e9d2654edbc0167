#include "whatif/policy/decision.hpp"

#include "whatif/util/strings.hpp"

namespace whatif::policy {

using effects::Verdict;

effects::Decision decide(const effects::EffectSet& set) {
    effects::Decision d;
    d.verdict = Verdict::allow;
    // Leaks first: a secret on its way out is never allowed.
    for (const auto& s : set.secrets) {
        if (s.value("kind", "") != "leak") continue;
        effects::Reason r;
        r.rule = "secret-leak";
        r.verdict = Verdict::deny;
        const std::string what = s["name"].is_string() ? s["name"].get<std::string>() : s.value("path", "a secret");
        r.message = what + " " + s.value("access", "sent") + " to " + s.value("destination", "?");
        d.reasons.push_back(std::move(r));
        d.verdict = Verdict::deny;
    }
    size_t contacts = 0, files_read = 0;
    for (const auto& n : set.network)
        if (n.value("kind", "") != "dns" && n.value("proto", "") != "unix" && n.value("outcome", "") != "allowed")
            ++contacts;
    for (const auto& s : set.secrets)
        if (s.value("kind", "") == "file" && s.value("access", "") == "read") ++files_read;
    if (contacts > 0) {
        effects::Reason r;
        r.rule = "network";
        r.verdict = Verdict::ask;
        r.message = "the command reaches for the network (" + util::plural(contacts, "attempt", "attempts") + ")";
        d.reasons.push_back(std::move(r));
        if (d.verdict == Verdict::allow) d.verdict = Verdict::ask;
    }
    if (files_read > 0) {
        effects::Reason r;
        r.rule = "secret-read";
        r.verdict = Verdict::ask;
        r.message = "the command reads credentials (" + util::plural(files_read, "file", "files") + ")";
        d.reasons.push_back(std::move(r));
        if (d.verdict == Verdict::allow) d.verdict = Verdict::ask;
    }
    if (set.files.empty()) return d;
    const auto t = effects::compute_totals(set);
    std::string summary;
    auto add = [&](uint64_t n, const char* what) {
        if (n == 0) return;
        if (!summary.empty()) summary += ", ";
        summary += util::with_thousands(n) + " " + what;
    };
    add(t.deleted, "deleted");
    add(t.replaced, "replaced");
    add(t.modified, "modified");
    add(t.metadata, "metadata");
    add(t.created, "created");
    effects::Reason reason;
    reason.rule = "review-changes";
    reason.verdict = Verdict::ask;
    reason.message = "the command changes the filesystem (" + summary + ")";
    for (const auto& f : set.files) {
        if (reason.paths.size() >= 10) break;
        reason.paths.push_back(f.path);
    }
    if (d.verdict == Verdict::allow) d.verdict = Verdict::ask;
    d.reasons.push_back(std::move(reason));
    return d;
}

ExitCode exit_code_for(Verdict verdict) {
    switch (verdict) {
        case Verdict::allow: return ExitCode::allow;
        case Verdict::ask: return ExitCode::ask;
        case Verdict::deny: return ExitCode::deny;
    }
    return ExitCode::ask;
}

}  // namespace whatif::policy
