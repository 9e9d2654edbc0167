#include "whatif/report/markdown.hpp"

#include <algorithm>

#include "whatif/effects/databases.hpp"
#include "whatif/effects/vcs.hpp"
#include "whatif/report/text.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::report {

namespace {

// Markdown table cells and code spans must not be broken by the data.
std::string cell(const std::string& text) {
    std::string out;
    for (char c : util::printable(util::to_valid_utf8(text))) {
        if (c == '|')
            out += "\\|";
        else if (c == '`')
            out += "'";
        else
            out += c;
    }
    return out;
}

}  // namespace

std::string render_markdown(const effects::EffectSet& set,
                            const std::vector<effects::DiffSnippet>& snippets) {
    const auto& d = set.decision;
    std::string verdict(to_string(d.verdict));
    std::transform(verdict.begin(), verdict.end(), verdict.begin(), ::toupper);
    const char* icon = d.verdict == effects::Verdict::allow ? "✅"
                       : d.verdict == effects::Verdict::ask ? "⚠️"
                                                            : "⛔";
    // The command's own status and the time it took, in the heading: a deploy script
    // that failed in the dry run must not read as a plain success.
    std::string out =
        "### " + std::string(icon) + " whatif: " + verdict + " — `" +
        cell(util::join_argv_for_display(set.run.argv)) + "` (" + status_text(set.run) + ", " +
        util::human_duration_ms(static_cast<uint64_t>(std::max<int64_t>(set.run.duration_ms, 0))) +
        ")\n\n";
    for (const auto& r : d.reasons)
        out += "- **" + std::string(to_string(r.verdict)) + "** " + cell(r.message) + " _(rule " +
               r.rule + ")_\n";
    if (!d.reasons.empty()) out += "\n";
    // What matters most, before the counts: secrets on their way out, history
    // rewritten, tables dropped.
    size_t leaks = 0;
    for (const auto& s : set.secrets) {
        if (!s.is_object() || s.value("kind", "") != "leak") continue;
        ++leaks;
        const std::string what = s.value("name", nlohmann::json()).is_string()
                                     ? effects::field(s, "name").get<std::string>()
                                 : s.value("path", nlohmann::json()).is_string()
                                     ? effects::field(s, "path").get<std::string>()
                                     : std::string("a secret");
        const std::string where = s.value("destination", nlohmann::json()).is_string()
                                      ? effects::field(s, "destination").get<std::string>()
                                      : std::string("?");
        out += "- 🔑 **leak**: `" + cell(what) + "` " + s.value("access", "sent") + " to `" +
               cell(where) + "`\n";
    }
    for (const auto& v : set.vcs)
        if (v.is_object()) out += "- **git**: " + cell(effects::describe_vcs(v)) + "\n";
    for (const auto& db : set.databases)
        if (db.is_object()) out += "- **database**: " + cell(effects::describe_database(db)) + "\n";
    if (leaks > 0 || !set.vcs.empty() || !set.databases.empty()) out += "\n";
    const auto t = effects::compute_totals(set);
    out += "| effects | count |\n|---|---:|\n";
    const std::pair<const char*, uint64_t> rows[] = {
        {"deleted", t.deleted},   {"replaced", t.replaced},       {"modified", t.modified},
        {"metadata", t.metadata}, {"created", t.created},         {"processes", t.processes},
        {"network", t.network},   {"secrets touched", t.secrets}, {"leaks", leaks}};
    for (const auto& [name, n] : rows)
        out += "| " + std::string(name) + " | " + util::with_thousands(n) + " |\n";
    out +=
        "\n<details><summary>files (" + util::with_thousands(set.files.size()) + ")</summary>\n\n";
    size_t shown = 0;
    for (const auto& f : set.files) {
        if (f.ignored) continue;
        if (shown++ == 200) {
            out += "- … and " + util::with_thousands(set.files.size() - 200) + " more\n";
            break;
        }
        out += "- " + std::string(to_string(f.change)) + " `" +
               cell(util::shell_quote_for_display(f.path)) + "`\n";
    }
    out += "\n</details>\n";
    if (!set.network.empty()) {
        out += "\n<details><summary>network (" + util::with_thousands(set.network.size()) +
               ")</summary>\n\n";
        for (const auto& n : set.network) {
            std::string where = effects::field(n, "host").is_string()
                                    ? effects::field(n, "host").get<std::string>()
                                : effects::field(n, "path").is_string()
                                    ? effects::field(n, "path").get<std::string>()
                                    : n.value("address", "");
            if (effects::field(n, "port").is_number())
                where += ":" + std::to_string(effects::field(n, "port").get<int>());
            out += "- " + n.value("kind", "") + " `" + cell(where) + "`";
            if (effects::field(n, "protocol").is_string())
                out += " " + effects::field(n, "protocol").get<std::string>();
            if (effects::field(n, "detail").is_string())
                out += ": " + cell(effects::field(n, "detail").get<std::string>());
            out += " (" + n.value("outcome", "") + ")\n";
        }
        out += "\n</details>\n";
    }
    if (!snippets.empty()) {
        out += "\n<details><summary>diffs (" + util::with_thousands(snippets.size()) +
               ")</summary>\n\n";
        for (const auto& sn : snippets) {
            // A fence longer than any run of backticks in the diff.
            std::string fence = "```";
            while (sn.diff.find(fence) != std::string::npos) fence += "`";
            out += fence + "diff\n" + util::to_valid_utf8(sn.diff);
            if (!sn.diff.ends_with("\n")) out += "\n";
            if (sn.cut) out += "… (cut; `whatif diff " + set.run.id + "` shows it all)\n";
            out += fence + "\n";
        }
        out += "\n</details>\n";
    }
    out += "\nrun `" + set.run.id + "` · profile `" + set.run.profile + "` · `whatif show " +
           set.run.id + "`\n";
    return out;
}

}  // namespace whatif::report
