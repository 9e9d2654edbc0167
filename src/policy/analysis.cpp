#include "whatif/policy/analysis.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "whatif/effects/databases.hpp"
#include "whatif/effects/vcs.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::policy {

using effects::Change;
using effects::FileType;

namespace {

Finding finding(const char* analysis) {
    Finding f;
    f.analysis = analysis;
    return f;
}

bool under_any(const std::string& path, std::initializer_list<const char*> roots) {
    for (const char* r : roots)
        if (util::path_is_within(path, r)) return true;
    return false;
}

bool is_persistence(const std::string& path, const std::string& home) {
    static const char* home_files[] = {".bashrc",
                                       ".bash_profile",
                                       ".bash_login",
                                       ".profile",
                                       ".zshrc",
                                       ".zprofile",
                                       ".zshenv",
                                       ".zlogin",
                                       ".config/fish/config.fish",
                                       ".ssh/authorized_keys",
                                       ".ssh/rc",
                                       ".xprofile",
                                       ".xinitrc"};
    if (!home.empty())
        for (const char* f : home_files)
            if (path == util::join_path(home, f)) return true;
    if (path.find("/.git/hooks/") != std::string::npos && !path.ends_with(".sample")) return true;
    if (!home.empty() && (util::path_is_within(path, util::join_path(home, ".config/systemd")) ||
                          util::path_is_within(path, util::join_path(home, ".config/autostart"))))
        return true;
    return under_any(path, {"/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/crontab",
                            "/var/spool/cron", "/etc/systemd", "/etc/profile.d", "/etc/rc.local",
                            "/etc/ld.so.preload"});
}

// One finding per vcs[] entry; change: created, moved (fast-forward), rewritten
// (moved otherwise), deleted, discarded (work lost from a work tree), switched (HEAD).
std::optional<Finding> vcs_finding(const nlohmann::json& v) {
    Finding f = finding("vcs");
    const std::string kind = v.value("kind", ""), change = v.value("change", "");
    f.paths = {v.value("repo", "")};
    f.detail = effects::describe_vcs(v);
    if (kind == "repository") {
        f.change = change;
    } else if (kind == "head") {
        f.change = "switched";
    } else if (kind == "ref") {
        const auto lost = v.value("commits_lost", nlohmann::json());
        if (lost.is_number()) f.count = lost.get<uint64_t>();
        f.change = change == "moved"
                       ? (v.value("fast_forward", nlohmann::json()) == true ? "moved" : "rewritten")
                       : change;
    } else if (kind == "work-tree") {
        f.change = "discarded";
        if (v.value("count", nlohmann::json()).is_number()) f.count = v["count"].get<uint64_t>();
    } else {
        return std::nullopt;
    }
    return f;
}

// One finding per databases[] entry.
std::optional<Finding> database_finding(const nlohmann::json& d) {
    Finding f = finding("database");
    f.paths = {d.value("path", "")};
    f.change = d.value("change", "modified");
    f.detail = effects::describe_database(d);
    f.count = d.value("tables", nlohmann::json::array()).size() +
              d.value("objects", nlohmann::json::array()).size();
    return f;
}

}  // namespace

namespace {

// The C library's name-service sockets, and connections to the command's own
// servers inside the sandbox: seen, never anything outside.
bool is_sandbox_own(const nlohmann::json& n) {
    return n.value("protocol", nlohmann::json()) == "nss" ||
           n.value("sandbox_internal", nlohmann::json()) == true;
}

// Whom a network entry is about: its host name, else its address, else its path.
std::string network_target(const nlohmann::json& n) {
    for (const char* key : {"host", "address", "path"})
        if (n.value(key, nlohmann::json()).is_string()) return n[key].get<std::string>();
    return {};
}

}  // namespace

bool is_network_effect(const nlohmann::json& n) {
    // Real traffic (outcome "allowed" under --net host) is an effect like any
    // other; only what never left the sandbox is not: name lookups (each
    // connection that follows is its own entry) and the sandbox's own.
    return n.value("kind", "") != "dns" && !is_sandbox_own(n);
}

void findings_of_effect(const effects::FileEffect& f, const std::string& home,
                        const std::function<void(const Finding&)>& out) {
    const auto [added, removed] = effects::bytes_added_removed(f);
    Finding file = finding("file");
    file.paths = {f.path};
    file.change = std::string(to_string(f.change));
    file.bytes = added + removed;
    out(file);

    if (is_persistence(f.path, home) && f.change != Change::deleted) {
        Finding p = finding("persistence");
        p.paths = {f.path};
        p.change = std::string(to_string(f.change));
        out(p);
    }
    if (f.after && f.after->type != FileType::symlink) {
        const uint32_t before = f.before ? f.before->mode : 0;
        const uint32_t after = f.after->mode;
        const bool world_writable =
            (after & 0002) != 0 && (before & 0002) == 0 && (after & 01000) == 0;
        const bool gained_set_id = (after & 06000) != 0 && (before & 06000) != (after & 06000);
        if (world_writable || gained_set_id) {
            Finding w = finding("permission-widening");
            w.paths = {f.path};
            char buf[32];
            std::snprintf(buf, sizeof buf, "%04o -> %04o", before, after);
            w.detail =
                std::string(buf) + (gained_set_id ? " (setuid/setgid)" : " (world-writable)");
            out(w);
        }
    }
}

std::optional<std::string> Grouping::mass_delete_key(const effects::FileEffect& f) {
    if (f.change != Change::deleted) return std::nullopt;
    const std::string parent = util::parent_path(f.path);
    std::string root = f.path;
    if (auto it = deleted_dir_roots_.find(parent); it != deleted_dir_roots_.end())
        root = it->second;
    if (f.type == FileType::dir) deleted_dir_roots_.emplace(f.path, root);
    // Single files group by their directory, trees by their root.
    return root == f.path && f.type != FileType::dir ? parent : root;
}

bool Grouping::outside_cwd(const effects::FileEffect& f) const {
    const bool in_home = !home_.empty() && util::path_is_within(f.path, home_);
    const bool scratch =
        util::path_is_within(f.path, "/tmp") || util::path_is_within(f.path, "/var/tmp");
    return !util::path_is_within(f.path, cwd_) && (!scratch || in_home);
}

bool Grouping::system_path(const effects::FileEffect& f) {
    return under_any(
        f.path, {"/etc", "/usr", "/boot", "/var/lib", "/bin", "/sbin", "/lib", "/lib64", "/opt"});
}

// The command failed (a non-zero exit, or a signal). A timeout is a gap of its own
// (capture.hpp). change "after-stub": something only the sandbox does was in its
// way (a stubbed network answer or credential, a write the sandbox refused), so
// the real run may not fail there and go on to do what the dry run never reached;
// "failed": nothing of the sandbox's own was.
namespace {

std::optional<Finding> command_failed_finding(const effects::EffectSet& set) {
    const effects::RunInfo& r = set.run;
    if (r.timed_out || (!r.signal && (!r.exit_status || *r.exit_status == 0))) return std::nullopt;
    Finding f = finding("command-failed");
    f.detail = r.signal ? "killed by " + util::signal_name(*r.signal)
                        : "exit " + std::to_string(*r.exit_status);
    std::vector<std::string> stubs;
    // A stub's answer: anything the stub network answered (a name lookup included),
    // not real traffic and not the sandbox's own.
    for (const auto& n : set.network) {
        if (n.value("outcome", "") == "allowed" || is_sandbox_own(n)) continue;
        if (const std::string what = network_target(n); !what.empty()) {
            stubs.push_back("the stub network (" + what + ")");
            break;
        }
    }
    for (const auto& s : set.secrets)
        if (s.value("access", "") != "replaced") {
            stubs.push_back("a stub credential");
            break;
        }
    for (const auto& gap : r.capture)
        if (gap.kind == "sandbox-refused") {
            stubs.push_back("a write the sandbox refused");
            break;
        }
    f.change = stubs.empty() ? "failed" : "after-stub";
    for (size_t i = 0; i < stubs.size(); ++i) f.detail += (i == 0 ? " after " : ", ") + stubs[i];
    if (!r.argv.empty()) f.argv = util::join_argv_for_display(r.argv);
    return f;
}

}  // namespace

std::vector<Finding> other_findings(const effects::EffectSet& set) {
    std::vector<Finding> out;
    for (const auto& v : set.vcs)
        if (v.is_object())
            if (auto f = vcs_finding(v)) out.push_back(std::move(*f));
    for (const auto& d : set.databases)
        if (d.is_object())
            if (auto f = database_finding(d)) out.push_back(std::move(*f));
    // Compiled on first use (~50 us, and most runs send nothing over the network).
    auto destructive = [](const std::string& detail) {
        static const std::regex pattern(
            R"(\b(drop|truncate|delete\s+from|alter\s+table|flushall|flushdb)\b)",
            std::regex::icase);
        return !detail.empty() && std::regex_search(detail, pattern);
    };
    for (size_t i = 0; i < set.network.size(); ++i) {
        const auto& n = set.network[i];
        if (!is_network_effect(n)) continue;
        Finding f = finding("network");
        f.host = network_target(n);
        f.port = n.value("port", nlohmann::json()).is_number() ? n["port"].get<int>() : 0;
        f.protocol = n.value("protocol", nlohmann::json()).is_string()
                         ? n["protocol"].get<std::string>()
                         : n.value("proto", "");
        if (n.value("http", nlohmann::json()).is_object()) f.method = n["http"].value("method", "");
        f.detail =
            n.value("detail", nlohmann::json()).is_string() ? n["detail"].get<std::string>() : "";
        // What was asked, for the reason ("GET /_cat/indices"): the request is the detail.
        if (f.detail.empty() && !f.method.empty())
            f.detail = f.method + " " + n["http"].value("target", "");
        f.network = {i};
        f.outcome = n.value("outcome", "");
        if (n.value("proto", "") == "unix") f.protocol = "unix";
        out.push_back(f);
        if (destructive(f.detail) || f.method == "DELETE") {
            Finding d = f;
            d.analysis = "destructive-intent";
            if (d.detail.empty()) d.detail = "HTTP DELETE " + n["http"].value("target", "");
            out.push_back(std::move(d));
        }
    }
    for (const auto& p : set.processes) {
        Finding f = finding("process");
        std::string joined;
        for (const auto& a : p.argv) joined += (joined.empty() ? "" : " ") + a;
        // Programs match by name, wherever they were found ("/usr/bin/git push" is "git push").
        if (!p.argv.empty()) {
            const std::string base = util::base_name(p.argv.front());
            joined = base + joined.substr(p.argv.front().size());
        }
        f.argv = joined;
        f.detail = joined;
        out.push_back(std::move(f));
    }
    for (const auto& s : set.signals) {
        Finding f = finding("signal");
        const std::string target =
            s.value("target", nlohmann::json()).is_string() ? s["target"].get<std::string>() : "";
        const std::string name = s.value("name", nlohmann::json()).is_string()
                                     ? s["name"].get<std::string>()
                                     : "a signal";
        f.detail = name + (target == "-1"            ? " to -1 (every process of the user)"
                           : target.starts_with("-") ? " to process group " + target.substr(1)
                                                     : " to pid " + target);
        if (s.value("argv", nlohmann::json()).is_array())
            for (const auto& a : s["argv"])
                if (a.is_string()) f.argv += (f.argv.empty() ? "" : " ") + a.get<std::string>();
        out.push_back(std::move(f));
    }
    for (const auto& s : set.secrets) {
        Finding f = finding("secret");
        f.secret_kind = s.value("kind", "");
        f.detail = s.value("access", "");
        if (s.value("path", nlohmann::json()).is_string()) f.paths = {s["path"].get<std::string>()};
        f.host = s.value("destination", nlohmann::json()).is_string()
                     ? s["destination"].get<std::string>()
                     : "";
        f.argv = s.value("name", nlohmann::json()).is_string() ? s["name"].get<std::string>() : "";
        out.push_back(std::move(f));
    }
    if (auto f = command_failed_finding(set)) out.push_back(std::move(*f));
    return out;
}

}  // namespace whatif::policy
