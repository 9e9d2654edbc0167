// The dry run: one command in fresh namespaces over a copy-on-write view of every
// host mount. Knows nothing of effects, policy or reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "whatif/net/stub_server.hpp"
#include "whatif/sandbox/proclog.hpp"
#include "whatif/sandbox/stand_ins.hpp"

#include <map>
#include "whatif/util/error.hpp"

namespace whatif::sandbox {

// One overlay: writes under host_mount landed in upper_dir.
struct Layer {
    std::string host_mount;
    std::string upper_dir;
};

struct RunRequest {
    std::vector<std::string> argv;  // executed as given, never through a shell
    std::string cwd;                // absolute
    std::string run_dir;            // this run's directory in the store (upper layers go here)
    std::string store_dir;          // the whole store: hidden inside the sandbox
    std::chrono::milliseconds timeout{0};  // 0: none
    // When the command's own process exits, how long the processes it left running
    // (`cmd &`, nohup, daemons) may go on: their effects meanwhile are captured, and
    // those still running then are killed and reported (RunOutcome::survivors).
    std::chrono::milliseconds background_grace{0};
    // The command itself runs in the background (an agent's run_in_background): the
    // grace runs from its start, and the command is one of the survivors if it
    // still runs then.
    bool command_is_background = false;
    // With --format json stdout carries the effect set alone: the command's stdout
    // is then passed to whatif's stderr (and still saved in the run).
    bool command_stdout_to_stderr = false;
    // stub: every connection lands in whatif's sinks, DNS answered by a stub;
    // none: loopback only, connections refused; host: the real network.
    std::string net = "stub";
    // The command's environment (secrets already replaced by canaries).
    std::vector<std::string> env;
    // Decoys for credential files: (decoy in the run dir, host path). Each is moved
    // into the upper layer at the host path (RunOutcome::stand_ins.files), or, where
    // it cannot be, bind-mounted over the credential (stand_ins.bound_decoys).
    std::vector<std::pair<std::string, std::string>> decoys;
    // The run holds a database password canary: the PostgreSQL sink asks for it.
    bool request_pg_password = false;
    // A live line on stderr (a terminal) for runs longer than a second.
    bool progress = false;
    // explore: the layers of a finished run, stacked read-only over the host, so the
    // command sees what the run left; its own writes go to fresh upper dirs (run_dir).
    std::vector<Layer> prior_layers;
    // explore on a terminal: the command uses whatif's terminal directly.
    bool interactive = false;
};

struct RunOutcome {
    std::vector<Layer> layers;
    std::optional<int> exit_status;  // set when the command exited
    std::optional<int> signal;       // set when a signal ended it
    int command_pid = 2;             // in the sandbox's pid namespace
    bool timed_out = false;
    // Processes still running when the grace period after the command ended was
    // over (RunRequest::background_grace), killed then: what they would have done
    // is unknown.
    std::vector<proclog::SurvivorRecord> survivors;
    std::chrono::milliseconds background_grace{0};
    bool command_is_background = false;
    // kill-family calls aimed at processes the sandbox does not hold (proclog.hpp).
    std::vector<proclog::SignalRecord> signals;
    std::string exe;  // argv[0] resolved through PATH, as the host sees it
    int64_t duration_ms = 0;
    std::vector<proclog::ExecRecord> execs;        // every program started, in order
    std::vector<proclog::ConnectRecord> connects;  // unix-socket connect attempts
    std::vector<proclog::NetRecord> net;           // IP connects and datagrams, with the host name
    std::vector<net::DnsEvent> dns;                // stub mode
    std::vector<net::SinkEvent> sinks;             // stub mode: what each connection asked for
    std::map<std::string, std::string> names;      // synthetic address -> name
    // Host mounts that overlayfs refused as a layer, read-only in the run instead
    // (mnt.cpp): one warning each.
    std::vector<std::string> mounts_not_overlaid;
    // Unprivileged caller: the stand-ins made for foreign-owned dirs (stand_ins.hpp).
    StandIns stand_ins;
};

Result<RunOutcome> run(const RunRequest& request);

}  // namespace whatif::sandbox
