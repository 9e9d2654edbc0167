#include "whatif/policy/profile.hpp"

#include <dirent.h>

#include <cstdlib>
#include <set>
#define TOML_EXCEPTIONS 1
#include "whatif/policy/toml.hpp"

#include "whatif/policy/embedded_profiles.hpp"
#include "whatif/util/duration.hpp"
#include "whatif/util/fs.hpp"

namespace whatif::policy {

namespace {

std::string where(const std::string& source, const toml::source_region& r) {
    return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

Error profile_error(const std::string& source, const toml::node& node, const std::string& message) {
    return Error::bad_input(where(source, node.source()) + ": " + message);
}

// Every key of `table` must be one of `allowed`: a typo is never silently ignored.
std::optional<Error> check_keys(const std::string& source, const toml::table& table,
                                std::initializer_list<std::string_view> allowed,
                                const std::string& context) {
    for (const auto& [key, node] : table) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Error::bad_input(where(source, key.source()) + ": unknown key '" +
                                std::string(key.str()) + "' in " + context +
                                " (known keys: " + list + ")");
    }
    return std::nullopt;
}

Result<std::string> get_string(const std::string& source, const toml::node& node,
                               const std::string& key) {
    if (auto v = node.value<std::string>()) return *v;
    return std::unexpected(profile_error(source, node, "'" + key + "' must be a string"));
}

Result<std::vector<std::string>> get_strings(const std::string& source, const toml::node& node,
                                             const std::string& key) {
    std::vector<std::string> out;
    if (auto s = node.value<std::string>()) return std::vector<std::string>{*s};
    const toml::array* arr = node.as_array();
    if (arr == nullptr)
        return std::unexpected(
            profile_error(source, node, "'" + key + "' must be a list of strings"));
    for (const auto& item : *arr) {
        auto s = item.value<std::string>();
        if (!s)
            return std::unexpected(
                profile_error(source, item, "'" + key + "' must be a list of strings"));
        out.push_back(*s);
    }
    return out;
}

Result<effects::Verdict> get_verdict(const std::string& source, const toml::node& node,
                                     const std::string& key) {
    auto s = get_string(source, node, key);
    if (!s) return std::unexpected(s.error());
    if (auto v = effects::verdict_from_string(*s)) return *v;
    return std::unexpected(
        profile_error(source, node, "'" + key + "' must be allow, ask or deny, not '" + *s + "'"));
}

const std::set<std::string> kAnalyses = {
    "file",        "mass-delete",         "outside-cwd", "system-path",
    "persistence", "permission-widening", "vcs",         "database",
    "network",     "destructive-intent",  "process",     "secret",
    "signal",      "command-failed"};

// The values a rule's `changes` can name, by analysis (vcs findings have their own).
const std::set<std::string>* changes_for(const std::string& analysis) {
    static const std::set<std::string> files = {"created", "modified", "deleted", "metadata",
                                                "replaced"};
    static const std::set<std::string> vcs = {"created", "moved",     "rewritten",
                                              "deleted", "discarded", "switched"};
    static const std::set<std::string> databases = {"created", "modified", "deleted", "replaced"};
    // analysis.cpp: command_failed_finding.
    static const std::set<std::string> command_failed = {"after-stub", "failed"};
    if (analysis == "command-failed") return &command_failed;
    if (analysis == "vcs") return &vcs;
    if (analysis == "database") return &databases;
    if (analysis == "file" || analysis == "mass-delete" || analysis == "persistence" ||
        analysis == "permission-widening")
        return &files;
    return nullptr;
}

// fnmatch patterns: a '[' must close.
std::optional<std::string> glob_problem(const std::string& glob) {
    for (size_t i = 0; i < glob.size(); ++i) {
        if (glob[i] == '\\') {
            ++i;
            continue;
        }
        if (glob[i] != '[') continue;
        size_t j = i + 1;
        if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
        if (j < glob.size() && glob[j] == ']') ++j;
        while (j < glob.size() && glob[j] != ']') ++j;
        if (j >= glob.size()) return "'[' at " + std::to_string(i + 1) + " is never closed";
        i = j;
    }
    return std::nullopt;
}

// Values a rule names that could never match are errors, not silent no-ops.
std::optional<Error> check_values(const std::string& source, const toml::table& t, const Rule& r) {
    auto node_of = [&](const char* key) -> const toml::node& { return *t.get(key); };
    if (!r.changes.empty()) {
        const auto* allowed = changes_for(r.analysis);
        if (allowed == nullptr)
            return profile_error(
                source, node_of("changes"),
                "rule '" + r.name + "': 'changes' does not apply to analysis '" + r.analysis + "'");
        for (const auto& c : r.changes)
            if (!allowed->contains(c)) {
                std::string list;
                for (const auto& a : *allowed) list += (list.empty() ? "" : ", ") + a;
                return profile_error(source, node_of("changes"),
                                     "rule '" + r.name + "': 'changes' holds '" + c +
                                         "'; for analysis '" + r.analysis + "' it can be " + list);
            }
    }
    static const std::set<std::string> outcomes = {"stubbed", "blocked", "allowed"};
    for (const auto& o : r.outcomes)
        if (!outcomes.contains(o))
            return profile_error(source, node_of("outcomes"),
                                 "rule '" + r.name + "': 'outcomes' holds '" + o +
                                     "'; it can be stubbed, blocked, allowed");
    static const std::set<std::string> secret_kinds = {"leak", "file", "env"};
    for (const auto& k : r.secret_kinds)
        if (!secret_kinds.contains(k))
            return profile_error(source, node_of("secret_kinds"),
                                 "rule '" + r.name + "': 'secret_kinds' holds '" + k +
                                     "'; it can be leak, file, env");
    for (const char* key : {"paths", "hosts", "argv"}) {
        const auto& globs = std::string(key) == "paths"   ? r.paths
                            : std::string(key) == "hosts" ? r.hosts
                                                          : r.argv;
        for (const auto& g : globs)
            if (auto problem = glob_problem(g))
                return profile_error(
                    source, node_of(key),
                    "'" + std::string(key) + "' holds an invalid glob '" + g + "': " + *problem);
    }
    return std::nullopt;
}

Result<Rule> parse_rule(const std::string& source, const toml::table& t, const toml::node& node) {
    if (auto e = check_keys(source, t,
                            {"name", "analysis", "verdict", "message", "paths", "changes", "hosts",
                             "ports", "protocols", "methods", "outcomes", "argv", "secret_kinds",
                             "detail", "min_count", "min_bytes"},
                            "[[rules]]"))
        return std::unexpected(*e);
    Rule r;
    for (const auto& [key_node, value] : t) {
        const std::string key(key_node.str());
        if (key == "name" || key == "analysis" || key == "message") {
            auto s = get_string(source, value, key);
            if (!s) return std::unexpected(s.error());
            (key == "name" ? r.name : key == "analysis" ? r.analysis : r.message) = *s;
        } else if (key == "verdict") {
            auto v = get_verdict(source, value, key);
            if (!v) return std::unexpected(v.error());
            r.verdict = *v;
        } else if (key == "detail") {
            auto s = get_string(source, value, key);
            if (!s) return std::unexpected(s.error());
            try {
                r.detail = std::regex(*s, std::regex::icase | std::regex::ECMAScript);
                r.detail_text = *s;
            } catch (const std::regex_error& e) {
                return std::unexpected(profile_error(
                    source, value, "'detail' is not a valid regex: " + std::string(e.what())));
            }
        } else if (key == "ports") {
            const toml::array* arr = value.as_array();
            if (arr == nullptr)
                return std::unexpected(
                    profile_error(source, value, "'ports' must be a list of integers"));
            for (const auto& p : *arr) {
                auto n = p.value<int64_t>();
                if (!n || *n < 0 || *n > 65535)
                    return std::unexpected(
                        profile_error(source, p, "'ports' must be a list of port numbers"));
                r.ports.push_back(static_cast<int>(*n));
            }
        } else if (key == "min_count" || key == "min_bytes") {
            auto n = value.value<int64_t>();
            if (!n || *n < 0)
                return std::unexpected(
                    profile_error(source, value, "'" + key + "' must be a non-negative integer"));
            (key == "min_count" ? r.min_count : r.min_bytes) = static_cast<uint64_t>(*n);
        } else {
            auto list = get_strings(source, value, key);
            if (!list) return std::unexpected(list.error());
            auto& target = key == "paths"       ? r.paths
                           : key == "changes"   ? r.changes
                           : key == "hosts"     ? r.hosts
                           : key == "protocols" ? r.protocols
                           : key == "methods"   ? r.methods
                           : key == "outcomes"  ? r.outcomes
                           : key == "argv"      ? r.argv
                                                : r.secret_kinds;
            target = *list;
            for (const auto& g : target)
                if (key == "paths" && g.empty())
                    return std::unexpected(
                        profile_error(source, value, "'paths' holds an empty glob"));
        }
    }
    if (r.name.empty())
        return std::unexpected(profile_error(source, node, "a rule needs a 'name'"));
    if (!kAnalyses.contains(r.analysis)) {
        std::string list;
        for (const auto& a : kAnalyses) list += (list.empty() ? "" : ", ") + a;
        return std::unexpected(profile_error(
            source, node, "rule '" + r.name + "': 'analysis' must be one of " + list));
    }
    if (r.message.empty()) r.message = r.name;
    if (auto e = check_values(source, t, r)) return std::unexpected(*e);
    return r;
}

std::vector<std::string> search_dirs() {
    std::vector<std::string> dirs;
    if (const char* env = std::getenv("WHATIF_PROFILES"); env != nullptr && *env != '\0')
        dirs.emplace_back(env);
    if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/')
        dirs.push_back(util::join_path(home, ".config/whatif/profiles"));
    dirs.emplace_back(WHATIF_PROFILES_INSTALL_DIR);
    return dirs;
}

Result<Profile> load(const std::string& name_or_file, int depth) {
    if (depth > 8)
        return bad_input("profile '" + name_or_file + "': 'extends' chain too long (a cycle?)");
    std::string text, source;
    const bool is_file =
        name_or_file.find('/') != std::string::npos || name_or_file.ends_with(".toml");
    if (is_file) {
        auto t = util::read_file(name_or_file);
        if (!t) return bad_input("profile file " + name_or_file + ": " + t.error().message);
        text = std::move(*t);
        source = name_or_file;
    } else {
        for (const auto& dir : search_dirs()) {
            const std::string path = util::join_path(dir, name_or_file + ".toml");
            if (auto t = util::read_file(path)) {
                text = std::move(*t);
                source = path;
                break;
            }
        }
        if (source.empty()) {
            for (const auto& e : kEmbeddedProfiles)
                if (e.name == name_or_file) {
                    text = std::string(e.text);
                    source = "embedded:" + std::string(e.name) + ".toml";
                }
        }
        if (source.empty()) {
            std::string known;
            for (const auto& [n, d] : list_profiles()) known += (known.empty() ? "" : ", ") + n;
            return bad_input("unknown profile '" + name_or_file + "' (known: " + known + ")");
        }
    }
    auto profile = parse_profile(text, source);
    if (!profile) return profile;
    if (!profile->extends.empty()) {
        auto parent = load(profile->extends, depth + 1);
        if (!parent) {
            return bad_input(source + ": profile extends '" + profile->extends +
                             "': " + parent.error().message);
        }
        Profile merged = std::move(*parent);
        merged.name = profile->name;
        merged.description = profile->description;
        merged.source = profile->source;
        merged.extends = profile->extends;
        merged.text = profile->text;
        if (profile->timeout != std::chrono::milliseconds(-1)) merged.timeout = profile->timeout;
        if (profile->background_grace != std::chrono::milliseconds(-1))
            merged.background_grace = profile->background_grace;
        if (static_cast<int>(profile->unmatched) != -1) merged.unmatched = profile->unmatched;
        merged.ignore.insert(merged.ignore.end(), profile->ignore.begin(), profile->ignore.end());
        merged.rules.insert(merged.rules.end(), profile->rules.begin(), profile->rules.end());
        return merged;
    }
    if (profile->timeout == std::chrono::milliseconds(-1))
        profile->timeout = std::chrono::minutes(30);
    if (profile->background_grace == std::chrono::milliseconds(-1))
        profile->background_grace = std::chrono::seconds(3);
    if (static_cast<int>(profile->unmatched) == -1) profile->unmatched = effects::Verdict::ask;
    return profile;
}

}  // namespace

Result<Profile> parse_profile(std::string_view text, const std::string& source) {
    toml::table doc;
    try {
        doc = toml::parse(text, source);
    } catch (const toml::parse_error& e) {
        return bad_input(source + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " +
                         std::string(e.description()));
    }
    if (auto e = check_keys(source, doc,
                            {"name", "description", "extends", "timeout", "background_grace",
                             "unmatched", "ignore", "rules"},
                            "the profile"))
        return std::unexpected(*e);
    Profile p;
    p.source = source;
    p.text = std::string(text);
    p.timeout = std::chrono::milliseconds(-1);  // unset: inherited or the default
    p.background_grace = std::chrono::milliseconds(-1);
    p.unmatched = static_cast<effects::Verdict>(-1);  // unset
    for (const auto& [key_node, value] : doc) {
        const std::string key(key_node.str());
        if (key == "name" || key == "description" || key == "extends") {
            auto s = get_string(source, value, key);
            if (!s) return std::unexpected(s.error());
            (key == "name" ? p.name : key == "description" ? p.description : p.extends) = *s;
        } else if (key == "timeout" || key == "background_grace") {
            auto s = get_string(source, value, key);
            if (!s) return std::unexpected(s.error());
            auto d = util::parse_duration(*s);
            if (!d) return std::unexpected(profile_error(source, value, d.error().message));
            (key == "timeout" ? p.timeout : p.background_grace) = *d;
        } else if (key == "unmatched") {
            auto v = get_verdict(source, value, key);
            if (!v) return std::unexpected(v.error());
            p.unmatched = *v;
        } else if (key == "ignore") {
            auto list = get_strings(source, value, key);
            if (!list) return std::unexpected(list.error());
            p.ignore = *list;
        } else if (key == "rules") {
            const toml::array* arr = value.as_array();
            if (arr == nullptr)
                return std::unexpected(
                    profile_error(source, value, "'rules' must be an array of tables ([[rules]])"));
            for (const auto& item : *arr) {
                const toml::table* t = item.as_table();
                if (t == nullptr)
                    return std::unexpected(
                        profile_error(source, item, "each rule must be a table"));
                auto rule = parse_rule(source, *t, item);
                if (!rule) return std::unexpected(rule.error());
                p.rules.push_back(std::move(*rule));
            }
        }
    }
    if (p.name.empty()) return bad_input(source + ":1:1: the profile needs a 'name'");
    return p;
}

Result<Profile> load_profile(const std::string& name_or_file) {
    return load(name_or_file, 0);
}

std::vector<std::pair<std::string, std::string>> list_profiles() {
    std::vector<std::pair<std::string, std::string>> out;
    std::set<std::string> seen;
    auto add = [&](const std::string& name, std::string_view text, const std::string& source) {
        if (!seen.insert(name).second) return;
        auto p = parse_profile(text, source);
        out.emplace_back(name, p ? p->description : "(invalid: " + p.error().message + ")");
    };
    for (const auto& dir : search_dirs()) {
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) continue;
        while (dirent* e = readdir(d)) {
            const std::string file = e->d_name;
            if (!file.ends_with(".toml")) continue;
            if (auto t = util::read_file(util::join_path(dir, file)))
                add(file.substr(0, file.size() - 5), *t, util::join_path(dir, file));
        }
        closedir(d);
    }
    for (const auto& e : kEmbeddedProfiles) add(std::string(e.name), e.text, "embedded");
    std::sort(out.begin(), out.end());
    return out;
}

std::string expand_glob(const std::string& glob, const std::string& cwd, const std::string& home) {
    if (glob == "~" || glob.starts_with("~/")) return home + glob.substr(1);
    if (glob == "$CWD" || glob.starts_with("$CWD/")) return cwd + glob.substr(4);
    return glob;
}

namespace {

// "*" and "?" stay within one path component; "**/" matches any number of
// directories (none included); a trailing "**" matches everything beneath.
bool match(const char* g, const char* p) {
    while (*g != '\0') {
        if (g[0] == '*' && g[1] == '*') {
            g += 2;
            if (*g == '/') {
                const char* rest = g + 1;
                if (match(rest, p)) return true;
                for (const char* q = p; *q != '\0'; ++q)
                    if (*q == '/' && match(rest, q + 1)) return true;
                return false;
            }
            for (const char* q = p;; ++q) {
                if (match(g, q)) return true;
                if (*q == '\0') return false;
            }
        }
        if (*g == '*') {
            ++g;
            for (const char* q = p;; ++q) {
                if (match(g, q)) return true;
                if (*q == '\0' || *q == '/') return false;
            }
        }
        if (*g == '?') {
            if (*p == '\0' || *p == '/') return false;
        } else if (*g != *p) {
            return false;
        }
        ++g;
        ++p;
    }
    return *p == '\0';
}

}  // namespace

bool glob_match(const std::string& glob, const std::string& path) {
    // "dir/**" stands for the directory and everything in it.
    if (glob.ends_with("/**") && path == glob.substr(0, glob.size() - 3)) return true;
    return match(glob.c_str(), path.c_str());
}

}  // namespace whatif::policy
