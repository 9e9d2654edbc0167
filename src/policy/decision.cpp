#include "whatif/policy/decision.hpp"

#include "whatif/util/strings.hpp"

namespace whatif::policy {

using effects::Verdict;

effects::Decision decide(const effects::EffectSet& set) {
    effects::Decision d;
    if (set.files.empty()) {
        d.verdict = Verdict::allow;
        return d;
    }
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
    d.verdict = Verdict::ask;
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
