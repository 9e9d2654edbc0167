#include "whatif/cli/capture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string_view>

#include "whatif/effects/scanner.hpp"
#include "whatif/sandbox/caps.hpp"
#include "whatif/sandbox/stand_ins.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::cli {

namespace {

std::string seconds_text(int64_t ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

// A command line as a person reads it in one sentence: words joined, long ones cut.
std::string short_command(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
        if (out.size() > 80) return util::to_valid_utf8(out.substr(0, 77)) + "...";
    }
    return util::to_valid_utf8(out);
}

// Processes still running when the grace after the command's end was over: killed
// then, so what they would have done is unknown.
void record_survivors(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    if (outcome.survivors.empty()) return;
    const size_t n = outcome.survivors.size();
    std::string listed;
    std::vector<int> pids;
    for (size_t i = 0; i < n; ++i) {
        pids.push_back(outcome.survivors[i].pid);
        if (i == 5) {
            listed += " and " + std::to_string(n - 5) + " more";
            continue;
        }
        if (i < 5) listed += (i == 0 ? "" : ", ") + short_command(outcome.survivors[i].argv);
    }
    const std::string grace = seconds_text(outcome.background_grace.count());
    std::string message =
        std::to_string(n) + (n == 1 ? " process was" : " processes were") + " still running " +
        (outcome.command_is_background ? grace + " after the background command started"
                                       : grace + " after the command ended") +
        ": " + listed + " — what " + (n == 1 ? "it" : "they") + " would do is unknown (" +
        (n == 1 ? "it was" : "they were") + " killed then)";
    set.run.add_gap({"background-processes", std::move(message), {}, std::move(pids)});
}

// What a program gains for real from its set-id bits and file capabilities, which
// no_new_privs withholds in the sandbox ("setgid crontab"); empty when it gains
// nothing for this caller.
std::string privilege_of(const std::string& host_path, bool caller_is_root) {
    struct stat st {};
    if (stat(host_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
    std::string gains;
    if ((st.st_mode & S_ISUID) != 0 && st.st_uid != geteuid()) gains = "setuid";
    // setgid without group execute is a locking mark, not a privilege.
    if ((st.st_mode & S_ISGID) != 0 && (st.st_mode & S_IXGRP) != 0 && !caller_is_root) {
        std::vector<gid_t> groups(static_cast<size_t>(std::max(getgroups(0, nullptr), 0)));
        groups.resize(static_cast<size_t>(
            std::max(getgroups(static_cast<int>(groups.size()), groups.data()), 0)));
        if (st.st_gid != getegid() &&
            std::find(groups.begin(), groups.end(), st.st_gid) == groups.end())
            gains += gains.empty() ? "setgid" : "/setgid";
    }
    if (getxattr(host_path.c_str(), "security.capability", nullptr, 0) > 0) {
        // A root caller keeps a few capabilities inside (caps.cpp); only more counts.
        bool more = !caller_is_root;
        if (cap_t file = cap_get_file(host_path.c_str())) {
            for (cap_value_t c = 0; c <= CAP_LAST_CAP && !more; ++c) {
                cap_flag_value_t permitted = CAP_CLEAR;
                cap_get_flag(file, c, CAP_PERMITTED, &permitted);
                if (permitted == CAP_SET && !sandbox::caps::kept_for_root(c)) more = true;
            }
            if (more) {
                char* text = cap_to_text(file, nullptr);
                gains += (gains.empty() ? "" : " and ") + std::string("file capabilities (") +
                         (text != nullptr ? text : "?") + ")";
                cap_free(text);
            }
            cap_free(file);
        }
    }
    if (gains.empty()) return {};
    // The kernel ignores set-id bits on scripts; it runs their interpreter.
    char magic[2] = {};
    const int fd = open(host_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        const bool script = read(fd, magic, 2) == 2 && magic[0] == '#' && magic[1] == '!';
        close(fd);
        if (script) return {};
    }
    return gains;
}

// Programs that run for real with privileges they lack in the dry run (crontab,
// passwd, sudo, ping): what they do for real is unknown. Only host files count: a
// program the command wrote itself (in the upper layer) gains nothing it did not have.
void record_privileged_execs(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    std::vector<effects::ScanLayer> layers;
    for (const auto& l : outcome.layers) layers.push_back({l.host_mount, l.upper_dir});
    std::map<std::string, std::vector<int>> pids_of;  // by program
    std::vector<std::string> order;
    for (const auto& e : outcome.execs) {
        if (e.exe.empty() || e.exe.front() != '/') continue;
        auto [it, fresh] = pids_of.try_emplace(e.exe);
        if (fresh) order.push_back(e.exe);
        it->second.push_back(e.pid);
    }
    const bool caller_is_root = geteuid() == 0;
    for (const auto& exe : order) {
        struct stat st {};
        const std::string upper = effects::upper_path_of(layers, exe);
        if (!upper.empty() && lstat(upper.c_str(), &st) == 0) continue;  // the command's own
        const std::string gains = privilege_of(exe, caller_is_root);
        if (gains.empty()) continue;
        set.run.add_gap({"privileged-exec",
                         "ran " + util::to_valid_utf8(util::base_name(exe)) + " without its " +
                             gains + " privilege: what it does for real is unknown",
                         {exe},
                         pids_of[exe]});
    }
}

// pkill, killall, pgrep, pidof look for processes, and the host's are hidden in
// the dry run's pid namespace: whatever they found, or killed, inside is not what
// they find for real.
void record_hidden_process_lookups(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    static const std::set<std::string> kLookups = {"pkill", "killall", "pgrep", "pidof"};
    std::set<std::string> seen;
    for (const auto& e : outcome.execs) {
        const std::string name = util::base_name(e.argv.empty() ? e.exe : e.argv.front());
        if (!kLookups.contains(name)) continue;
        std::vector<std::string> shown = e.argv;
        if (!shown.empty()) shown.front() = name;
        const std::string command = short_command(shown.empty() ? std::vector{name} : shown);
        if (!seen.insert(command).second) continue;
        const bool kills = name == "pkill" || name == "killall";
        set.run.add_gap(
            {"hidden-processes",
             command + " looked for processes, and the host's are hidden in the dry run: " +
                 (kills ? "for real it may kill processes the dry run could not see"
                        : "for real it may find processes, and what the command then does "
                          "with them is unknown"),
             {},
             {e.pid}});
    }
}

}  // namespace

void record_sandbox_gaps(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    if (outcome.timed_out)
        set.run.add_gap({"timeout",
                         "the dry run timed out after " + seconds_text(outcome.duration_ms) +
                             " and was killed: what the command would do after that is unknown",
                         {},
                         {}});
    record_survivors(outcome, set);
    if (!outcome.mounts_not_overlaid.empty())
        set.run.add_gap({"unsupported-mount",
                         "a mount could not be overlaid and was read-only in the dry run, so "
                         "writes there failed that would not fail for real (see the warnings)",
                         {},
                         {}});
    record_privileged_execs(outcome, set);
    record_hidden_process_lookups(outcome, set);
}

void record_store_full(const std::string& store_root, effects::EffectSet& set) {
    set.run.add_gap({"store-full",
                     "the run store filled up, so the command's writes failed in the dry run "
                     "that would not fail for real",
                     {store_root},
                     {}});
}

}  // namespace whatif::cli

namespace whatif::cli {

namespace {

constexpr size_t kLogWindow = 1 << 20;
constexpr size_t kCwdEntryLimit = 4096;

// The first and the last kLogWindow bytes of a log (all of it when smaller).
std::string log_head_and_tail(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return {};
    const auto size = static_cast<size_t>(st.st_size);
    auto read_at = [&](size_t offset, size_t count) {
        std::string buf(count, '\0');
        const ssize_t n = pread(fd.get(), buf.data(), count, static_cast<off_t>(offset));
        buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
        return buf;
    };
    if (size <= 2 * kLogWindow) return read_at(0, size);
    return read_at(0, kLogWindow) + "\n" + read_at(size - kLogWindow, kLogWindow);
}

// Lines of the command's output that carry EOVERFLOW, at most three.
std::vector<std::string> eoverflow_lines(const std::string& text) {
    static constexpr std::string_view kMarkers[] = {"Value too large for defined data type",
                                                    "EOVERFLOW", "Errno 75"};
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size() && out.size() < 3) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        for (std::string_view marker : kMarkers)
            if (line.find(marker) != std::string_view::npos) {
                out.emplace_back(line.substr(0, 200));
                break;
            }
        start = end + 1;
    }
    return out;
}

// Lines of the command's output where the sandbox's own plumbing refused an
// operation on a decoy that is a bind mount: unlink or rmdir of a mount point
// (EBUSY), rename across it (EXDEV). Only lines that name a decoy count. At most three.
std::vector<std::string> refused_on_mount_lines(const std::string& text,
                                                const std::vector<std::string>& bound) {
    static constexpr std::string_view kMarkers[] = {
        "Device or resource busy",   "EBUSY", "Errno 16",
        "Invalid cross-device link", "EXDEV", "Errno 18"};
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size() && out.size() < 3) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        const std::string_view line(text.data() + start, end - start);
        bool marked = false;
        for (std::string_view marker : kMarkers)
            marked |= line.find(marker) != std::string_view::npos;
        bool names_decoy = false;
        for (const std::string& path : bound)
            names_decoy |= line.find(util::base_name(path)) != std::string_view::npos;
        if (marked && names_decoy) out.emplace_back(line.substr(0, 200));
        start = end + 1;
    }
    return out;
}

}  // namespace

void record_decoy_mount_refusals(const std::string& run_dir, const sandbox::RunOutcome& outcome,
                                 effects::EffectSet& set) {
    std::vector<std::string> bound;
    for (const auto& [decoy, host] : outcome.stand_ins.bound_decoys) bound.push_back(host);
    if (bound.empty()) return;
    std::vector<std::string> lines;
    for (const char* log : {"stderr.log", "stdout.log"})
        for (std::string& line :
             refused_on_mount_lines(log_head_and_tail(util::join_path(run_dir, log)), bound))
            if (lines.size() < 3) lines.push_back(std::move(line));
    if (lines.empty()) return;
    std::string message =
        "the sandbox refused to delete or rename a credential file that it could only cover "
        "with a decoy mount (Device or resource busy, or Invalid cross-device link): for real "
        "it would succeed, and what the command would do after that is unknown; it said: ";
    for (size_t i = 0; i < lines.size(); ++i) message += (i > 0 ? " | " : "") + lines[i];
    set.run.add_gap({"sandbox-refused", std::move(message), std::move(bound), {}});
}

std::vector<std::string> unmapped_owner_paths(const std::vector<std::string>& argv,
                                              const std::string& cwd) {
    if (geteuid() == 0) return {};
    const sandbox::CallerIds caller{geteuid(), getegid(), {}};
    std::set<std::string> out;
    for (const std::string& path : sandbox::paths_named_by(argv, cwd)) {
        struct stat st {};
        if (lstat(path.c_str(), &st) == 0 && !S_ISLNK(st.st_mode) &&
            !sandbox::owners_mapped(st, caller))
            out.insert(path);
    }
    UniqueFd dir(open(cwd.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (DIR* d = dir ? fdopendir(dir.get()) : nullptr) {
        dir.release();
        size_t seen = 0;
        while (const dirent* e = readdir(d)) {
            if (++seen > kCwdEntryLimit) break;
            if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
            struct stat st {};
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                !S_ISLNK(st.st_mode) && !sandbox::owners_mapped(st, caller))
                out.insert(util::join_path(cwd, e->d_name));
        }
        closedir(d);
    }
    return {out.begin(), out.end()};
}

void record_sandbox_refused(const std::string& run_dir, const sandbox::RunOutcome& outcome,
                            const std::vector<std::string>& unmapped, effects::EffectSet& set) {
    std::vector<std::string> lines;
    for (const char* log : {"stderr.log", "stdout.log"})
        for (std::string& line : eoverflow_lines(log_head_and_tail(util::join_path(run_dir, log))))
            if (lines.size() < 3) lines.push_back(std::move(line));

    std::set<std::string> stood_in;
    for (const auto& s : outcome.stand_ins.dirs) stood_in.insert(s.host_path);
    // A file the dry run could not write is a doubt only when the command failed:
    // a refused write fails the call, and programs say so (the net above) or exit
    // non-zero. 'ls', 'cat f > out' or 'touch new' in a project holding such a file
    // succeed as for real and are no doubt. Not caught: a program that swallows
    // the error and exits 0 without a word (README: Limits).
    const bool failed = outcome.signal.has_value() || outcome.exit_status.value_or(0) != 0;
    std::vector<std::string> paths = outcome.stand_ins.refused;
    if (failed || !lines.empty())
        for (const std::string& path : unmapped)
            if (!stood_in.contains(path)) paths.push_back(path);
    if (lines.empty() && paths.empty()) return;

    std::string message =
        "the sandbox refused a write the host would allow (a file or directory owned by a user "
        "or group that the unprivileged dry run does not map): what the command would do there "
        "is unknown";
    if (!lines.empty()) {
        message += "; it said: ";
        for (size_t i = 0; i < lines.size(); ++i) message += (i > 0 ? " | " : "") + lines[i];
    }
    set.run.add_gap({"sandbox-refused", std::move(message), std::move(paths), {}});
}

}  // namespace whatif::cli

namespace whatif::cli {

void record_scan_gaps(const effects::ScanResult& scan, effects::EffectSet& set) {
    if (scan.unseen.empty()) return;
    set.run.add_gap({"unreadable-upper",
                     "the scan could not see all the command did (" +
                         util::plural(scan.unseen.size(), "place", "places") +
                         ", see the warnings): what it changed there is unknown",
                     scan.unseen,
                     {}});
}

}  // namespace whatif::cli
