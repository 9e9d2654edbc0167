#include "whatif/cli/capture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string_view>

#include "whatif/sandbox/stand_ins.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::cli {

namespace {

std::string seconds_text(int64_t ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
    return buf;
}

}  // namespace

void record_sandbox_gaps(const sandbox::RunOutcome& outcome, effects::EffectSet& set) {
    if (outcome.timed_out)
        set.run.add_gap({"timeout",
                         "the dry run timed out after " + seconds_text(outcome.duration_ms) +
                             " and was killed: what the command would do after that is unknown",
                         {},
                         {}});
    if (!outcome.mounts_not_overlaid.empty())
        set.run.add_gap({"unsupported-mount",
                         "a mount could not be overlaid and was read-only in the dry run, so "
                         "writes there failed that would not fail for real (see the warnings)",
                         {},
                         {}});
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
