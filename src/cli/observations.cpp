#include "whatif/cli/observations.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>

#include <nlohmann/json.hpp>
#include <set>

#include "whatif/creds/leaks.hpp"
#include "whatif/effects/upper_file.hpp"
#include "whatif/net/dns.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::cli {

void record_processes(sandbox::RunOutcome& outcome, const std::vector<std::string>& argv,
                      const std::string& cwd, effects::EffectSet& set) {
    // The process log: every program the command ran, from the exec notifications.
    // Exit statuses are known for the command itself; its descendants are reaped
    // by their own parents, out of whatif's sight.
    for (auto& e : outcome.execs) {
        effects::ProcessRecord p{e.pid, e.ppid,       std::move(e.argv), e.exe,
                                 e.cwd, std::nullopt, std::nullopt,      e.argv_truncated};
        set.processes.push_back(std::move(p));
    }
    if (set.processes.empty())  // the command never started (not found)
        set.processes.push_back(
            {outcome.command_pid, 1, argv, outcome.exe, cwd, std::nullopt, std::nullopt, 0});
    for (auto& p : set.processes)
        if (p.pid == outcome.command_pid) {  // a later exec by the same pid replaced it
            p.exit_status = outcome.exit_status;
            p.signal = outcome.signal;
        }
}

// network[]: name lookups, then every IP connection or datagram with what its
// sink learned (protocol, TLS names, HTTP request, ...).
void record_network(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
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
        // To a server the command itself runs on the sandbox's loopback: seen,
        // but no effect on anything outside (analyses skip it).
        if (r.sandbox_internal) j["sandbox_internal"] = true;
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
        if (used[i] || outcome.sinks[i].proto == "unix") continue;  // with the unix connects
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
    // Unix-socket attempts. A socket the command made itself (in the upper layer)
    // is its own; any other is the host's, which the overlay makes unreachable.
    std::set<std::string> own_sockets;
    if (!outcome.connects.empty())
        for (const auto& f : set.files)
            if (f.type == effects::FileType::socket && f.change != effects::Change::deleted)
                own_sockets.insert(f.path);
    auto unix_connect = [](const std::string& path, json pid, const char* outcome_of) {
        return json{
            {"kind", "connect"},  {"proto", "unix"},       {"host", nullptr},
            {"address", nullptr}, {"port", nullptr},       {"path", util::to_valid_utf8(path)},
            {"tls", nullptr},     {"http", nullptr},       {"protocol", nullptr},
            {"detail", nullptr},  {"pid", std::move(pid)}, {"outcome", outcome_of}};
    };
    std::set<std::pair<int, std::string>>
        seen_sockets;  // glibc retries nscd: once per process and path
    for (const auto& c : outcome.connects) {
        if (!seen_sockets.insert({c.pid, c.path}).second) continue;
        const bool own = c.sandbox_internal || own_sockets.contains(c.path);
        // The C library's own name-service lookups (nscd, systemd's userdb and
        // resolver): recorded, but marked, since they are not the command's intent.
        const bool name_service = c.path.ends_with("/nscd/socket") ||
                                  c.path.starts_with("/run/systemd/userdb/") ||
                                  c.path.starts_with("/run/systemd/resolve/");
        json entry = unix_connect(c.path, c.pid,
                                  own         ? "allowed"
                                  : c.stubbed ? "stubbed"
                                              : "blocked");
        if (name_service) entry["protocol"] = "nss";
        if (own) entry["sandbox_internal"] = true;
        // A stand-in took it: what the client said, from its sink.
        for (size_t i = 0; c.stubbed && i < outcome.sinks.size(); ++i) {
            const auto& s = outcome.sinks[i];
            if (used[i] || s.proto != "unix" || s.address != c.path) continue;
            used[i] = true;
            sink_json(s, entry);
            break;
        }
        set.network.push_back(std::move(entry));
    }
    // Stand-ins' connections no connect record names (a second one of a process).
    for (size_t i = 0; i < outcome.sinks.size(); ++i) {
        const auto& s = outcome.sinks[i];
        if (used[i] || s.proto != "unix") continue;
        json j = unix_connect(s.address, nullptr, "stubbed");
        sink_json(s, j);
        set.network.push_back(std::move(j));
    }
}

DecoyWatch DecoyWatch::of(const std::vector<creds::Decoy>& decoys) {
    DecoyWatch w;
    if (decoys.empty()) return w;
    w.fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    for (size_t i = 0; i < decoys.size(); ++i) {
        const int wd =
            inotify_add_watch(w.fd_.get(), decoys[i].decoy_path.c_str(), IN_OPEN | IN_ACCESS);
        if (wd >= 0) w.decoy_of_watch_[wd] = i;
    }
    return w;
}

void DecoyWatch::collect() {
    if (collected_ || !fd_) return;
    collected_ = true;
    char events[4096];
    ssize_t n = 0;
    while ((n = ::read(fd_.get(), events, sizeof events)) > 0)
        for (ssize_t at = 0; at < n;) {
            const auto* ev = reinterpret_cast<const inotify_event*>(events + at);
            // IN_IGNORED comes whatever the mask, when a deleted decoy's watch goes.
            if (auto it = decoy_of_watch_.find(ev->wd);
                it != decoy_of_watch_.end() && (ev->mask & (IN_OPEN | IN_ACCESS)) != 0)
                read_.insert(it->second);
            at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        }
}

namespace {

// Files the command wrote are searched for canaries up to this size (and decoys
// read back): the canaries of a run are short, and a file that large is not read.
constexpr uint64_t kMaxLeakScanBytes = 4 << 20;

// The holder of the inotify fd's last reference: it waits until whatif is gone
// (the gate pipe's write end closes with it), then exits, and its exit pays for the
// grace period. It shares whatif's memory (CLONE_VM: no page tables copied), so it
// runs on a stack of its own and touches nothing but that and its two fds. Its
// copy of whatif's fd table is emptied of everything else first: a copy of the
// run's lock or of whatif's stdout must not outlive whatif.
struct HolderFds {
    int inotify_fd, gate_read_end, ack_write_end;
};
HolderFds holder_fds;
alignas(16) char holder_stack[16384];

int hold_until_whatif_exits(void*) {
    // Everything but the three fds it needs, then the ack, then only two.
    int keep[3] = {holder_fds.inotify_fd, holder_fds.gate_read_end, holder_fds.ack_write_end};
    std::sort(std::begin(keep), std::end(keep));
    unsigned next = 0;
    for (int fd : keep) {
        if (static_cast<unsigned>(fd) > next)
            syscall(SYS_close_range, next, static_cast<unsigned>(fd) - 1, 0U);
        next = static_cast<unsigned>(fd) + 1;
    }
    syscall(SYS_close_range, next, ~0U, 0U);
    // whatif waits for this: until now the holder had a copy of the run's lock, and
    // a whatif that exited meanwhile would leave the run "in use" for a moment.
    char byte = 1;
    while (write(holder_fds.ack_write_end, &byte, 1) < 0 && errno == EINTR) {
    }
    close(holder_fds.ack_write_end);
    while (read(holder_fds.gate_read_end, &byte, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
}

}  // namespace

DecoyWatch::~DecoyWatch() {
    if (!fd_) return;
    int gate[2], ack[2];
    if (pipe2(gate, O_CLOEXEC) != 0) return;  // plain close in the destructor of fd_
    if (pipe2(ack, O_CLOEXEC) != 0) {
        close(gate[0]);
        close(gate[1]);
        return;
    }
    holder_fds = {fd_.get(), gate[0], ack[1]};
    const pid_t holder = clone(hold_until_whatif_exits, holder_stack + sizeof holder_stack,
                               CLONE_VM | SIGCHLD, nullptr);
    close(gate[0]);
    close(ack[1]);
    if (holder < 0) {
        close(gate[1]);
    } else {
        char byte;
        while (::read(ack[0], &byte, 1) < 0 && errno == EINTR) {
        }
    }
    close(ack[0]);
    // Otherwise gate[1] stays open until this process exits (O_CLOEXEC: no program
    // whatif starts gets it).
}

// secrets[]: leaks first (a canary where it should not be), then decoys read or
// written, then the environment variables replaced.
void record_secrets(const sandbox::RunOutcome& outcome,
                    const std::vector<effects::ScanLayer>& layers,
                    const StubCredentials& credentials, const DecoyWatch& watch,
                    effects::EffectSet& set) {
    const auto& canaries = credentials.canaries;
    const auto& decoys = credentials.decoys;
    const auto& scrubbed = credentials.environment;
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
            add_leak(*c, "sent", s.proto == "unix" ? where : where + ":" + std::to_string(s.port),
                     pid);
    }
    for (const auto& d : outcome.dns)
        for (const auto* c : creds::canaries_in(d.name, canaries.all()))
            add_leak(*c, "sent", "DNS query " + d.name, 0);
    // Written: files the command created or changed that hold a canary (none can
    // without canaries: then no file is read).
    auto may_hold_canary = [](const effects::FileEffect& f) {
        return f.after && f.after->type == effects::FileType::file &&
               f.after->size <= kMaxLeakScanBytes &&
               (f.change == effects::Change::created || f.change == effects::Change::modified ||
                f.change == effects::Change::replaced);
    };
    if (!canaries.all().empty())
        for (const auto& f : set.files) {
            if (!may_hold_canary(f)) continue;
            auto content = effects::read_upper_file(layers, f.path, kMaxLeakScanBytes);
            if (!content) continue;
            // A decoy's own canaries in the decoy itself (`echo x >> .env`): no leak;
            // the decoy "written" below says it.
            for (const auto* c : creds::canaries_in(*content, canaries.all()))
                if (c->source != f.path) add_leak(*c, "written", f.path, 0);
        }
    for (auto& l : leaks) set.secrets.push_back(std::move(l));
    // Decoys read (inotify) or changed. A decoy in the upper layer (decoy_path is
    // there then) that was deleted or renamed is no regular file there any more:
    // written too, and its file effect says which.
    for (size_t i = 0; i < decoys.size(); ++i) {
        if (watch.read().contains(i))
            set.secrets.push_back(entry("file", "read", "", decoys[i].host_path, "", 0));
        // Grown past the cap, or no regular file any more: it was written too.
        auto now = util::read_regular_file(decoys[i].decoy_path, kMaxLeakScanBytes);
        if (!now || *now != decoys[i].content)
            set.secrets.push_back(entry("file", "written", "", decoys[i].host_path, "", 0));
    }
    for (const auto& name : scrubbed.replaced)
        set.secrets.push_back(entry("env", "replaced", name, "", "", 0));
}

void record_signals(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    for (const auto& s : outcome.signals) {
        const char* abbrev = sigabbrev_np(s.signal);
        nlohmann::json argv = nullptr;
        if (!s.argv.empty()) {
            argv = nlohmann::json::array();
            for (const auto& a : s.argv) argv.push_back(util::to_valid_utf8(a));
        }
        set.signals.push_back(
            {{"signal", s.signal},
             {"name", abbrev != nullptr ? "SIG" + std::string(abbrev) : std::to_string(s.signal)},
             {"target", s.target},
             {"call", s.call},
             {"pid", s.pid},
             {"argv", std::move(argv)}});
    }
}

}  // namespace whatif::cli
