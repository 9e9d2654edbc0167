#include "whatif/effects/vcs.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "whatif/effects/upper_file.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/program.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::effects {

using nlohmann::json;

namespace {

constexpr size_t kMaxWorkTreePaths = 100'000;  // per repository; beyond, not analysed
constexpr size_t kMaxHistoryQuestions = 64;    // git calls about refs, per repository
constexpr size_t kShownPaths = 10;
// A ref file or HEAD holds one line; packed-refs one per ref. Past these, not read.
constexpr uint64_t kMaxRefFileBytes = 4096;
constexpr uint64_t kMaxPackedRefsBytes = 64 << 20;
constexpr size_t kPathspecsPerCall = 500;

struct RefChange {
    std::string name;  // refs/heads/x
    Change change;
};

struct WorkTreeChange {
    std::string rel;  // relative to the repository's root
    Change change;
};

// What the run's file effects touched of one repository.
struct RepoEffects {
    std::optional<Change> git_dir;  // .git itself created or deleted
    std::vector<RefChange> loose_refs;
    std::optional<Change> packed_refs, head;
    std::vector<WorkTreeChange> work_tree;
    bool work_tree_truncated = false;
};

using Refs = std::map<std::string, std::string>;  // name -> sha, or "ref: NAME"

std::string first_line(const std::string& text) {
    std::string line = text.substr(0, text.find('\n'));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

bool is_sha(std::string_view s) {
    return (s.size() == 40 || s.size() == 64) && std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}

void read_loose_refs(const std::string& dir, const std::string& name, Refs& out) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return;
    std::vector<std::string> entries;
    while (dirent* e = readdir(d))
        if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..")
            entries.emplace_back(e->d_name);
    closedir(d);
    for (const auto& entry : entries) {
        const std::string path = dir + "/" + entry;
        struct stat st {};
        if (lstat(path.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            read_loose_refs(path, name + "/" + entry, out);
        } else if (S_ISREG(st.st_mode)) {
            if (auto text = util::read_regular_file(path, kMaxRefFileBytes))
                out[name + "/" + entry] = first_line(*text);
        }
    }
}

// packed-refs: "<sha> <name>" lines, a "# pack-refs with:" header, "^<sha>" peeled
// lines. (Whatif reads it itself: the new version exists only in the upper layer,
// where git cannot read it as part of a repository.)
Refs parse_packed_refs(const std::string& text) {
    Refs refs;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        const size_t space = line.find(' ');
        if (line.empty() || line[0] == '#' || line[0] == '^' || space == std::string::npos)
            continue;
        if (is_sha(std::string_view(line).substr(0, space)))
            refs[line.substr(space + 1)] = line.substr(0, space);
    }
    return refs;
}

Refs merged(const Refs& packed, const Refs& loose) {
    Refs out = packed;
    for (const auto& [name, value] : loose) out[name] = value;
    return out;
}

std::string head_value(const std::string& line) {
    return line.starts_with("ref: ") ? line.substr(5) : line;
}

// The repository whose work tree holds `dir`: the nearest ancestor with a .git
// directory on the host. Cached per directory.
class RepoFinder {
  public:
    std::string repo_of(const std::string& dir) {
        if (dir.empty() || dir == "/") return {};
        if (auto it = cache_.find(dir); it != cache_.end()) return it->second;
        struct stat st {};
        std::string repo = lstat((dir + "/.git").c_str(), &st) == 0 && S_ISDIR(st.st_mode)
                               ? dir
                               : repo_of(util::parent_path(dir));
        cache_.emplace(dir, repo);
        return repo;
    }

  private:
    std::unordered_map<std::string, std::string> cache_;
};

// The host's git, asked read-only questions about one repository.
class Git {
  public:
    Git(std::string repo, std::string alternates)
        : repo_(std::move(repo)), alternates_(std::move(alternates)) {}

    std::optional<util::ProgramResult> run(const std::vector<std::string>& args,
                                           const std::string& input = {}) {
        if (unavailable_) return std::nullopt;
        util::ProgramCall call;
        call.argv = {
            "git", "--git-dir=" + repo_ + "/.git", "--work-tree=" + repo_, "-c", "safe.directory=*",
            "-c",  "core.fsmonitor=false"};
        call.argv.insert(call.argv.end(), args.begin(), args.end());
        call.env = {{"GIT_OPTIONAL_LOCKS", "0"}, {"GIT_TERMINAL_PROMPT", "0"}, {"LC_ALL", "C"}};
        if (!alternates_.empty())
            call.env.emplace_back("GIT_ALTERNATE_OBJECT_DIRECTORIES", alternates_);
        call.input = input;
        auto result = util::run_program(call);
        if (!result) {
            unavailable_ = true;  // not installed: every git field stays null
            return std::nullopt;
        }
        return *result;
    }

    std::optional<bool> is_ancestor(const std::string& a, const std::string& b) {
        auto r = run({"merge-base", "--is-ancestor", a, b});
        if (!r || (r->exit_code != 0 && r->exit_code != 1)) return std::nullopt;
        return r->exit_code == 0;
    }

    std::optional<uint64_t> commits_lost(const std::string& old,
                                         const std::set<std::string>& kept) {
        // "^<sha>" lines: git before 2.42 takes no --not on stdin.
        std::string input = old + "\n";
        for (const auto& sha : kept) input += "^" + sha + "\n";
        auto r = run({"rev-list", "--count", "--stdin"}, input);
        if (!r || r->exit_code != 0) return std::nullopt;
        try {
            return std::stoull(r->output);
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }

    // NUL-separated output of `args` for `paths` as literal pathspecs, in batches.
    // literal: pathspec magic keeps '*' and '?' in names from matching others
    // (ls-tree takes plain paths, not pathspecs).
    std::vector<std::string> per_paths(const std::vector<std::string>& args,
                                       const std::vector<std::string>& paths, bool literal = true) {
        std::vector<std::string> out;
        for (size_t at = 0; at < paths.size(); at += kPathspecsPerCall) {
            std::vector<std::string> call = args;
            call.push_back("--");
            for (size_t i = at; i < paths.size() && i < at + kPathspecsPerCall; ++i)
                call.push_back(literal ? ":(literal)" + paths[i] : paths[i]);
            auto r = run(call);
            if (!r || r->exit_code != 0) continue;
            util::split_nul_terminated(r->output, out);
        }
        return out;
    }

  private:
    std::string repo_, alternates_;
    bool unavailable_ = false;
};

// "mode sha stage\tpath" (ls-files -s) or "mode type sha\tpath" (ls-tree): path -> sha.
std::map<std::string, std::string> blobs_of(const std::vector<std::string>& entries) {
    std::map<std::string, std::string> out;
    for (const auto& e : entries) {
        const size_t tab = e.find('\t');
        if (tab == std::string::npos) continue;
        const std::string head = e.substr(0, tab);
        for (size_t at = 0; at < head.size();) {
            size_t end = head.find(' ', at);
            if (end == std::string::npos) end = head.size();
            if (is_sha(std::string_view(head).substr(at, end - at))) {
                out[e.substr(tab + 1)] = head.substr(at, end - at);
                break;
            }
            at = end + 1;
        }
    }
    return out;
}

json work_tree_entry(const std::string& repo, const char* change,
                     const std::vector<std::string>& rels) {
    json paths = json::array();
    for (size_t i = 0; i < rels.size() && i < kShownPaths; ++i)
        paths.push_back(util::to_valid_utf8(rels[i]));
    return {{"repo", util::to_valid_utf8(repo)},
            {"kind", "work-tree"},
            {"change", change},
            {"count", rels.size()},
            {"paths", paths}};
}

void summarize_refs(const std::string& repo, const RepoEffects& fx,
                    const std::vector<ScanLayer>& layers, Git& git, json& out) {
    const std::string git_dir = repo + "/.git";
    Refs loose_before, packed_before;
    read_loose_refs(git_dir + "/refs", "refs", loose_before);
    if (auto text = util::read_regular_file(git_dir + "/packed-refs", kMaxPackedRefsBytes))
        packed_before = parse_packed_refs(*text);
    Refs loose_after = loose_before, packed_after = packed_before;
    auto upper_text = [&](const std::string& rel) -> std::optional<std::string> {
        // What the command left there: a symlink to a host file, a FIFO or /dev/zero
        // is not read (effects/upper_file.hpp).
        auto text = read_upper_file(layers, git_dir + "/" + rel,
                                    rel == "packed-refs" ? kMaxPackedRefsBytes : kMaxRefFileBytes);
        return text ? std::optional<std::string>(*text) : std::nullopt;
    };
    for (const auto& rc : fx.loose_refs) {
        if (rc.change == Change::deleted) {
            loose_after.erase(rc.name);
        } else if (auto text = upper_text(rc.name)) {
            loose_after[rc.name] = first_line(*text);
        }
    }
    if (fx.packed_refs) {
        if (*fx.packed_refs == Change::deleted)
            packed_after.clear();
        else if (auto text = upper_text("packed-refs"))
            packed_after = parse_packed_refs(*text);
    }
    const Refs before = merged(packed_before, loose_before),
               after = merged(packed_after, loose_after);

    std::string head_before, head_after;
    if (auto text = util::read_regular_file(git_dir + "/HEAD", kMaxRefFileBytes))
        head_before = head_value(first_line(*text));
    head_after = head_before;
    if (fx.head && *fx.head != Change::deleted)
        if (auto text = upper_text("HEAD")) head_after = head_value(first_line(*text));
    if (head_before != head_after)
        out.push_back({{"repo", util::to_valid_utf8(repo)},
                       {"kind", "head"},
                       {"before", util::to_valid_utf8(head_before)},
                       {"after", util::to_valid_utf8(head_after)}});

    // What stays reachable after the run: every ref's commit, and a detached HEAD.
    std::set<std::string> kept;
    for (const auto& [name, value] : after)
        if (is_sha(value)) kept.insert(value);
    if (is_sha(head_after)) kept.insert(head_after);

    size_t questions = 0;
    std::set<std::string> names;
    for (const auto& [name, value] : before) names.insert(name);
    for (const auto& [name, value] : after) names.insert(name);
    for (const auto& name : names) {
        const auto b = before.find(name), a = after.find(name);
        const std::string old_value = b == before.end() ? "" : b->second;
        const std::string new_value = a == after.end() ? "" : a->second;
        if (old_value == new_value) continue;
        json entry = {{"repo", util::to_valid_utf8(repo)},
                      {"kind", "ref"},
                      {"ref", util::to_valid_utf8(name)},
                      {"before", nullptr},
                      {"after", nullptr},
                      {"fast_forward", nullptr},
                      {"commits_lost", nullptr}};
        if (!old_value.empty()) entry["before"] = util::to_valid_utf8(old_value);
        if (!new_value.empty()) entry["after"] = util::to_valid_utf8(new_value);
        entry["change"] = old_value.empty() ? "created" : new_value.empty() ? "deleted" : "moved";
        const bool ask = questions < kMaxHistoryQuestions && is_sha(old_value);
        if (ask && is_sha(new_value)) {
            ++questions;
            if (auto ff = git.is_ancestor(old_value, new_value)) entry["fast_forward"] = *ff;
        }
        if (ask && (new_value.empty() || entry["fast_forward"] == false)) {
            ++questions;
            if (auto lost = git.commits_lost(old_value, kept)) entry["commits_lost"] = *lost;
        } else if (entry["fast_forward"] == true) {
            entry["commits_lost"] = 0;
        }
        out.push_back(std::move(entry));
    }
}

void summarize_work_tree(const std::string& repo, const RepoEffects& fx,
                         const std::vector<ScanLayer>& layers, Git& git, json& out) {
    if (fx.work_tree.empty()) return;
    std::vector<std::string> rels;
    for (const auto& w : fx.work_tree)
        if (w.rel.find('\n') == std::string::npos) rels.push_back(w.rel);
    const auto index = blobs_of(git.per_paths({"ls-files", "-z", "-s"}, rels));
    std::set<std::string> dirty;
    for (auto& p : git.per_paths({"diff-files", "-z", "--name-only"}, rels))
        dirty.insert(std::move(p));
    const bool has_head = git.run({"rev-parse", "--verify", "-q", "HEAD"})
                              .value_or(util::ProgramResult{})
                              .exit_code == 0;
    if (has_head)
        for (auto& p : git.per_paths({"diff-index", "-z", "--cached", "--name-only", "HEAD"}, rels))
            dirty.insert(std::move(p));

    std::vector<std::string> discarded, dirty_deleted, untracked_deleted, modified_dirty;
    std::vector<std::string> untracked_candidates;
    for (const auto& w : fx.work_tree) {
        if (w.rel.find('\n') != std::string::npos) continue;
        const bool tracked = index.contains(w.rel);
        if (!tracked) {
            if (w.change == Change::deleted) untracked_candidates.push_back(w.rel);
            continue;
        }
        if (!dirty.contains(w.rel)) continue;  // committed: nothing of the user's is lost
        if (w.change == Change::deleted)
            dirty_deleted.push_back(w.rel);
        else
            modified_dirty.push_back(w.rel);
    }
    // An uncommitted file rewritten to a committed or staged version (reset --hard,
    // checkout .): its changes are gone. Any other rewrite is just an edit.
    if (!modified_dirty.empty() && has_head) {
        std::string input;
        for (const auto& rel : modified_dirty)
            input += upper_path_of(layers, repo + "/" + rel) + "\n";
        auto hashed = git.run({"hash-object", "--no-filters", "--stdin-paths"}, input);
        const auto head = blobs_of(git.per_paths({"ls-tree", "-z", "HEAD"}, modified_dirty, false));
        if (hashed && hashed->exit_code == 0) {
            std::vector<std::string> lines;
            size_t start = 0;
            while (start < hashed->output.size()) {
                const size_t end = hashed->output.find('\n', start);
                lines.push_back(hashed->output.substr(start, end - start));
                if (end == std::string::npos) break;
                start = end + 1;
            }
            for (size_t i = 0; i < modified_dirty.size() && i < lines.size(); ++i) {
                const auto& rel = modified_dirty[i];
                const bool restored = (index.contains(rel) && index.at(rel) == lines[i]) ||
                                      (head.contains(rel) && head.at(rel) == lines[i]);
                if (restored) discarded.push_back(rel);
            }
        }
    }
    std::set<std::string> ignored;
    if (!untracked_candidates.empty()) {
        std::string input;
        for (const auto& rel : untracked_candidates) input += rel + '\0';
        if (auto r = git.run({"check-ignore", "-z", "--stdin"}, input)) {
            std::vector<std::string> lines;
            util::split_nul_terminated(r->output, lines);
            ignored.insert(lines.begin(), lines.end());
        }
    }
    std::vector<std::string> ignored_deleted;
    for (const auto& rel : untracked_candidates)
        (ignored.contains(rel) ? ignored_deleted : untracked_deleted).push_back(rel);
    if (!discarded.empty())
        out.push_back(work_tree_entry(repo, "uncommitted-discarded", discarded));
    if (!dirty_deleted.empty())
        out.push_back(work_tree_entry(repo, "uncommitted-deleted", dirty_deleted));
    if (!untracked_deleted.empty())
        out.push_back(work_tree_entry(repo, "untracked-deleted", untracked_deleted));
    if (!ignored_deleted.empty())
        out.push_back(work_tree_entry(repo, "ignored-deleted", ignored_deleted));
    if (fx.work_tree_truncated)
        out.push_back({{"repo", util::to_valid_utf8(repo)},
                       {"kind", "work-tree"},
                       {"change", "not-analysed"},
                       {"count", nullptr},
                       {"paths", json::array()}});
}

// "branch main", "tag v1", "remote-tracking ref origin/main", or the ref itself.
std::string ref_label(const std::string& ref) {
    if (ref.starts_with("refs/heads/")) return "branch " + ref.substr(11);
    if (ref.starts_with("refs/tags/")) return "tag " + ref.substr(10);
    if (ref.starts_with("refs/remotes/")) return "remote-tracking ref " + ref.substr(13);
    return ref;
}

std::string short_sha(const json& v) {
    return v.is_string() ? v.get<std::string>().substr(0, 7) : "?";
}

std::string first_paths(const json& paths, uint64_t count) {
    std::string out;
    size_t shown = 0;
    for (const auto& p : paths) {
        if (shown == 3 || !p.is_string()) break;
        out += (shown++ == 0 ? "" : ", ") + util::shell_quote_for_display(p.get<std::string>());
    }
    if (count > shown) out += " and " + util::with_thousands(count - shown) + " more";
    return out;
}

}  // namespace

std::string describe_vcs(const json& v) {
    const std::string repo = v.value("repo", "");
    const std::string kind = v.value("kind", ""), change = v.value("change", "");
    if (kind == "repository")
        return (change == "deleted" ? "deletes the git repository "
                                    : "creates a git repository in ") +
               util::shell_quote_for_display(repo);
    if (kind == "head") {
        auto label = [](const json& x) {
            const std::string s = x.is_string() ? x.get<std::string>() : "";
            return s.starts_with("refs/heads/") ? s.substr(11) : s.substr(0, 7);
        };
        return "switches HEAD from " + label(v.value("before", json())) + " to " +
               label(v.value("after", json()));
    }
    if (kind == "ref") {
        const std::string what = ref_label(v.value("ref", ""));
        const auto lost = v.value("commits_lost", json());
        const std::string lost_text =
            lost.is_number() && lost.get<uint64_t>() > 0
                ? "; " + util::plural(lost.get<uint64_t>(), "commit", "commits") +
                      " no longer reachable from any ref"
                : "";
        if (change == "created")
            return "creates " + what + " at " + short_sha(v.value("after", json()));
        if (change == "deleted")
            return "deletes " + what + " (was " + short_sha(v.value("before", json())) + ")" +
                   lost_text;
        const auto ff = v.value("fast_forward", json());
        return "moves " + what + " from " + short_sha(v.value("before", json())) + " to " +
               short_sha(v.value("after", json())) +
               (ff == true    ? " (fast-forward)"
                : ff == false ? ", not a fast-forward" + lost_text
                              : " (fast-forward unknown: git not found)");
    }
    if (kind == "work-tree") {
        const uint64_t count =
            v.value("count", json()).is_number() ? v["count"].get<uint64_t>() : 0;
        const std::string which = first_paths(v.value("paths", json::array()), count);
        if (change == "uncommitted-discarded")
            return "discards uncommitted changes to " + util::plural(count, "file", "files") +
                   " (" + which + ")";
        if (change == "uncommitted-deleted")
            return "deletes " + util::plural(count, "file", "files") +
                   " with uncommitted changes (" + which + ")";
        if (change == "untracked-deleted")
            return "deletes " + util::plural(count, "untracked file", "untracked files") + " (" +
                   which + ")";
        if (change == "ignored-deleted")
            return "deletes " + util::plural(count, "ignored file", "ignored files") + " (" +
                   which + ")";
        return "changes too many files in the work tree of " + util::shell_quote_for_display(repo) +
               " to tell what was lost";
    }
    return kind;
}

json summarize_git(const FileEffects& files, const std::vector<ScanLayer>& layers) {
    std::map<std::string, RepoEffects> repos;
    RepoFinder finder;
    for (const auto& e : files) {
        const std::string& p = e.path;
        if (p.ends_with("/.git") && e.type == FileType::dir &&
            (e.change == Change::deleted || e.change == Change::created)) {
            repos[p.substr(0, p.size() - 5)].git_dir = e.change;
            continue;
        }
        if (const size_t git = p.find("/.git/"); git != std::string::npos) {
            RepoEffects& fx = repos[p.substr(0, git)];
            const std::string rel = p.substr(git + 6);
            if (rel.starts_with("refs/") && e.type != FileType::dir)
                fx.loose_refs.push_back({rel, e.change});
            else if (rel == "packed-refs")
                fx.packed_refs = e.change;
            else if (rel == "HEAD")
                fx.head = e.change;
            continue;
        }
        // Work lost: tracked or untracked files deleted or rewritten.
        const bool was_file =
            e.before && (e.before->type == FileType::file || e.before->type == FileType::symlink);
        if (!was_file || e.change == Change::created || e.change == Change::metadata) continue;
        const std::string repo = finder.repo_of(util::parent_path(p));
        if (repo.empty()) continue;
        RepoEffects& fx = repos[repo];
        if (fx.work_tree.size() >= kMaxWorkTreePaths) {
            fx.work_tree_truncated = true;
            continue;
        }
        fx.work_tree.push_back({p.substr(repo.size() + 1), e.change});
    }

    json out = json::array();
    for (const auto& [repo, fx] : repos) {
        if (fx.git_dir) {
            out.push_back({{"repo", util::to_valid_utf8(repo)},
                           {"kind", "repository"},
                           {"change", *fx.git_dir == Change::deleted ? "deleted" : "created"}});
            continue;  // a repository made or removed whole: nothing to compare
        }
        struct stat st {};
        if (lstat((repo + "/.git").c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        const std::string upper_objects = upper_path_of(layers, repo + "/.git/objects");
        Git git(repo, !upper_objects.empty() && lstat(upper_objects.c_str(), &st) == 0
                          ? upper_objects
                          : "");
        if (!fx.loose_refs.empty() || fx.packed_refs || fx.head)
            summarize_refs(repo, fx, layers, git, out);
        summarize_work_tree(repo, fx, layers, git, out);
    }
    return out;
}

}  // namespace whatif::effects
