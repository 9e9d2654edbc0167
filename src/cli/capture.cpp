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
#include <span>
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
    if ((st.st_mode & S_ISGID) != 0 && (st.st_mode & S_IXGRP) != 0 && !caller_is_root &&
        !sandbox::CallerIds::of_this_process().in_group(st.st_gid))
        gains += gains.empty() ? "setgid" : "/setgid";
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

void record_scan_gaps(const effects::ScanResult& scan, effects::EffectSet& set) {
    if (scan.unseen.empty()) return;
    set.run.add_gap({"unreadable-upper",
                     "the scan could not see all the command did (" +
                         util::plural(scan.unseen.size(), "place", "places") +
                         ", see the warnings): what it changed there is unknown",
                     scan.unseen,
                     {}});
}

namespace {

constexpr size_t kLogWindow = 1 << 20;
constexpr size_t kCwdEntryLimit = 4096;
constexpr size_t kQuotedLines = 3;

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

// Lines of `text` that hold one of `markers` and, when `names` is not empty, one of
// those too; at most kQuotedLines, each cut to 200 bytes.
std::vector<std::string> lines_saying(std::string_view text,
                                      std::span<const std::string_view> markers,
                                      const std::vector<std::string>& names = {}) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size() && out.size() < kQuotedLines) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(start, end - start);
        auto says = [&](std::string_view word) {
            return line.find(word) != std::string_view::npos;
        };
        const bool marked = std::any_of(markers.begin(), markers.end(), says);
        const bool named =
            names.empty() ||
            std::any_of(names.begin(), names.end(), [&](const std::string& n) { return says(n); });
        if (marked && named) out.emplace_back(line.substr(0, 200));
        start = end + 1;
    }
    return out;
}

std::string quoted(const std::vector<std::string>& lines) {
    std::string out;
    for (size_t i = 0; i < lines.size(); ++i) out += (i > 0 ? " | " : "") + lines[i];
    return out;
}

// For an unprivileged caller: the files the command names (argv's paths and the
// words of a shell command line) and the entries directly in the cwd whose owner
// or group the sandbox does not map, so that the dry run could not write them
// (overlayfs refuses the copy-up with EOVERFLOW). Read after the run, and only when
// the answer matters: the dry run left the host as the command found it.
std::vector<std::string> unmapped_owner_paths(const std::vector<std::string>& argv,
                                              const std::string& cwd) {
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

}  // namespace

void record_sandbox_refused(const std::string& run_dir, const std::vector<std::string>& argv,
                            const std::string& cwd, const sandbox::RunOutcome& outcome,
                            effects::EffectSet& set) {
    const bool unprivileged = geteuid() != 0;  // root's overlays copy up every owner
    std::vector<std::string> bound_decoys;
    for (const auto& [decoy, host] : outcome.stand_ins.bound_decoys) bound_decoys.push_back(host);
    if (!unprivileged && bound_decoys.empty()) return;
    // What the command printed, read once for both nets below.
    const std::string output = log_head_and_tail(util::join_path(run_dir, "stderr.log")) + "\n" +
                               log_head_and_tail(util::join_path(run_dir, "stdout.log"));

    // A decoy that stayed a bind mount (its credential is on a read-only or split
    // level: stand_ins.hpp) refused an unlink (EBUSY) or a rename (EXDEV), as a
    // line of the output that names it says.
    if (!bound_decoys.empty()) {
        static constexpr std::string_view kMountRefusals[] = {
            "Device or resource busy",   "EBUSY", "Errno 16",
            "Invalid cross-device link", "EXDEV", "Errno 18"};
        std::vector<std::string> names;
        for (const auto& path : bound_decoys) names.push_back(util::base_name(path));
        if (const auto lines = lines_saying(output, kMountRefusals, names); !lines.empty())
            set.run.add_gap({"sandbox-refused",
                             "the sandbox refused to delete or rename a credential file that it "
                             "could only cover with a decoy mount (Device or resource busy, or "
                             "Invalid cross-device link): for real it would succeed, and what "
                             "the command would do after that is unknown; it said: " +
                                 quoted(lines),
                             bound_decoys,
                             {}});
    }
    if (!unprivileged) return;

    // EOVERFLOW in the output, a foreign-owned dir that got no stand-in, or a file
    // the dry run could not write when the command failed. A refused write fails
    // the call, and programs say so (the net above) or exit non-zero: 'ls', 'cat f >
    // out' or 'touch new' in a project holding such a file succeed as for real and
    // are no doubt. Not caught: a program that swallows the error and exits 0
    // without a word (README: Limits).
    static constexpr std::string_view kEoverflow[] = {"Value too large for defined data type",
                                                      "EOVERFLOW", "Errno 75"};
    const std::vector<std::string> lines = lines_saying(output, kEoverflow);
    const bool failed = outcome.signal.has_value() || outcome.exit_status.value_or(0) != 0;
    std::vector<std::string> paths = outcome.stand_ins.refused;
    if (failed || !lines.empty()) {
        std::set<std::string> stood_in;
        for (const auto& s : outcome.stand_ins.dirs) stood_in.insert(s.host_path);
        for (const std::string& path : unmapped_owner_paths(argv, cwd))
            if (!stood_in.contains(path)) paths.push_back(path);
    }
    if (lines.empty() && paths.empty()) return;
    std::string message =
        "the sandbox refused a write the host would allow (a file or directory owned by a user "
        "or group that the unprivileged dry run does not map): what the command would do there "
        "is unknown";
    if (!lines.empty()) message += "; it said: " + quoted(lines);
    set.run.add_gap({"sandbox-refused", std::move(message), std::move(paths), {}});
}

}  // namespace whatif::cli
