#include "whatif/report/text.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "whatif/effects/databases.hpp"
#include "whatif/effects/vcs.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::report {

using effects::Change;
using effects::FileEffect;
using effects::FileType;

namespace {

struct Palette {
    bool on;
    std::string paint(std::string_view code, std::string_view text) const {
        if (!on) return std::string(text);
        return "\x1b[" + std::string(code) + "m" + std::string(text) + "\x1b[0m";
    }
};

std::string_view color_of(Change c) {
    switch (c) {
        case Change::deleted:
            return "1;31";
        case Change::replaced:
            return "1;35";
        case Change::modified:
            return "1;33";
        case Change::metadata:
            return "36";
        case Change::created:
            return "32";
    }
    return "0";
}

std::string counts_text(uint64_t files, uint64_t dirs, uint64_t others) {
    std::string out;
    auto add = [&](uint64_t n, const char* one, const char* many) {
        if (n == 0) return;
        if (!out.empty()) out += ", ";
        out += util::plural(n, one, many);
    };
    add(files, "file", "files");
    add(dirs, "dir", "dirs");
    add(others, "other", "others");
    return out;
}

std::string bytes_text(uint64_t added, uint64_t removed) {
    if (added == 0 && removed == 0) return {};
    if (removed == 0) return "(+" + util::human_bytes(added) + ")";
    if (added == 0) return "(-" + util::human_bytes(removed) + ")";
    return "(+" + util::human_bytes(added) + ", -" + util::human_bytes(removed) + ")";
}

std::string metadata_detail(const FileEffect& e) {
    if (!e.before || !e.after) return {};
    std::string out;
    auto add = [&](const std::string& s) {
        if (!out.empty()) out += ", ";
        out += s;
    };
    char buf[64];
    if (e.before->mode != e.after->mode) {
        std::snprintf(buf, sizeof buf, "mode %04o -> %04o", e.before->mode, e.after->mode);
        add(buf);
    }
    if (e.before->uid != e.after->uid || e.before->gid != e.after->gid) {
        std::snprintf(buf, sizeof buf, "owner %u:%u -> %u:%u", e.before->uid, e.before->gid,
                      e.after->uid, e.after->gid);
        add(buf);
    }
    if (out.empty() && e.before->mtime_ns != e.after->mtime_ns) add("mtime");
    return out;
}

std::string single_detail(const FileEffect& e) {
    switch (e.change) {
        case Change::metadata:
            return metadata_detail(e);
        case Change::replaced:
            return std::string(to_string(e.before->type)) + " -> " +
                   std::string(to_string(e.after->type));
        case Change::modified:
            if (e.type == FileType::symlink)
                return "-> " + util::shell_quote_for_display(e.after->target.value_or(""));
            return {};
        case Change::created:
            if (e.type == FileType::symlink)
                return "-> " + util::shell_quote_for_display(e.after->target.value_or(""));
            if (e.type != FileType::file && e.type != FileType::dir)
                return std::string(to_string(e.type));
            return {};
        case Change::deleted:
            return {};
    }
    return {};
}

struct Line {
    std::string text;
    uint64_t weight = 0;  // entries it stands for
    uint64_t added = 0, removed = 0;
    uint64_t order = 0;  // when it was completed: ties keep that order
};

bool heavier(const Line& a, const Line& b) {
    if (a.weight != b.weight) return a.weight > b.weight;
    if (a.removed + a.added != b.removed + b.added)
        return a.removed + a.added > b.removed + b.added;
    return a.order < b.order;
}

// The lines of one kind of change, built as the effects stream by (a directory
// before what is beneath it). A subtree whose every entry has this change (rm -rf
// dir) becomes one line "N files under DIR"; single entries are grouped by their
// directory. Memory: the directories along the current path, and the lines kept.
class LineBuilder {
  public:
    explicit LineBuilder(size_t keep) : keep_(keep) {}

    void add(const FileEffect& e) {
        const std::string parent = util::parent_path(e.path);
        close_subtrees_not_containing(e.path);
        close_singles_not_containing(e.path);
        // Inside a subtree of the same change when the parent is its open directory.
        if (!subtrees_.empty() && subtrees_.back().dir == parent) {
            Subtree& s = *subtrees_.back().tree;
            count_into(s, e);
            if (e.type == FileType::dir) subtrees_.push_back({e.path, subtrees_.back().tree});
            return;
        }
        auto tree = std::make_shared<Subtree>();
        tree->root = e;
        count_into(*tree, e);
        if (e.type == FileType::dir) {
            subtrees_.push_back({e.path, tree});
            return;
        }
        finish_subtree(*tree);  // a non-directory: nothing can follow beneath it
    }

    // All lines, heaviest first: the kept ones, and how much the others weigh.
    std::vector<Line> finish(uint64_t& rest_weight, uint64_t& rest_lines) {
        close_subtrees_not_containing("");
        close_singles_not_containing("");
        std::sort(lines_.begin(), lines_.end(), heavier);
        rest_weight = total_weight_;
        for (const auto& l : lines_) rest_weight -= l.weight;
        rest_lines = total_lines_ - lines_.size();
        return lines_;
    }

  private:
    struct Subtree {
        FileEffect root;
        uint64_t files = 0, dirs = 0, others = 0, added = 0, removed = 0, count = 0;
    };
    struct OpenDir {
        std::string dir;
        std::shared_ptr<Subtree> tree;  // shared by every open directory of the subtree
    };
    struct Singles {
        std::string dir;
        std::optional<FileEffect> first;  // shown in full when it stays alone
        uint64_t files = 0, dirs = 0, others = 0, added = 0, removed = 0, count = 0;
        std::string names;
        size_t named = 0;
    };

    static void count_into(Subtree& s, const FileEffect& e) {
        ++s.count;
        (e.type == FileType::file ? s.files : e.type == FileType::dir ? s.dirs : s.others)++;
        const auto [a, r] = effects::bytes_added_removed(e);
        s.added += a;
        s.removed += r;
    }

    void close_subtrees_not_containing(const std::string& path) {
        while (!subtrees_.empty() &&
               (path.empty() || !util::path_is_within(path, subtrees_.back().dir) ||
                path == subtrees_.back().dir)) {
            const OpenDir top = subtrees_.back();
            subtrees_.pop_back();
            const bool root_closed = subtrees_.empty() || subtrees_.back().tree != top.tree;
            if (root_closed) finish_subtree(*top.tree);
        }
    }

    void close_singles_not_containing(const std::string& path) {
        while (!singles_.empty() &&
               (path.empty() || !util::path_is_within(path, singles_.back().dir))) {
            finish_singles(singles_.back());
            singles_.pop_back();
        }
    }

    void finish_subtree(const Subtree& s) {
        if (s.count > 1) {
            Line l;
            l.text = counts_text(s.files, s.dirs, s.others) + " under " +
                     util::shell_quote_for_display(s.root.path);
            l.weight = s.count;
            l.added = s.added;
            l.removed = s.removed;
            keep(std::move(l));
            return;
        }
        // A single entry: grouped with the other singles of its directory.
        const std::string dir = util::parent_path(s.root.path);
        close_singles_not_containing(s.root.path);
        if (singles_.empty() || singles_.back().dir != dir) {
            singles_.emplace_back();
            singles_.back().dir = dir;
        }
        Singles& g = singles_.back();
        if (!g.first) g.first = s.root;
        ++g.count;
        (s.root.type == FileType::file  ? g.files
         : s.root.type == FileType::dir ? g.dirs
                                        : g.others)++;
        g.added += s.added;
        g.removed += s.removed;
        if (g.named < 3) {
            g.names += (g.named == 0 ? "" : ", ") +
                       util::shell_quote_for_display(util::base_name(s.root.path));
            ++g.named;
        }
    }

    void finish_singles(const Singles& g) {
        Line l;
        l.weight = g.count;
        l.added = g.added;
        l.removed = g.removed;
        if (g.count == 1) {
            const FileEffect& e = *g.first;
            l.text = util::shell_quote_for_display(e.path);
            if (e.type == FileType::dir) l.text += "/";
            if (const std::string detail = single_detail(e); !detail.empty())
                l.text += "  " + detail;
        } else {
            std::string names = g.names;
            if (g.count > g.named)
                names += " and " + util::with_thousands(g.count - g.named) + " more";
            l.text = counts_text(g.files, g.dirs, g.others) + " in " +
                     util::shell_quote_for_display(g.dir) + ": " + names;
        }
        keep(std::move(l));
    }

    // Keeps the `keep_` heaviest lines; the others only count.
    void keep(Line l) {
        l.order = total_lines_++;
        total_weight_ += l.weight;
        lines_.push_back(std::move(l));
        if (lines_.size() > 2 * keep_ + 16) {
            std::sort(lines_.begin(), lines_.end(), heavier);
            lines_.resize(keep_);
        }
    }

    size_t keep_;
    std::vector<OpenDir> subtrees_;
    std::vector<Singles> singles_;
    std::vector<Line> lines_;
    uint64_t total_lines_ = 0, total_weight_ = 0;
};

std::string pad(std::string_view word, size_t width = 10) {
    std::string out(word);
    if (out.size() < width) out.append(width - out.size(), ' ');
    return out;
}

// "sh → make → cc ×42, sh → ls": the chains of programs from the command down to
// each program that started no other, folded and counted.
std::string process_tree_text(const std::vector<effects::ProcessRecord>& processes) {
    std::map<int, const effects::ProcessRecord*> by_pid;
    std::set<int> parents;
    for (const auto& p : processes) {
        by_pid[p.pid] = &p;  // a later exec in the same process wins
        parents.insert(p.ppid);
    }
    auto name_of = [](const effects::ProcessRecord& p) {
        const std::string& first = p.argv.empty() ? p.exe : p.argv.front();
        return util::shell_quote_for_display(util::base_name(first));
    };
    std::map<std::string, size_t> chains;
    std::vector<std::string> order;
    for (const auto& [pid, p] : by_pid) {
        if (parents.contains(pid)) continue;  // not a leaf
        std::vector<std::string> names;
        const effects::ProcessRecord* cur = p;
        for (int depth = 0; cur != nullptr && depth < 16; ++depth) {
            if (names.empty() || names.back() != name_of(*cur)) names.push_back(name_of(*cur));
            auto up = by_pid.find(cur->ppid);
            cur = up == by_pid.end() || up->second == cur ? nullptr : up->second;
        }
        std::string chain;
        for (auto it = names.rbegin(); it != names.rend(); ++it)
            chain += (chain.empty() ? "" : " \u2192 ") + *it;
        if (chains[chain]++ == 0) order.push_back(chain);
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](const auto& a, const auto& b) { return chains[a] > chains[b]; });
    std::string out = util::with_thousands(processes.size()) + ": ";
    for (size_t i = 0; i < order.size() && i < 4; ++i) {
        if (i > 0) out += ", ";
        out += order[i];
        if (chains[order[i]] > 1) out += " \u00d7" + util::with_thousands(chains[order[i]]);
    }
    if (order.size() > 4) out += " and " + util::with_thousands(order.size() - 4) + " more";
    return out;
}

std::string upper_first(std::string s) {
    static const std::map<std::string, std::string> names = {
        {"https", "HTTPS"}, {"http", "HTTP"},   {"postgresql", "PostgreSQL"},
        {"redis", "Redis"}, {"mysql", "MySQL"}, {"ssh", "SSH"},
        {"tls", "TLS"},     {"dns", "DNS"}};
    auto it = names.find(s);
    return it == names.end() ? s : it->second;
}

// "would contact api.github.com:443 (HTTPS), db.internal:5432 (PostgreSQL
// user=admin database=prod: DROP DATABASE prod)"
std::string network_text(const effects::EffectSet& set) {
    std::string out;
    std::vector<std::string> contacts, sockets;
    std::set<std::string> seen;
    size_t lookups = 0;
    for (const auto& n : set.network) {
        const std::string kind = n.value("kind", "");
        if (kind == "dns") {
            ++lookups;
            continue;
        }
        // The command's own server inside the sandbox: not something it would contact.
        if (effects::field(n, "sandbox_internal") == true) continue;
        if (n.value("proto", "") == "unix") {
            if (effects::field(n, "protocol") == "nss")
                continue;  // the C library's name-service lookups
            const std::string path = n.value("path", "");
            if (seen.insert("unix:" + path).second)
                sockets.push_back(util::shell_quote_for_display(path) + " (" +
                                  n.value("outcome", "") + ")");
            continue;
        }
        std::string where = effects::field(n, "host").is_string()
                                ? effects::field(n, "host").get<std::string>()
                                : n.value("address", "?");
        if (where.find(':') != std::string::npos) where = "[" + where + "]";
        where += ":" + std::to_string(n.value("port", 0));
        std::string what;
        if (effects::field(n, "protocol").is_string() && effects::field(n, "protocol") != "unknown")
            what = upper_first(effects::field(n, "protocol"));
        if (effects::field(n, "http").is_object())
            what += " " + effects::field(n, "http").value("method", "") + " " +
                    effects::field(n, "http").value("target", "");
        if (effects::field(n, "detail").is_string() &&
            !effects::field(n, "detail").get<std::string>().empty())
            what += (what.empty() ? "" : " ") + effects::field(n, "detail").get<std::string>();
        if (n.value("proto", "") == "udp" && what.empty()) what = "UDP";
        if (what.size() > 120) what = what.substr(0, 117) + "...";
        // Host names and what was sent are the network's bytes: shown, never sent.
        const std::string line =
            util::printable(where) + (what.empty() ? "" : " (" + util::printable(what) + ")");
        if (seen.insert(line).second) contacts.push_back(line);
    }
    const std::string verb = set.run.net == "host" ? "contacted " : "would contact ";
    if (set.run.net == "host")
        out += "  " + pad("network") + "THE REAL NETWORK (--net host): nothing was stubbed\n";
    if (!contacts.empty()) {
        std::string line = verb;
        for (size_t i = 0; i < contacts.size() && i < 4; ++i)
            line += (i == 0 ? "" : ", ") + contacts[i];
        if (contacts.size() > 4)
            line += " and " + util::with_thousands(contacts.size() - 4) + " more";
        out += "  " + pad(set.run.net == "host" ? "" : "network") + line + "\n";
    } else if (set.run.net != "host") {
        out += "  " + pad("network") +
               (set.run.net == "none" ? "none (--net none: loopback only)" : "none") + "\n";
    }
    if (lookups > 0 && contacts.empty())
        out += "  " + pad("") + "looked up " + util::plural(lookups, "name", "names") +
               " (answered by the stub)\n";
    for (size_t i = 0; i < sockets.size() && i < 3; ++i)
        out += "  " + pad(i == 0 ? "sockets" : "") + "connect to " + sockets[i] + "\n";
    if (sockets.size() > 3)
        out += "  " + pad("") + "and " + util::with_thousands(sockets.size() - 3) + " more\n";
    return out;
}

std::string secrets_text(const effects::EffectSet& set) {
    std::vector<std::string> read, written, replaced;
    for (const auto& s : set.secrets) {
        const std::string kind = s.value("kind", ""), access = s.value("access", "");
        if (kind == "env" && s.value("name", nlohmann::json()).is_string())
            replaced.push_back(util::shell_quote_for_display(s["name"].get<std::string>()));
        if (kind == "file" && access == "read")
            read.push_back(util::shell_quote_for_display(s.value("path", "")));
        if (kind == "file" && access == "written")
            written.push_back(util::shell_quote_for_display(s.value("path", "")));
    }
    std::string line;
    auto list = [](const std::vector<std::string>& items) {
        std::string out;
        for (size_t i = 0; i < items.size() && i < 3; ++i) out += (i == 0 ? "" : ", ") + items[i];
        if (items.size() > 3) out += " and " + util::with_thousands(items.size() - 3) + " more";
        return out;
    };
    if (!read.empty()) line += "read " + list(read) + " (decoys)";
    if (!written.empty())
        line += std::string(line.empty() ? "" : "; ") + "wrote " + list(written) + " (decoys)";
    if (line.empty()) line = "none touched";
    if (!replaced.empty())
        line += "; " + util::plural(replaced.size(), "variable", "variables") +
                " replaced by canaries: " + list(replaced);
    return "  " + pad("secrets") + line + "\n";
}

// "signals  SIGKILL to -1 (kill -9 -1)": only when some went outside the sandbox.
std::string signals_text(const effects::EffectSet& set) {
    std::string out;
    size_t shown = 0;
    for (const auto& s : set.signals) {
        if (shown == 3) {
            out +=
                "  " + pad("") + "and " + util::with_thousands(set.signals.size() - 3) + " more\n";
            break;
        }
        std::string sender;
        if (effects::field(s, "argv").is_array())
            for (const auto& a : s["argv"])
                if (a.is_string()) sender += (sender.empty() ? "" : " ") + a.get<std::string>();
        if (sender.size() > 60) sender = sender.substr(0, 57) + "...";
        const std::string target =
            effects::field(s, "target").is_string() ? s["target"].get<std::string>() : "?";
        const std::string name =
            effects::field(s, "name").is_string() ? s["name"].get<std::string>() : "a signal";
        out += "  " + pad(shown == 0 ? "signals" : "") + name + " to " + target +
               (target == "-1" ? " (every process of the user)" : "") +
               (sender.empty() ? "" : " (" + sender + ")") + "\n";
        ++shown;
    }
    return out;
}

}  // namespace

bool stdout_wants_color() {
    const char* no_color = std::getenv("NO_COLOR");
    if (no_color != nullptr && *no_color != '\0') return false;
    const char* term = std::getenv("TERM");
    if (term != nullptr && std::string_view(term) == "dumb") return false;
    return isatty(STDOUT_FILENO) == 1;
}

std::string status_text(const effects::RunInfo& r) {
    if (r.timed_out) return "timed out, killed";
    if (r.signal) return "killed by " + util::signal_name(*r.signal);
    if (r.exit_status) return "exit " + std::to_string(*r.exit_status);
    return "no exit status";
}

std::string render_text(const effects::EffectSet& set, const TextOptions& options) {
    const Palette p{options.color};
    std::string out;
    out +=
        "whatif: dry run " + p.paint("1", set.run.id) + "  (" +
        util::human_duration_ms(static_cast<uint64_t>(std::max<int64_t>(set.run.duration_ms, 0))) +
        ", " + status_text(set.run) + ")\n";
    out += "  command   " + util::join_argv_for_display(set.run.argv) + "\n";
    // The decision and its reasons first: what a person needs in five seconds.
    const auto& d = set.decision;
    std::string verdict = std::string(to_string(d.verdict));
    std::transform(verdict.begin(), verdict.end(), verdict.begin(), ::toupper);
    const std::string_view verdict_color = d.verdict == effects::Verdict::allow ? "1;32"
                                           : d.verdict == effects::Verdict::ask ? "1;33"
                                                                                : "1;31";
    out += "decision: " + p.paint(verdict_color, verdict);
    // Reasons quote what the command did (a query, a host, argv): util::printable, so
    // that nothing in them can paint a decision line of its own.
    if (!d.reasons.empty())
        out += " — " + util::printable(d.reasons.front().message) + " (rule " +
               util::printable(d.reasons.front().rule) + ")";
    out += "\n";
    for (size_t i = 1; i < d.reasons.size(); ++i)
        out += "          " + util::printable(d.reasons[i].message) + " (rule " +
               util::printable(d.reasons[i].rule) + ")\n";
    // Then leaks: a secret on its way out matters more than anything below.
    for (const auto& s : set.secrets) {
        if (s.value("kind", "") != "leak") continue;
        const std::string what = effects::field(s, "name").is_string()
                                     ? effects::field(s, "name").get<std::string>()
                                     : util::shell_quote_for_display(s.value("path", "a secret"));
        out += "  " + p.paint("1;31", pad("LEAK")) + util::printable(what) + " " +
               util::printable(s.value("access", "sent")) + " to " +
               util::printable(effects::field(s, "destination").is_string()
                                   ? effects::field(s, "destination").get<std::string>()
                                   : std::string("?")) +
               "\n";
    }

    constexpr Change order[] = {Change::deleted, Change::replaced, Change::modified,
                                Change::metadata, Change::created};
    std::vector<LineBuilder> builders(std::size(order), LineBuilder(options.max_lines_per_change));
    size_t ignored = 0;
    // git's own records (objects, refs, logs, the index) say little one by one; the
    // git line below says what they mean. One line per repository instead.
    std::map<std::string, std::map<Change, uint64_t>> git_records;
    for (const auto& f : set.files) {
        if (f.ignored) {
            ++ignored;
            continue;
        }
        if (const size_t git = f.path.find("/.git/"); git != std::string::npos) {
            ++git_records[f.path.substr(0, git + 5)][f.change];
            continue;
        }
        for (size_t k = 0; k < std::size(order); ++k)
            if (f.change == order[k]) builders[k].add(f);
    }
    bool any = false;
    for (size_t k = 0; k < std::size(order); ++k) {
        uint64_t rest_weight = 0, rest_lines = 0;
        const auto lines = builders[k].finish(rest_weight, rest_lines);
        if (lines.empty()) continue;
        any = true;
        const std::string label = pad(to_string(order[k]));
        size_t shown = 0;
        for (const auto& line : lines) {
            if (shown == options.max_lines_per_change) {
                rest_weight += line.weight;
                ++rest_lines;
                continue;
            }
            std::string text =
                "  " + p.paint(color_of(order[k]), shown == 0 ? label : pad("")) + line.text;
            if (const std::string bytes = bytes_text(line.added, line.removed); !bytes.empty())
                text += "   " + bytes;
            out += text + "\n";
            ++shown;
        }
        if (rest_lines > 0)
            out += "  " + pad("") + "and " + util::with_thousands(rest_weight) + " more in " +
                   util::plural(rest_lines, "other place", "other places") + "\n";
    }
    size_t repos_shown = 0;
    for (const auto& [git_dir, counts] : git_records) {
        if (repos_shown++ == 3) {
            out += "  " + pad("") + "and .git records in " +
                   util::plural(git_records.size() - 3, "other repository", "other repositories") +
                   "\n";
            break;
        }
        uint64_t total = 0;
        std::string kinds;
        for (Change change : order)
            if (auto it = counts.find(change); it != counts.end()) {
                total += it->second;
                kinds += (kinds.empty() ? "" : ", ") + util::with_thousands(it->second) + " " +
                         std::string(to_string(change));
            }
        out += "  " + pad(".git") + util::plural(total, "record", "records") + " of git in " +
               util::shell_quote_for_display(git_dir) + " (" + kinds + ")\n";
        any = true;
    }
    if (!any)
        out += "  " + pad("files") + (ignored > 0 ? "no changes but ignored ones" : "no changes") +
               "\n";
    if (ignored > 0)
        out += "  " + pad("") + util::plural(ignored, "ignored change", "ignored changes") +
               " (caches, per profile " + set.run.profile + ") not shown\n";
    // What the file changes mean for git repositories and databases.
    auto summary_lines = [&](const char* label, const nlohmann::json& entries, auto describe) {
        size_t shown = 0;
        for (const auto& e : entries) {
            if (!e.is_object()) continue;
            if (shown == 4) {
                out += "  " + pad("") + "and " + util::with_thousands(entries.size() - shown) +
                       " more\n";
                break;
            }
            out += "  " + pad(shown == 0 ? label : "") + util::printable(describe(e)) + "\n";
            ++shown;
        }
    };
    summary_lines("git", set.vcs, effects::describe_vcs);
    summary_lines("database", set.databases, effects::describe_database);
    if (set.processes.size() > 1)
        out += "  " + pad("processes") + process_tree_text(set.processes) + "\n";
    out += network_text(set);
    out += secrets_text(set);
    out += signals_text(set);
    for (const auto& w : set.warnings)
        out += "  " + p.paint("33", pad("warning")) + util::printable(w) + "\n";

    return out;
}

}  // namespace whatif::report
