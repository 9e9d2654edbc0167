#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "whatif/cli/commands.hpp"
#include "whatif/cli/sandbox_request.hpp"
#include "whatif/effects/content_diff.hpp"
#include "whatif/effects/databases.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/effects/vcs.hpp"
#include "whatif/policy/decision.hpp"
#include "whatif/policy/profile.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/markdown.hpp"
#include "whatif/report/text.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/store/run_store.hpp"
#include "whatif/util/fault.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/log.hpp"
#include "whatif/util/strings.hpp"

#include <sys/inotify.h>
#include <algorithm>
#include <map>
#include <set>

#include "whatif/creds/decoys.hpp"
#include "whatif/creds/env.hpp"
#include "whatif/creds/leaks.hpp"
#include "whatif/util/unique_fd.hpp"

#include "whatif/net/dns.hpp"

namespace whatif::cli {

namespace {

std::string rfc3339_now(int64_t& unix_ns) {
    const auto now = std::chrono::system_clock::now();
    unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>((unix_ns / 1'000'000) % 1000));
    return out;
}

Result<std::string> absolute_cwd(const std::string& requested) {
    std::string dir = requested;
    if (dir.empty()) {
        char buf[PATH_MAX];
        if (getcwd(buf, sizeof buf) == nullptr) return fail_errno("getcwd");
        return std::string(buf);
    }
    char* real = realpath(dir.c_str(), nullptr);
    if (real == nullptr) return bad_input("--cwd " + dir + ": " + std::strerror(errno));
    std::string out = real;
    std::free(real);
    return out;
}

// network[]: name lookups, then every IP connection or datagram with what its
// sink learned (protocol, TLS names, HTTP request, ...).
void add_network_records(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    using nlohmann::json;
    std::set<std::pair<std::string, uint16_t>> seen_lookups;
    for (const auto& d : outcome.dns) {
        if (!seen_lookups.insert({d.name, d.qtype}).second) continue;
        set.network.push_back(
            {{"kind", "dns"},
             {"proto", "udp"},
             {"host", util::to_valid_utf8(d.name)},
             {"address", nullptr},
             {"port", 53},
             {"path", nullptr},
             {"protocol", "dns"},
             {"detail", d.qtype == net::kTypeA      ? "A"
                        : d.qtype == net::kTypeAAAA ? "AAAA"
                                                    : "type " + std::to_string(d.qtype)},
             {"pid", nullptr},
             {"outcome", "stubbed"}});
    }
    std::vector<bool> used(outcome.sinks.size(), false);
    auto sink_json = [](const net::SinkEvent& s, json& j) {
        j["protocol"] = s.protocol;
        j["detail"] = s.detail.empty() ? json(nullptr) : json(util::to_valid_utf8(s.detail));
        if (s.tls) {
            json alpn = json::array();
            for (const auto& a : s.tls->alpn) alpn.push_back(util::to_valid_utf8(a));
            j["tls"] = {{"sni", util::to_valid_utf8(s.tls->sni)}, {"alpn", alpn}};
        }
        if (s.http) {
            json names = json::array();
            for (const auto& n : s.http->header_names) names.push_back(util::to_valid_utf8(n));
            j["http"] = {{"method", util::to_valid_utf8(s.http->method)},
                         {"target", util::to_valid_utf8(s.http->target)},
                         {"host", util::to_valid_utf8(s.http->host)},
                         {"headers", names},
                         {"body_size",
                          s.http->content_length ? json(*s.http->content_length) : json(nullptr)}};
        }
        j["bytes"] = s.bytes;
    };
    for (const auto& r : outcome.net) {
        json j = {{"kind", r.kind},
                  {"proto", r.proto},
                  {"host", r.host.empty() ? json(nullptr) : json(util::to_valid_utf8(r.host))},
                  {"address", r.address},
                  {"port", r.port},
                  {"path", nullptr},
                  {"tls", nullptr},
                  {"http", nullptr},
                  {"protocol", nullptr},
                  {"detail", nullptr},
                  {"pid", r.pid},
                  {"outcome", r.outcome}};
        if (r.kind == "send") j["bytes"] = r.bytes;
        // The sink that took this connection: same port and protocol, in order.
        bool matched = false;
        for (size_t i = 0; i < outcome.sinks.size(); ++i) {
            const auto& s = outcome.sinks[i];
            if (used[i] || s.port != r.port || s.proto != r.proto) continue;
            if (!s.address.empty() && s.address != r.address) continue;
            used[i] = matched = true;
            sink_json(s, j);
            break;
        }
        // getaddrinfo() connects UDP sockets only to rank addresses: no datagram, no intent.
        if (r.proto == "udp" && r.kind == "connect" && !matched && r.outcome == "stubbed") continue;
        set.network.push_back(std::move(j));
    }
    for (size_t i = 0; i < outcome.sinks.size(); ++i) {
        if (used[i]) continue;
        const auto& s = outcome.sinks[i];
        json j = {{"kind", s.proto == "udp" ? "send" : "connect"},
                  {"proto", s.proto},
                  {"host", nullptr},
                  {"address", s.address.empty() ? json(nullptr) : json(s.address)},
                  {"port", s.port},
                  {"path", nullptr},
                  {"tls", nullptr},
                  {"http", nullptr},
                  {"pid", nullptr},
                  {"outcome", "stubbed"}};
        if (auto it = outcome.names.find(s.address); it != outcome.names.end())
            j["host"] = it->second;
        sink_json(s, j);
        set.network.push_back(std::move(j));
    }
}

// secrets[]: leaks first (a canary where it should not be), then decoys read or
// written, then the environment variables replaced.
void record_secrets(const sandbox::RunOutcome& outcome, const creds::ScrubbedEnvironment& scrubbed,
                    const std::vector<creds::Decoy>& decoys, int watch_fd,
                    const std::map<int, size_t>& watch_to_decoy,
                    const creds::CanaryRegistry& canaries, effects::EffectSet& set) {
    using nlohmann::json;
    auto entry = [](const char* kind, const char* access, const std::string& name,
                    const std::string& path, const std::string& destination, int pid) {
        return json{{"kind", kind},
                    {"access", access},
                    {"name", name.empty() ? json(nullptr) : json(util::to_valid_utf8(name))},
                    {"path", path.empty() ? json(nullptr) : json(util::to_valid_utf8(path))},
                    {"destination",
                     destination.empty() ? json(nullptr) : json(util::to_valid_utf8(destination))},
                    {"pid", pid > 0 ? json(pid) : json(nullptr)}};
    };
    auto source_fields = [](const creds::Canary& c, std::string& name, std::string& path) {
        if (c.source.starts_with("env "))
            name = c.source.substr(4);
        else
            path = c.source;
    };
    std::vector<json> leaks;
    std::set<std::string> seen;
    auto add_leak = [&](const creds::Canary& c, const char* access, const std::string& destination,
                        int pid) {
        if (!seen.insert(c.source + "\n" + destination).second) return;
        std::string name, path;
        source_fields(c, name, path);
        leaks.push_back(entry("leak", access, name, path, destination, pid));
    };
    // Sent: what the sinks captured, with the connection that carried it.
    for (const auto& s : outcome.sinks) {
        if (s.captured.empty()) continue;
        std::string where = s.address;
        if (auto it = outcome.names.find(s.address); it != outcome.names.end()) where = it->second;
        int pid = 0;
        for (const auto& r : outcome.net)
            if (r.port == s.port && r.address == s.address) pid = r.pid;
        for (const auto* c : creds::canaries_in(s.captured, canaries.all()))
            add_leak(*c, "sent", where + ":" + std::to_string(s.port), pid);
    }
    for (const auto& d : outcome.dns)
        for (const auto* c : creds::canaries_in(d.name, canaries.all()))
            add_leak(*c, "sent", "DNS query " + d.name, 0);
    // Written: files the command created or changed that hold a canary.
    for (const auto& f : set.files) {
        if (!f.after || f.after->type != effects::FileType::file || f.after->size > (4u << 20))
            continue;
        if (f.change != effects::Change::created && f.change != effects::Change::modified &&
            f.change != effects::Change::replaced)
            continue;
        for (const auto& layer : outcome.layers) {
            if (!util::path_is_within(f.path, layer.host_mount)) continue;
            const std::string rel =
                layer.host_mount == "/" ? f.path : f.path.substr(layer.host_mount.size());
            auto content = util::read_file(util::join_path(layer.upper_dir, rel));
            if (!content) continue;
            for (const auto* c : creds::canaries_in(*content, canaries.all()))
                add_leak(*c, "written", f.path, 0);
        }
    }
    for (auto& l : leaks) set.secrets.push_back(std::move(l));
    // Decoys read (inotify) or changed.
    std::set<size_t> read;
    char events[4096];
    ssize_t n = 0;
    while (watch_fd >= 0 && (n = ::read(watch_fd, events, sizeof events)) > 0)
        for (ssize_t at = 0; at < n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(events + at);
            if (auto it = watch_to_decoy.find(ev->wd); it != watch_to_decoy.end())
                read.insert(it->second);
            at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
    for (size_t i = 0; i < decoys.size(); ++i) {
        if (read.contains(i))
            set.secrets.push_back(entry("file", "read", "", decoys[i].host_path, "", 0));
        auto now = util::read_file(decoys[i].decoy_path);
        if (now && *now != decoys[i].content)
            set.secrets.push_back(entry("file", "written", "", decoys[i].host_path, "", 0));
    }
    for (const auto& name : scrubbed.replaced)
        set.secrets.push_back(entry("env", "replaced", name, "", "", 0));
}

int exit_code_of(const RunOptions& options, const effects::EffectSet& set) {
    if (options.exit_status == ExitStatusMode::command) {
        if (set.run.exit_status) return *set.run.exit_status;
        if (set.run.signal) return 128 + *set.run.signal;
        return static_cast<int>(ExitCode::failure);
    }
    return static_cast<int>(policy::exit_code_for(set.decision.verdict));
}

}  // namespace

int report_error(const Error& error) {
    std::fprintf(stderr, "whatif: %s\n", error.message.c_str());
    return static_cast<int>(error.code);
}

int run_command(const RunOptions& options) {
    if (options.argv.empty())
        return report_error(Error::bad_input(
            "no command given (usage: whatif [run] [OPTIONS] [--] COMMAND [ARG...])"));
    auto profile = policy::load_profile(options.profile);
    if (!profile) return report_error(profile.error());
    auto cwd = absolute_cwd(options.cwd);
    if (!cwd) return report_error(cwd.error());
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    if (util::path_is_within(*cwd, store->root()))
        return report_error(Error::bad_input("the working directory " + *cwd +
                                             " is inside the run store " + store->root() +
                                             ", which is hidden in the sandbox"));
    auto active = store->create_run();
    if (!active) return report_error(active.error());

    store::RunMeta meta;
    meta.id = active->id;
    meta.argv = options.argv;
    meta.cwd = *cwd;
    meta.started_at = rfc3339_now(meta.started_unix_ns);
    if (auto st = store::save_meta(active->dir, meta); !st) return report_error(st.error());

    auto fail_run = [&](const Error& e) {
        meta.state = store::RunState::failed;
        meta.error = e.message;
        store::save_meta(active->dir, meta);
        return report_error(e);
    };

    // Stub credentials: secrets in the environment become canaries; credential
    // files are replaced by decoys inside the sandbox. Only canaries are stored.
    auto credentials = stub_credentials(util::join_path(active->dir, "decoys"), *cwd);
    if (!credentials) return fail_run(credentials.error());
    const auto& canaries = credentials->canaries;
    const auto& scrubbed = credentials->environment;
    const auto& decoys = credentials->decoys;
    const char* home_env = std::getenv("HOME");
    const std::string home = home_env != nullptr ? home_env : "";
    // Reads of a decoy show up as inotify events on it (the pid is not known).
    UniqueFd decoy_watch(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    std::map<int, size_t> watch_to_decoy;
    for (size_t i = 0; i < decoys.size(); ++i) {
        const int wd =
            inotify_add_watch(decoy_watch.get(), decoys[i].decoy_path.c_str(), IN_OPEN | IN_ACCESS);
        if (wd >= 0) watch_to_decoy[wd] = i;
    }

    sandbox::RunRequest request;
    request.argv = options.argv;
    request.cwd = *cwd;
    request.run_dir = active->dir;
    request.store_dir = store->root();
    request.timeout = options.timeout.value_or(profile->timeout);
    request.command_stdout_to_stderr = options.format == ReportFormat::json;
    request.net = options.net;
    request.progress = isatty(STDERR_FILENO) == 1;
    use_credentials(*credentials, request);
    if (auto st = store::reserve_room(active->dir); !st) return fail_run(st.error());
    const auto sandbox_started = std::chrono::steady_clock::now();
    auto outcome = sandbox::run(request);
    // Checked before the reserved room goes back: a full store means the
    // command's own writes hit ENOSPC in the upper layer.
    const bool store_filled = store::filesystem_full(active->dir);
    store::release_room(active->dir);
    spdlog::debug("sandbox::run took {} us", std::chrono::duration_cast<std::chrono::microseconds>(
                                                 std::chrono::steady_clock::now() - sandbox_started)
                                                 .count());
    if (!outcome) return fail_run(outcome.error());
    spdlog::debug("peak memory after the sandbox: {} kB", util::peak_rss_kb());

    for (const auto& layer : outcome->layers)
        meta.layers.push_back({layer.host_mount, layer.upper_dir.substr(active->dir.size() + 1)});
    store::save_meta(active->dir, meta);

    std::vector<effects::ScanLayer> scan_layers;
    for (const auto& layer : outcome->layers)
        scan_layers.push_back({layer.host_mount, layer.upper_dir});
    util::stop_point("scan");
    const auto scan_started = std::chrono::steady_clock::now();
    auto scan = effects::scan_upper_layers(scan_layers, active->dir);
    if (!scan) return fail_run(scan.error());
    spdlog::info("scan: {} entries, {} effects in {} us", scan->entries_scanned, scan->files.size(),
                 std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - scan_started)
                     .count());
    spdlog::debug("peak memory after the scan: {} kB", util::peak_rss_kb());

    effects::EffectSet set;
    set.run.id = active->id;
    set.run.argv = options.argv;
    set.run.cwd = *cwd;
    set.run.profile = profile->name;
    set.run.net = options.net;
    set.run.started_at = meta.started_at;
    set.run.duration_ms = outcome->duration_ms;
    set.run.exit_status = outcome->exit_status;
    set.run.signal = outcome->signal;
    set.run.timed_out = outcome->timed_out;
    set.files = std::move(scan->files);
    set.warnings = std::move(scan->warnings);
    // What the changes mean to git repositories and databases (the host's copies
    // against the upper layer's).
    set.vcs = effects::summarize_git(set.files, scan_layers);
    set.databases = effects::summarize_databases(set.files, scan_layers,
                                                 util::join_path(active->dir, "analysis"));
    if (store_filled) {
        const std::string warning =
            "the run store's filesystem filled up (" + store->root() +
            "): the command's writes failed with 'No space left on device', so what it "
            "would do is only partly shown; free space there, or set WHATIF_HOME to a larger "
            "filesystem";
        std::fprintf(stderr, "whatif: %s\n", warning.c_str());
        set.warnings.insert(set.warnings.begin(), warning);
    }
    // The process log: every program the command ran, from the exec notifications.
    // Exit statuses are known for the command itself; its descendants are reaped
    // by their own parents, out of whatif's sight.
    for (auto& e : outcome->execs) {
        effects::ProcessRecord p{e.pid, e.ppid,       std::move(e.argv), e.exe,
                                 e.cwd, std::nullopt, std::nullopt,      e.argv_truncated};
        set.processes.push_back(std::move(p));
    }
    if (set.processes.empty())  // the command never started (not found)
        set.processes.push_back(
            {2, 1, options.argv, outcome->exe, *cwd, std::nullopt, std::nullopt, 0});
    for (auto& p : set.processes)
        if (p.pid == 2) {  // the command; a later exec by the same pid replaced it
            p.exit_status = outcome->exit_status;
            p.signal = outcome->signal;
        }
    add_network_records(*outcome, set);
    record_secrets(*outcome, scrubbed, decoys, decoy_watch.get(), watch_to_decoy, canaries, set);
    // Unix-socket attempts. A socket the command made itself (in the upper layer)
    // is its own; any other is the host's, which the overlay makes unreachable.
    std::set<std::string> own_sockets;
    if (!outcome->connects.empty())
        for (const auto& f : set.files)
            if (f.type == effects::FileType::socket && f.change != effects::Change::deleted)
                own_sockets.insert(f.path);
    std::set<std::pair<int, std::string>>
        seen_sockets;  // glibc retries nscd: once per process and path
    for (const auto& c : outcome->connects) {
        if (!seen_sockets.insert({c.pid, c.path}).second) continue;
        const bool own = own_sockets.contains(c.path);
        // The C library's own name-service lookups (nscd, systemd's userdb and
        // resolver): recorded, but marked, since they are not the command's intent.
        const bool name_service = c.path.ends_with("/nscd/socket") ||
                                  c.path.starts_with("/run/systemd/userdb/") ||
                                  c.path.starts_with("/run/systemd/resolve/");
        set.network.push_back(
            {{"kind", "connect"},
             {"proto", "unix"},
             {"host", nullptr},
             {"address", nullptr},
             {"port", nullptr},
             {"path", util::to_valid_utf8(c.path)},
             {"tls", nullptr},
             {"http", nullptr},
             {"protocol", name_service ? nlohmann::json("nss") : nlohmann::json(nullptr)},
             {"detail", nullptr},
             {"pid", c.pid},
             {"outcome", own ? "allowed" : "blocked"}});
    }
    spdlog::debug("peak memory after the secrets check: {} kB", util::peak_rss_kb());
    set.decision = policy::decide(set, *profile, home);
    if (store_filled) {
        // What was captured is not what the command would do: never a silent allow.
        set.decision.reasons.insert(
            set.decision.reasons.begin(),
            {"incomplete-capture",
             effects::Verdict::ask,
             "the dry run is incomplete: the run store filled up, so the command's writes failed",
             {}});
        if (set.decision.verdict == effects::Verdict::allow)
            set.decision.verdict = effects::Verdict::ask;
    }
    spdlog::debug("peak memory after the decision: {} kB", util::peak_rss_kb());

    if (auto st = report::write_json_file(set, util::join_path(active->dir, "effects.json")); !st)
        return fail_run(st.error());
    util::stop_point("report");
    meta.state = store::RunState::complete;
    meta.verdict = std::string(to_string(set.decision.verdict));
    if (auto st = store::save_meta(active->dir, meta); !st) return report_error(st.error());

    // Markdown carries short diffs of changed text files, read from the upper layer.
    std::vector<effects::DiffSnippet> snippets;
    const char* step_summary = std::getenv("GITHUB_STEP_SUMMARY");
    if (options.format == ReportFormat::markdown ||
        (step_summary != nullptr && *step_summary != '\0'))
        snippets = effects::diff_snippets(set.files, [&](const std::string& p) {
            return effects::upper_path_of(scan_layers, p);
        });
    // A CI job summary: GitHub Actions shows what is appended to this file.
    if (const char* summary = std::getenv("GITHUB_STEP_SUMMARY");
        summary != nullptr && *summary != '\0') {
        if (FILE* f = std::fopen(summary, "a")) {
            const std::string md = report::render_markdown(set, snippets);
            std::fwrite(md.data(), 1, md.size(), f);
            std::fclose(f);
        }
    }
    if (!options.report_file.empty())
        if (auto st = report::write_json_file(set, options.report_file, 0644); !st)
            return report_error(st.error());
    if (options.format == ReportFormat::json) {
        effects::write_json(set, [](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
        });
    } else if (options.format == ReportFormat::markdown) {
        const std::string md = report::render_markdown(set, snippets);
        std::fwrite(md.data(), 1, md.size(), stdout);
    } else {
        const std::string text = report::render_text(set, {.color = report::stdout_wants_color()});
        std::fwrite(text.data(), 1, text.size(), stdout);
        if (!set.files.empty())
            std::fprintf(stdout, "see: whatif diff %s   discard: whatif discard %s\n",
                         set.run.id.c_str(), set.run.id.c_str());
    }
    std::fflush(stdout);
    spdlog::debug("peak memory after the report: {} kB", util::peak_rss_kb());
    const int exit_code = exit_code_of(options, set);
    if (options.no_apply) return exit_code;
    // The prompt needs the run's lock, which this process holds until it returns.
    active->lock.reset();
    const int after_gate = prompt_after_run(set.run.id, options.yes, exit_code);
    return options.exit_status == ExitStatusMode::command && after_gate == 0 ? exit_code
                                                                             : after_gate;
}

}  // namespace whatif::cli
