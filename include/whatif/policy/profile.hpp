// Profiles: TOML files of rules (profiles/README.md documents every key). The
// shipped ones are compiled into the binary, so whatif works with no files
// installed; a profile can extend another.
#pragma once

#include <chrono>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "whatif/effects/effect_set.hpp"
#include "whatif/util/error.hpp"

namespace whatif::policy {

struct Rule {
    std::string name;
    std::string analysis;  // which findings it looks at (see analysis.hpp)
    effects::Verdict verdict = effects::Verdict::ask;
    std::string message;  // template: {count} {bytes} {path} {host} {detail} {argv} {name}
    // Matchers: each one given must hold.
    std::vector<std::string> paths;    // globs; "~" and "$CWD" expanded, "**" any depth
    std::vector<std::string> changes;  // created, modified, deleted, metadata, replaced
    std::vector<std::string> hosts;    // globs
    std::vector<int> ports;
    std::vector<std::string> protocols;
    std::vector<std::string> methods;       // HTTP methods
    std::vector<std::string> outcomes;      // network: stubbed, blocked, allowed (real traffic)
    std::vector<std::string> argv;          // globs over the joined argv ("git push --force*")
    std::vector<std::string> secret_kinds;  // leak, file, env
    std::optional<std::regex> detail;
    std::string detail_text;  // the regex as written
    uint64_t min_count = 0, min_bytes = 0;
};

struct Profile {
    std::string name;
    std::string description;
    std::string source;  // file path, or "embedded"
    std::string extends;
    std::chrono::milliseconds timeout{std::chrono::minutes(30)};
    // How long processes the command left running may go on after it exited: what
    // they do meanwhile is captured; those still running then are killed and make
    // the capture incomplete (run.capture: background-processes).
    std::chrono::milliseconds background_grace{std::chrono::seconds(3)};
    effects::Verdict unmatched = effects::Verdict::ask;  // for effects no allow rule covers
    std::vector<std::string> ignore;                     // path globs hidden from the text report
    std::vector<Rule> rules;                             // the parent's first, then its own
    std::string text;                                    // the TOML, as loaded
};

// NAME (searched in $WHATIF_PROFILES, ~/.config/whatif/profiles, the installed
// profiles, then the embedded ones) or FILE (a path, or ending in .toml).
// Errors: ExitCode::bad_input with "file:line:column: message".
Result<Profile> load_profile(const std::string& name_or_file);
Result<Profile> parse_profile(std::string_view text, const std::string& source);

// name and description of every profile that load_profile can find.
std::vector<std::pair<std::string, std::string>> list_profiles();

// "~/x" and "$CWD/x" made absolute.
std::string expand_glob(const std::string& glob, const std::string& cwd, const std::string& home);
// fnmatch-like with "**" spanning directories and "*" not.
bool glob_match(const std::string& glob, const std::string& path);

}  // namespace whatif::policy
