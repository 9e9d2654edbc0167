// The supervisor: prepares the child's plan, clones the sandbox, writes its id maps,
// passes stdio through (and saves it), forwards signals, enforces the timeout.
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/socket.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "whatif/sandbox/caps.hpp"
#include "whatif/sandbox/cgroup.hpp"
#include "whatif/sandbox/child_plan.hpp"
#include "whatif/sandbox/init.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/sandbox/seccomp.hpp"
#include "whatif/sandbox/stand_ins.hpp"
#include "whatif/sandbox/user.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/log.hpp"
#include "whatif/util/strings.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::sandbox {

namespace {

// The network namespace is not among them: init makes it in a thread (net.hpp).
constexpr int kNamespaces =
    CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr std::string_view kNamespaceNames =
    "CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWPID|CLONE_NEWIPC|CLONE_NEWUTS|CLONE_NEWCGROUP";
constexpr std::string_view kUserNamespaceName = "CLONE_NEWUSER|";

struct Pipe {
    UniqueFd read_end, write_end;
    static Result<Pipe> make() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
        return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
    }
};

// The merged root of an overlay takes its owner and mode from the upper dir. The
// upper dir grants the caller what the host mount's root grants them, so that what
// fails for real (creating files in a root-owned '/') fails in the dry run. Init
// makes the dir (child_plan.hpp: ChildMount::upper_mode).
void upper_root_permissions(const std::string& host_root, const CallerIds& caller, ChildMount& cm) {
    struct stat st {};
    if (stat(host_root.c_str(), &st) != 0) return;  // 0700, the caller's
    if (geteuid() == 0) {
        cm.upper_uid = static_cast<int>(st.st_uid);
        cm.upper_gid = static_cast<int>(st.st_gid);
        cm.upper_mode = st.st_mode & 07777;
        return;
    }
    // The caller's bits (owner, group incl. supplementary groups, or other) as the
    // owner's: setuid/setgid bits on a directory root are the host's business;
    // sticky (/tmp) matters.
    cm.upper_mode = caller_owned_mode(st, caller);
}

Status check_store_filesystem(const std::string& run_dir) {
    struct statfs fs {};
    if (statfs(run_dir.c_str(), &fs) != 0) return fail_errno("statfs(" + run_dir + ")");
    if (fs.f_type == OVERLAYFS_SUPER_MAGIC)
        return fail(
            "the run store " + run_dir +
            " is on overlayfs, which cannot hold overlay upper layers (a container's root?): "
            "set WHATIF_HOME to a directory on ext4, xfs, btrfs or tmpfs, e.g. a mounted volume or "
            "/dev/shm/whatif");
    if (fs.f_type == NFS_SUPER_MAGIC)
        return fail("the run store " + run_dir +
                    " is on NFS, which cannot hold overlay upper layers: set WHATIF_HOME to a "
                    "local directory");
    return {};
}

// argv[0] as a shell finds and names it in PATH: the first executable candidate,
// else the first one that exists (exec then says why, 126), else none (127). An
// unreadable PATH entry does not hide a later one; a relative entry gives a path
// relative to the command's cwd. Searched here, on the host, before the clone:
// the same files the sandbox starts with, and the command's process then makes no
// lookups through freshly mounted overlays (nor seccomp notifications).
struct PathSearch {
    std::string path;  // empty: not found
    bool executable = false;
};

PathSearch search_path(const std::string& name, const std::string& cwd) {
    if (name.find('/') != std::string::npos) return {name, true};
    const char* path_env = std::getenv("PATH");
    const std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
    PathSearch found;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find(':', start);
        if (end == std::string::npos) end = path.size();
        std::string dir = path.substr(start, end - start);
        if (dir.empty()) dir = ".";
        const std::string candidate = util::join_path(dir, name);
        const std::string checked =
            candidate.front() == '/' ? candidate : util::join_path(cwd, candidate);
        if (access(checked.c_str(), X_OK) == 0) return {candidate, true};
        // Most candidates do not exist (ENOENT): no second lookup for those.
        if (found.path.empty() && errno != ENOENT && access(checked.c_str(), F_OK) == 0)
            found.path = candidate;
        start = end + 1;
    }
    return found;
}

struct PreparedChild {
    ChildPlan plan;
    std::vector<Layer> layers;
    StandIns stand_ins;
};

// Where an unprivileged command most likely writes: beneath these, foreign-owned
// dirs get stand-ins (stand_ins.hpp).
std::vector<std::string> stand_in_candidates(const RunRequest& req) {
    std::vector<std::string> out = {req.cwd, "/var/tmp"};
    for (const char* name : {"HOME", "TMPDIR", "XDG_RUNTIME_DIR"})
        if (const char* value = std::getenv(name); value != nullptr && value[0] == '/')
            out.emplace_back(value);
    for (std::string& path : paths_named_by(req.argv, req.cwd)) out.push_back(std::move(path));
    return out;
}

Result<PreparedChild> prepare_child(const RunRequest& req) {
    if (auto st = check_store_filesystem(req.run_dir); !st) return std::unexpected(st.error());
    auto host_mounts = read_host_mounts();
    if (!host_mounts) return std::unexpected(host_mounts.error());
    const bool mounts_locked = mounts_would_be_locked();
    const CallerIds caller = CallerIds::of_this_process();
    const MountPlan mount_plan =
        plan_mounts(*host_mounts, host_dir_lister(),
                    {.caller_uid = geteuid(),
                     .caller_gid = getegid(),
                     .caller_groups = caller.groups,
                     .mounts_locked = mounts_locked,
                     .is_directory = [](const std::string& path) {
                         struct stat st {};
                         return stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
                     }});
    if (mount_plan.steps.empty() || mount_plan.steps.front().target != "/")
        return fail("no root filesystem found in /proc/self/mountinfo");

    PreparedChild prepared;
    ChildPlan& plan = prepared.plan;
    plan.caller_is_root = geteuid() == 0;
    plan.command_user_ns = !mounts_locked;
    if (plan.command_user_ns)
        std::tie(plan.command_uid_map, plan.command_gid_map) = user::identity_maps();
    // The layers' own dirs below these are made by init, in parallel (mnt.cpp).
    for (const char* dir : {"upper", "work"})
        if (auto st = util::make_dirs(util::join_path(req.run_dir, dir)); !st)
            return std::unexpected(st.error());
    plan.staging_root = util::join_path(req.run_dir, "root");
    if (auto st = util::make_dirs(plan.staging_root); !st) return std::unexpected(st.error());
    const std::string skeleton_root = util::join_path(req.run_dir, "skeleton");
    if (!mount_plan.skeleton.empty())  // none where mounts are not locked
        if (auto st = util::make_dirs(skeleton_root); !st) return std::unexpected(st.error());
    plan.skeleton_root = skeleton_root;
    for (const auto& e : mount_plan.skeleton)
        plan.skeleton.push_back({e.kind, util::join_path(skeleton_root, e.path), e.host_path,
                                 e.link_target, e.mode ? static_cast<int>(*e.mode) : -1,
                                 e.uid ? static_cast<int>(*e.uid) : -1,
                                 e.gid ? static_cast<int>(*e.gid) : -1});

    for (const MountStep& step : mount_plan.steps) {
        ChildMount cm;
        cm.kind = step.kind;
        cm.read_only = step.read_only;
        cm.source =
            step.skeleton.empty() ? step.host_path : util::join_path(skeleton_root, step.skeleton);
        cm.target = step.target == "/" ? plan.staging_root
                                       : util::join_path(plan.staging_root, step.target);
        cm.locked_flags = step.locked_flags;
        cm.from_skeleton = !step.skeleton.empty();
        if (step.kind == StepKind::overlay) {
            const std::string upper =
                util::join_path(req.run_dir, "upper/" + std::to_string(step.layer));
            const std::string work =
                util::join_path(req.run_dir, "work/" + std::to_string(step.layer));
            upper_root_permissions(step.host_path, caller, cm);
            cm.upper = upper;
            cm.work = work;
            for (const Layer& prior : req.prior_layers) {
                if (prior.host_mount != step.host_path) continue;
                // A fresh work dir: the run's own carries the 'volatile' mark, and
                // overlayfs refuses to mount over it again.
                cm.prior_upper = prior.upper_dir;
                cm.prior_work =
                    util::join_path(req.run_dir, "prior-work/" + std::to_string(step.layer));
                cm.prior_target =
                    util::join_path(req.run_dir, "prior/" + std::to_string(step.layer));
                for (const auto* dir : {&cm.prior_work, &cm.prior_target})
                    if (auto st = util::make_dirs(*dir); !st) return std::unexpected(st.error());
            }
            prepared.layers.push_back({step.host_path, upper});
        }
        spdlog::debug("mount plan: {} {} -> {}",
                      step.kind == StepKind::overlay
                          ? (step.skeleton.empty() ? "overlay" : "split-overlay")
                          : "ro-bind",
                      cm.source, cm.target);
        plan.mounts.push_back(std::move(cm));
    }
    // Root maps every id of its namespace: copy-up works for every owner, so only
    // the decoys are seeded for it.
    if (!plan.caller_is_root || !req.decoys.empty()) {
        std::vector<std::string> upper_dirs;
        for (int layer = 0; layer < mount_plan.layer_count; ++layer)
            upper_dirs.push_back(util::join_path(req.run_dir, "upper/" + std::to_string(layer)));
        prepared.stand_ins = make_stand_ins(
            mount_plan, upper_dirs,
            plan.caller_is_root ? std::vector<std::string>{} : stand_in_candidates(req), caller,
            req.decoys);
    }

    plan.proc_target = util::join_path(plan.staging_root, "proc");
    plan.sys_target = util::join_path(plan.staging_root, "sys");
    // The kernel's global knobs under /proc check the kernel's uid 0: a root caller's
    // uid 0 passes, so they are bound read-only. Anyone else is refused there by
    // the kernel (and holds no capabilities inside): ten mount calls saved.
    if (plan.caller_is_root)
        for (const char* entry : {"sys", "sysrq-trigger", "irq", "bus", "fs"})
            plan.proc_read_only.push_back(util::join_path(plan.proc_target, entry));
    plan.dev_target = util::join_path(plan.staging_root, "dev");
    for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
        plan.dev_node_sources.push_back(std::string("/dev/") + node);
        plan.dev_node_targets.push_back(util::join_path(plan.dev_target, node));
    }
    plan.dev_pts = util::join_path(plan.dev_target, "pts");
    plan.dev_shm = util::join_path(plan.dev_target, "shm");
    plan.dev_ptmx = util::join_path(plan.dev_target, "ptmx");
    plan.dev_fd = util::join_path(plan.dev_target, "fd");
    plan.dev_stdin = util::join_path(plan.dev_target, "stdin");
    plan.dev_stdout = util::join_path(plan.dev_target, "stdout");
    plan.dev_stderr = util::join_path(plan.dev_target, "stderr");
    if (!util::path_is_within(req.store_dir, "/proc") &&
        !util::path_is_within(req.store_dir, "/sys") &&
        !util::path_is_within(req.store_dir, "/dev"))
        plan.hide_target = util::join_path(plan.staging_root, req.store_dir);
    plan.cwd = req.cwd;
    plan.argv = req.argv;
    for (auto& a : plan.argv) plan.argv_ptrs.push_back(a.data());
    plan.argv_ptrs.push_back(nullptr);
    plan.env = req.env;
    for (auto& e : plan.env) plan.env_ptrs.push_back(e.data());
    plan.env_ptrs.push_back(nullptr);
    // Decoys that could not be upper files stay bind mounts (stand_ins.hpp).
    for (const auto& [decoy, host] : prepared.stand_ins.bound_decoys) {
        plan.decoy_sources.push_back(decoy);
        plan.decoy_targets.push_back(util::join_path(plan.staging_root, host));
    }
    return prepared;
}

class BlockedSignals {
  public:
    BlockedSignals() {
        sigemptyset(&set_);
        for (int sig :
             {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH})
            sigaddset(&set_, sig);
        sigprocmask(SIG_BLOCK, &set_, &original_);
        old_pipe_ = signal(SIGPIPE, SIG_IGN);
    }
    ~BlockedSignals() {
        // Drop what is still pending (SIGCHLD, a forwarded SIGINT) before unblocking.
        timespec zero{};
        while (sigtimedwait(&set_, nullptr, &zero) > 0) {
        }
        sigprocmask(SIG_SETMASK, &original_, nullptr);
        signal(SIGPIPE, old_pipe_);
    }
    const sigset_t& set() const { return set_; }
    const sigset_t& original() const { return original_; }

  private:
    sigset_t set_{}, original_{};
    sighandler_t old_pipe_ = SIG_DFL;
};

// One output stream of the command: forwarded live, saved in the run.
struct Stream {
    UniqueFd from;
    int forward_to = -1;
    UniqueFd log;
    bool open = true;

    void pump() {
        char buf[65536];
        const ssize_t n = read(from.get(), buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        if (n <= 0) {
            open = false;
            return;
        }
        write_fully(log.get(), buf, static_cast<size_t>(n));
        if (forward_to >= 0 && !write_fully(forward_to, buf, static_cast<size_t>(n)))
            forward_to = -1;  // the reader went away (EPIPE): keep saving, stop forwarding
    }
    static bool write_fully(int fd, const char* p, size_t size) {
        while (size > 0) {
            const ssize_t n = write(fd, p, size);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            p += n;
            size -= static_cast<size_t>(n);
        }
        return true;
    }
};

// Frames from init on the status pipe (see proclog.hpp), parsed as they arrive.
struct StatusFrames {
    std::string bytes;
    size_t parsed = 0;
    std::optional<int> exit_wait_status;
    int command_pid = 2;
    std::optional<std::string> setup_error;
    std::vector<std::string> mounts_not_overlaid;
    std::vector<proclog::ExecRecord> execs;
    std::vector<proclog::ConnectRecord> connects;
    std::vector<proclog::NetRecord> net;
    std::vector<proclog::SurvivorRecord> survivors;
    std::vector<proclog::SignalRecord> signals;

    static std::vector<std::string> fields(std::string_view payload) {
        std::vector<std::string> out;
        util::split_nul_terminated(payload, out);
        return out;
    }

    // The process log keeps every argument of every program up to this many in
    // all; past it, a program keeps its first kArgsPastBudget (a million-file
    // `xargs touch` must not cost a std::string per file name).
    static constexpr size_t kArgsBudget = 262'144;
    static constexpr size_t kArgsPastBudget = 16;
    size_t args_kept = 0;

    void parse() {
        parse_frames();
        // Consumed frames go; only a partial one stays buffered.
        bytes.erase(0, parsed);
        parsed = 0;
    }

    void parse_frames() {
        while (bytes.size() - parsed >= 5) {
            uint32_t len = 0;
            std::memcpy(&len, bytes.data() + parsed + 1, sizeof len);
            if (bytes.size() - parsed - 5 < len) return;
            const char type = bytes[parsed];
            const std::string_view payload(bytes.data() + parsed + 5, len);
            parsed += 5 + len;
            if (type == proclog::kFrameExited && len == 2 * sizeof(int)) {
                int exited[2] = {};
                std::memcpy(exited, payload.data(), sizeof exited);
                exit_wait_status = exited[0];
                command_pid = exited[1];
            } else if (type == proclog::kFrameTiming) {
                spdlog::debug("sandbox set-up, us since whatif started: {}", payload);
            } else if (type == proclog::kFrameNote) {
                spdlog::debug("sandbox: {}", payload);
            } else if (type == proclog::kFrameMountNotOverlaid) {
                mounts_not_overlaid.emplace_back(payload);
            } else if (type == proclog::kFrameSetupError) {
                setup_error = std::string(payload);
            } else if (type == proclog::kFrameExec) {
                auto f = fields(payload);
                if (f.size() < 4) continue;
                proclog::ExecRecord r;
                r.pid = std::atoi(f[0].c_str());
                r.ppid = std::atoi(f[1].c_str());
                r.exe = f[2];
                r.cwd = f[3];
                const size_t argc = f.size() - 4;
                const size_t keep =
                    args_kept + argc <= kArgsBudget ? argc : std::min(argc, kArgsPastBudget);
                r.argv.assign(std::make_move_iterator(f.begin() + 4),
                              std::make_move_iterator(f.begin() + 4 + static_cast<long>(keep)));
                r.argv_truncated = argc - keep;
                args_kept += keep;
                execs.push_back(std::move(r));
            } else if (type == proclog::kFrameSurvivor) {
                auto f = fields(payload);
                if (f.empty()) continue;
                proclog::SurvivorRecord r;
                r.pid = std::atoi(f[0].c_str());
                r.argv.assign(std::make_move_iterator(f.begin() + 1),
                              std::make_move_iterator(f.end()));
                survivors.push_back(std::move(r));
            } else if (type == proclog::kFrameSignal) {
                auto f = fields(payload);
                if (f.size() < 4) continue;
                proclog::SignalRecord r;
                r.pid = std::atoi(f[0].c_str());
                r.signal = std::atoi(f[1].c_str());
                r.target = f[2];
                r.call = f[3];
                r.argv.assign(std::make_move_iterator(f.begin() + 4),
                              std::make_move_iterator(f.end()));
                signals.push_back(std::move(r));
            } else if (type == proclog::kFrameConnect) {
                auto f = fields(payload);
                if (f.size() == 3)
                    connects.push_back(
                        {std::atoi(f[0].c_str()), f[1], f[2] == "stubbed", f[2] == "internal"});
            } else if (type == proclog::kFrameNet) {
                auto f = fields(payload);
                if (f.size() != 8) continue;
                proclog::NetRecord r;
                r.pid = std::atoi(f[0].c_str());
                r.kind = f[1];
                r.proto = f[2];
                r.address = f[3];
                r.port = static_cast<uint16_t>(std::atoi(f[4].c_str()));
                r.bytes = std::strtoull(f[5].c_str(), nullptr, 10);
                r.outcome = f[6];
                r.sandbox_internal = f[7] == "internal";
                net.push_back(std::move(r));
            }
        }
    }
};

}  // namespace

Result<RunOutcome> run(const RunRequest& req) {
    if (req.argv.empty()) return bad_input("no command given");
    auto prepared = prepare_child(req);
    if (!prepared) return std::unexpected(prepared.error());
    util::log_phase("sandbox planned");
    ChildPlan& plan = prepared->plan;

    auto sync = Pipe::make();
    auto status = Pipe::make();
    auto out = Pipe::make();
    auto err = Pipe::make();
    if (!sync || !status || !out || !err) return fail_errno("pipe2");
    auto open_log = [&](const char* name) {
        return UniqueFd(open(util::join_path(req.run_dir, name).c_str(),
                             O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    };
    UniqueFd out_log = open_log("stdout.log");
    UniqueFd err_log = open_log("stderr.log");
    if (!out_log || !err_log) return fail_errno("open(" + req.run_dir + "/stdout.log)");

    BlockedSignals signals;
    UniqueFd sigfd(signalfd(-1, &signals.set(), SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sigfd) return fail_errno("signalfd");
    plan.sync_fd = sync->read_end.get();
    plan.status_fd = status->write_end.get();
    plan.stdout_fd = out->write_end.get();
    plan.stderr_fd = err->write_end.get();
    plan.original_mask = signals.original();
    auto capabilities = caps::CapabilitySet::for_caller(plan.caller_is_root);
    if (!capabilities) return std::unexpected(capabilities.error());
    auto seccomp_program = seccomp::filter();
    if (!seccomp_program) return std::unexpected(seccomp_program.error());
    auto init_capabilities = caps::CapabilitySet::for_init();
    if (!init_capabilities) return std::unexpected(init_capabilities.error());
    plan.capabilities = &*capabilities;
    plan.init_capabilities = &*init_capabilities;
    plan.seccomp_program = *seccomp_program;
    plan.interactive = req.interactive;
    plan.background_grace_ms = req.background_grace.count();
    plan.command_is_background = req.command_is_background;
    plan.net_mode = req.net == "host"   ? ChildPlan::NetMode::host
                    : req.net == "none" ? ChildPlan::NetMode::none
                                        : ChildPlan::NetMode::stub;
    // Stub mode: init passes the sandbox's sockets out over this channel.
    UniqueFd net_channel_ours, net_channel_theirs;
    if (plan.net_mode == ChildPlan::NetMode::stub) {
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
            return fail_errno("socketpair");
        net_channel_ours.reset(pair[0]);
        net_channel_theirs.reset(pair[1]);
        plan.net_channel_fd = pair[1];
    }

    // Root callers: a pids cgroup (RLIMIT_NPROC does not bind root). Made before the
    // clone, so that init can inherit the fd with which it joins (v1).
    std::optional<cgroup::PidsLimit> pids_limit = [&]() -> std::optional<cgroup::PidsLimit> {
        if (!plan.caller_is_root) return std::nullopt;
        std::string why;
        auto limit =
            cgroup::PidsLimit::create(util::base_name(req.run_dir), cgroup::kMaxProcesses, why);
        if (!limit) spdlog::debug("no pids cgroup for this run: {}", why);
        return limit;
    }();
    plan.cgroup_self_join_fd = pids_limit ? pids_limit->self_join_fd() : -1;

    RunOutcome outcome;
    const PathSearch command = search_path(req.argv.front(), req.cwd);
    if (command.executable) outcome.exe = command.path;
    plan.resolved_command = command.path;
    outcome.layers = prepared->layers;
    outcome.stand_ins = std::move(prepared->stand_ins);
    const auto started = std::chrono::steady_clock::now();

    // Fork-like clone: the child gets a copy of our memory, no separate stack.
    // (Without CLONE_NEWUSER when init makes the command's own: ChildPlan.)
    const int namespaces = plan.command_user_ns ? kNamespaces & ~CLONE_NEWUSER : kNamespaces;
    const long child = syscall(SYS_clone, namespaces | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (child < 0) {
        const int clone_errno = errno;
        const std::string_view names = plan.command_user_ns
                                           ? kNamespaceNames.substr(kUserNamespaceName.size())
                                           : kNamespaceNames;
        std::string msg =
            "clone(" + std::string(names) + "): " + std::string(std::strerror(clone_errno));
        if (const std::string why = user::userns_diagnosis(clone_errno); !why.empty())
            msg += "; " + why;
        return fail(msg);
    }
    if (child == 0) {
        sync->write_end.reset();
        status->read_end.reset();
        out->read_end.reset();
        err->read_end.reset();
        net_channel_ours.reset();
        init::run_init(plan);
    }
    const pid_t init_pid = static_cast<pid_t>(child);
    sync->read_end.reset();
    status->write_end.reset();
    out->write_end.reset();
    err->write_end.reset();
    net_channel_theirs.reset();
    // Threads only now: the child was cloned from a single-threaded process.
    std::optional<whatif::net::StubServer> stub;
    if (net_channel_ours) {
        stub.emplace(std::move(net_channel_ours), req.request_pg_password);
        stub->start();
    }

    if (auto st = plan.command_user_ns ? Status{} : user::write_id_maps(init_pid); !st) {
        kill(init_pid, SIGKILL);
        waitpid(init_pid, nullptr, 0);
        std::string msg = "writing the sandbox's id maps failed: " + st.error().message;
        if (const std::string why = user::userns_diagnosis(); !why.empty()) msg += "; " + why;
        return fail(msg);
    }
    // Two bytes on the sync pipe: "build the sandbox", then "the command may
    // start". Between them init mounts while, on cgroup v2, we put it in its pids
    // cgroup (see cgroup.hpp for why v1 differs), so that everything the command
    // starts is born inside the cgroup.
    auto signal_init = [&] {
        const char go = 1;
        if (write(sync->write_end.get(), &go, 1) != 1)
            spdlog::debug("sync write failed: {}", std::strerror(errno));
    };
    signal_init();
    if (pids_limit && pids_limit->self_join_fd() < 0) {
        if (auto st = pids_limit->add(init_pid); !st) {
            spdlog::debug("no pids cgroup for this run: {}", st.error().message);
            pids_limit.reset();
        }
    }
    signal_init();
    sync->write_end.reset();

    Stream streams[2] = {
        {std::move(out->read_end), req.command_stdout_to_stderr ? STDERR_FILENO : STDOUT_FILENO,
         std::move(out_log)},
        {std::move(err->read_end), STDERR_FILENO, std::move(err_log)}};
    StatusFrames frames;
    bool status_open = true;
    bool init_done = false;
    int init_wait_status = 0;
    int interrupts = 0;
    auto init_done_at = std::chrono::steady_clock::time_point{};

    // Done when the command's status arrived (init has then killed and reaped every
    // other process of the sandbox) or init is gone, and its output is drained.
    auto status_known = [&] { return !status_open || frames.exit_wait_status.has_value(); };
    bool progress_shown = false;
    while (!(init_done || status_known()) || streams[0].open || streams[1].open) {
        const auto now = std::chrono::steady_clock::now();
        int timeout_ms = -1;
        if (req.timeout.count() > 0 && !init_done) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(started + req.timeout - now);
            if (left.count() <= 0) {
                spdlog::info("timeout after {} ms: killing the sandbox", req.timeout.count());
                outcome.timed_out = true;
                kill(init_pid, SIGKILL);
                timeout_ms = 100;
            } else {
                timeout_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1'000'000));
            }
        }
        // Progress for a person watching: after a second, every quarter of one.
        if (req.progress && !init_done && !status_known()) {
            const auto elapsed = now - started;
            if (elapsed > std::chrono::seconds(1)) {
                std::fprintf(stderr,
                             "\r\x1b[Kwhatif: %.1f s · %zu processes · %zu network attempts",
                             std::chrono::duration<double>(elapsed).count(), frames.execs.size(),
                             frames.net.size() + frames.connects.size());
                std::fflush(stderr);
                progress_shown = true;
            }
            timeout_ms = timeout_ms < 0 ? 250 : std::min(timeout_ms, 250);
        }
        if (init_done || status_known()) {
            // Nothing in the sandbox can send any more: the stub server may read
            // what its sockets hold and end while the output drains.
            if (stub) stub->request_stop();
            // Every process of the namespace is gone; pipes close at once. A bounded
            // wait guards against a descriptor passed outside (it cannot happen today).
            if (init_done_at == std::chrono::steady_clock::time_point{}) init_done_at = now;
            if (now - init_done_at > std::chrono::seconds(2)) break;
            timeout_ms = 100;
        }
        pollfd fds[4] = {{streams[0].open ? streams[0].from.get() : -1, POLLIN, 0},
                         {streams[1].open ? streams[1].from.get() : -1, POLLIN, 0},
                         {status_open ? status->read_end.get() : -1, POLLIN, 0},
                         {sigfd.get(), POLLIN, 0}};
        const int ready = poll(fds, 4, timeout_ms);
        if (ready < 0 && errno != EINTR) return fail_errno("poll");
        for (int i = 0; i < 2; ++i)
            if (fds[i].revents != 0) streams[i].pump();
        if (fds[2].revents != 0) {
            char buf[1024];
            const ssize_t n = read(status->read_end.get(), buf, sizeof buf);
            if (n > 0) {
                frames.bytes.append(buf, static_cast<size_t>(n));
                frames.parse();
            } else if (n == 0 || errno != EINTR) {
                status_open = false;
            }
        }
        if (fds[3].revents != 0) {
            signalfd_siginfo info{};
            while (read(sigfd.get(), &info, sizeof info) == sizeof info) {
                const int sig = static_cast<int>(info.ssi_signo);
                if (sig == SIGCHLD) continue;
                if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
                    ++interrupts;
                if (interrupts >= 2) {
                    spdlog::warn("interrupted again: killing the sandbox");
                    kill(init_pid, SIGKILL);
                } else {
                    // The command has a session of its own: a terminal's Ctrl-C
                    // reaches it only through us (and init).
                    kill(init_pid, sig);
                }
            }
        }
        if (!init_done && waitpid(init_pid, &init_wait_status, WNOHANG) == init_pid)
            init_done = true;
    }
    if (!init_done && !status_known()) {
        kill(init_pid, SIGKILL);
        waitpid(init_pid, &init_wait_status, 0);
    }
    if (progress_shown) std::fprintf(stderr, "\r\x1b[K");
    // Otherwise init may still be exiting while the kernel unmounts the sandbox's
    // overlays; nothing can write to them any more. If we finish first, the host's
    // init reaps it.
    outcome.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
    util::log_phase("sandbox exited");

    if (frames.setup_error) {
        std::string msg = "sandbox set-up failed: " + *frames.setup_error;
        const auto says = [&](const char* what) {
            return frames.setup_error->find(what) != std::string::npos;
        };
        // init makes the command's user namespace when the clone did not: its
        // unshare's errno says what the clone's would have.
        const int userns_errno = !says("CLONE_NEWUSER") ? 0
                                 : says("ENOSPC")       ? ENOSPC
                                 : says("EPERM")        ? EPERM
                                                        : 0;
        if (says("EACCES") || says("EPERM") || userns_errno != 0)
            if (const std::string why = user::userns_diagnosis(userns_errno); !why.empty())
                msg += "; " + why;
        return fail(msg);
    }
    if (frames.exit_wait_status) {
        const int command_status = *frames.exit_wait_status;
        if (WIFEXITED(command_status)) outcome.exit_status = WEXITSTATUS(command_status);
        if (WIFSIGNALED(command_status)) outcome.signal = WTERMSIG(command_status);
    } else if (outcome.timed_out ||
               (WIFSIGNALED(init_wait_status) && WTERMSIG(init_wait_status) == SIGKILL)) {
        outcome.signal = SIGKILL;  // the whole sandbox was killed (timeout, or a second interrupt)
    } else {
        return fail("the sandbox ended without reporting the command's status");
    }
    outcome.command_pid = frames.command_pid;
    outcome.mounts_not_overlaid = std::move(frames.mounts_not_overlaid);
    outcome.execs = std::move(frames.execs);
    outcome.connects = std::move(frames.connects);
    outcome.net = std::move(frames.net);
    outcome.survivors = std::move(frames.survivors);
    outcome.signals = std::move(frames.signals);
    outcome.background_grace = req.background_grace;
    outcome.command_is_background = req.command_is_background;
    if (stub) {
        stub->stop();
        outcome.dns = std::move(stub->dns_events);
        outcome.sinks = std::move(stub->sink_events);
        outcome.names = stub->addresses.names();
    }
    for (auto& r : outcome.net)
        if (auto it = outcome.names.find(r.address); it != outcome.names.end()) r.host = it->second;
    // work/ stays until the run is discarded: deleting it here would put
    // milliseconds on every run's critical path for no one's benefit.
    // The upper roots carried the host's permissions for the run (a 0700 /root gives
    // an unprivileged caller 0000); the scan must read them as their owner. (Most
    // grant that already; each chmod is an inode write on the store's disk.)
    if (!plan.caller_is_root)
        for (const ChildMount& m : plan.mounts)
            if (m.kind == StepKind::overlay && (m.upper_mode & 0500) != 0500)
                chmod(m.upper.c_str(), 0700);
    return outcome;
}

}  // namespace whatif::sandbox
