// whatif profiles, whatif profiles show NAME, whatif check [RUN] -p PROFILE.
#include <cstdio>

#include "whatif/cli/commands.hpp"
#include "whatif/effects/content_diff.hpp"
#include "whatif/policy/decision.hpp"
#include "whatif/policy/profile.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/markdown.hpp"
#include "whatif/report/text.hpp"
#include "whatif/store/run_store.hpp"

namespace whatif::cli {

int profiles_command(const std::string& show_name) {
    if (!show_name.empty()) {
        auto profile = policy::load_profile(show_name);
        if (!profile) return report_error(profile.error());
        std::printf("# %s (%s)\n%s", profile->name.c_str(), profile->source.c_str(),
                    profile->text.c_str());
        return 0;
    }
    for (const auto& [name, description] : policy::list_profiles())
        std::printf("%-10s  %s\n", name.c_str(), description.c_str());
    return 0;
}

int check_command(const CheckCommandOptions& options) {
    auto profile = policy::load_profile(options.profile);
    if (!profile) return report_error(profile.error());
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto run = store::load_complete_run(*store, options.run);
    if (!run) return report_error(run.error());
    effects::EffectSet& set = run->set;
    const char* home = std::getenv("HOME");
    set.run.profile = profile->name;
    set.decision = policy::decide(set, *profile, home != nullptr ? home : "");
    if (options.format == ReportFormat::json) {
        effects::write_json(set, [](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
        });
    } else {
        const std::string out =
            options.format == ReportFormat::markdown
                ? report::render_markdown(
                      set, effects::diff_snippets(
                               set.files,
                               [&](const std::string& p) { return store::upper_path_for(*run, p); },
                               effects::paths_holding_decoy_content(set)))
                : report::render_text(set, {.color = report::stdout_wants_color()});
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return static_cast<int>(policy::exit_code_for(set.decision.verdict));
}

}  // namespace whatif::cli
