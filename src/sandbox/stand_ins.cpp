#include "whatif/sandbox/stand_ins.hpp"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <algorithm>

#include "whatif/util/fs.hpp"

namespace whatif::sandbox {

namespace {

std::string canonical(const std::string& path) {
    char buf[PATH_MAX];
    if (realpath(path.c_str(), buf) == nullptr) return {};
    return buf;
}

// The deepest step whose target holds `path`: the mount the path is seen through.
const MountStep* step_holding(const MountPlan& plan, const std::string& path) {
    const MountStep* best = nullptr;
    for (const MountStep& step : plan.steps)
        if (util::path_is_within(path, step.target) &&
            (best == nullptr || step.target.size() >= best->target.size()))
            best = &step;
    return best;
}

}  // namespace

CallerIds CallerIds::of_this_process() {
    CallerIds ids{geteuid(), getegid(), {}};
    ids.groups.resize(static_cast<size_t>(std::max(getgroups(0, nullptr), 0)));
    const int n = getgroups(static_cast<int>(ids.groups.size()), ids.groups.data());
    ids.groups.resize(static_cast<size_t>(std::max(n, 0)));
    return ids;
}

bool CallerIds::in_group(gid_t g) const {
    return g == gid || std::find(groups.begin(), groups.end(), g) != groups.end();
}

mode_t caller_owned_mode(const struct stat& st, const CallerIds& caller) {
    const mode_t perms = st.st_mode & 07777;
    mode_t caller_bits = 0;
    if (st.st_uid == caller.uid)
        caller_bits = (perms >> 6) & 7;
    else if (caller.in_group(st.st_gid))
        caller_bits = (perms >> 3) & 7;
    else
        caller_bits = perms & 7;
    return (perms & 01077) | (caller_bits << 6);
}

bool owners_mapped(const struct stat& st, const CallerIds& caller) {
    return st.st_uid == caller.uid && st.st_gid == caller.gid;
}

std::vector<std::string> paths_named_by(const std::vector<std::string>& argv,
                                        const std::string& cwd, size_t limit) {
    std::set<std::string> words;
    for (const std::string& arg : argv) {
        if (words.size() >= limit) break;
        if (arg.size() < PATH_MAX) words.insert(arg);
        // The words of a shell command line: cheap, and a word that names no
        // existing path costs one failed realpath.
        size_t start = 0;
        while (start < arg.size() && words.size() < limit) {
            const size_t end = arg.find_first_of(" \t\n;&|<>()'\"`=", start);
            const std::string word =
                arg.substr(start, end == std::string::npos ? std::string::npos : end - start);
            if (!word.empty() && word.size() < PATH_MAX) words.insert(word);
            if (end == std::string::npos) break;
            start = end + 1;
        }
    }
    std::set<std::string> found;
    for (const std::string& word : words) {
        if (word.empty() || word.front() == '-') continue;
        const std::string full = word.front() == '/' ? word : util::join_path(cwd, word);
        std::string path = canonical(full);
        // A path the command may create: its directory is where it writes.
        if (path.empty()) path = canonical(util::parent_path(full));
        if (!path.empty()) found.insert(path);
    }
    return {found.begin(), found.end()};
}

namespace {

// The dirs from a step's root (excluded: upper_root_permissions) down to dir.
std::vector<std::string> chain_below(const MountStep& step, const std::string& dir) {
    std::vector<std::string> chain;
    for (std::string a = dir; a != step.target && util::path_is_within(a, step.target);
         a = util::parent_path(a))
        chain.push_back(a);
    std::reverse(chain.begin(), chain.end());
    return chain;
}

// A step whose upper dir whatif may seed: an overlay of the host itself. A split
// level's lower is a skeleton of caller-owned dirs (nothing of the host is copied
// up there), and a read-only mount refuses writes for real too.
bool seedable(const MountStep* step, const std::vector<std::string>& upper_dirs) {
    return step != nullptr && step->kind == StepKind::overlay && step->skeleton.empty() &&
           step->layer >= 0 && static_cast<size_t>(step->layer) < upper_dirs.size();
}

std::string upper_path_in(const MountStep& step, const std::vector<std::string>& upper_dirs,
                          const std::string& host_path) {
    const std::string rel = step.target == "/" ? host_path : host_path.substr(step.target.size());
    return util::join_path(upper_dirs[step.layer], rel);
}

}  // namespace

StandIns make_stand_ins(const MountPlan& plan, const std::vector<std::string>& upper_dirs,
                        const std::vector<std::string>& candidates, const CallerIds& caller,
                        const std::vector<std::pair<std::string, std::string>>& decoys) {
    StandIns out;
    std::set<std::string> planned;
    for (const std::string& candidate : candidates) {
        std::string dir = canonical(candidate);
        if (dir.empty()) continue;
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) dir = util::parent_path(dir);
        const MountStep* step = step_holding(plan, dir);
        if (!seedable(step, upper_dirs)) continue;
        const std::vector<std::string> chain = chain_below(*step, dir);
        std::vector<struct stat> stats(chain.size());
        size_t deepest_foreign = chain.size();
        for (size_t i = 0; i < chain.size(); ++i) {
            if (lstat(chain[i].c_str(), &stats[i]) != 0 || !S_ISDIR(stats[i].st_mode)) break;
            if (!owners_mapped(stats[i], caller)) deepest_foreign = i;
        }
        if (deepest_foreign == chain.size()) continue;
        for (size_t i = 0; i <= deepest_foreign; ++i) {
            if (!planned.insert(chain[i]).second) continue;
            // A dir of the caller's own on the way keeps its mode, exactly.
            const mode_t mode = owners_mapped(stats[i], caller)
                                    ? (stats[i].st_mode & 07777)
                                    : caller_owned_mode(stats[i], caller);
            out.dirs.push_back({chain[i], upper_path_in(*step, upper_dirs, chain[i]), mode,
                                caller.uid, caller.gid});
        }
    }
    // Decoys: their parents as the host has them (root: owner too; anyone else: a
    // foreign-owned one as a stand-in above), then the file itself.
    const bool root = caller.uid == 0;
    struct PlannedFile {
        std::string source;
        StandInFile file;
        struct stat host {};
    };
    std::vector<PlannedFile> files;
    for (const auto& [source, host_path] : decoys) {
        const MountStep* step = step_holding(plan, host_path);
        struct stat host {};
        bool placeable = seedable(step, upper_dirs) && lstat(host_path.c_str(), &host) == 0 &&
                         S_ISREG(host.st_mode);
        std::vector<StandIn> parents;
        if (placeable)
            for (const std::string& dir : chain_below(*step, util::parent_path(host_path))) {
                struct stat st {};
                if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
                    placeable = false;  // changed since the credential was found
                    break;
                }
                if (planned.contains(dir)) continue;
                if (root)
                    parents.push_back({dir, upper_path_in(*step, upper_dirs, dir),
                                       st.st_mode & 07777, st.st_uid, st.st_gid});
                else
                    parents.push_back({dir, upper_path_in(*step, upper_dirs, dir),
                                       owners_mapped(st, caller) ? (st.st_mode & 07777)
                                                                 : caller_owned_mode(st, caller),
                                       caller.uid, caller.gid});
            }
        if (!placeable) {
            out.bound_decoys.emplace_back(source, host_path);
            continue;
        }
        for (StandIn& p : parents)
            if (planned.insert(p.host_path).second) out.dirs.push_back(std::move(p));
        PlannedFile f;
        f.source = source;
        f.host = host;
        f.file = {host_path, upper_path_in(*step, upper_dirs, host_path), host.st_mode & 07777,
                  root ? host.st_uid : caller.uid, root ? host.st_gid : caller.gid};
        files.push_back(std::move(f));
    }
    std::sort(out.dirs.begin(), out.dirs.end(),
              [](const StandIn& a, const StandIn& b) { return a.upper_path < b.upper_path; });
    // Made 0700 first: a stand-in the caller may not write in still gets its children.
    std::vector<StandIn> made;
    std::set<std::string> refused_dirs;
    for (const StandIn& s : out.dirs) {
        if (auto st = util::make_dirs(util::parent_path(s.upper_path));
            !st || (mkdir(s.upper_path.c_str(), 0700) != 0 && errno != EEXIST)) {
            spdlog::warn("no stand-in for {}: mkdir({}): {}", s.host_path, s.upper_path,
                         std::strerror(errno));
            out.refused.push_back(s.host_path);
            refused_dirs.insert(s.host_path);
            continue;
        }
        if (root && (s.uid != 0 || s.gid != 0) && chown(s.upper_path.c_str(), s.uid, s.gid) != 0)
            spdlog::warn("stand-in for {}: chown({}): {}", s.host_path, s.upper_path,
                         std::strerror(errno));
        made.push_back(s);
    }
    // The decoy's inode moves (the read watch on it stays: DecoyWatch); it takes the
    // real file's mode, times and (root) owner, so that 'ls -l' shows the same and an
    // untouched decoy is no effect.
    for (PlannedFile& f : files) {
        const StandInFile& file = f.file;
        const bool parent_ok = !refused_dirs.contains(util::parent_path(file.host_path));
        if (!parent_ok || rename(f.source.c_str(), file.upper_path.c_str()) != 0) {
            spdlog::warn("decoy for {} stays a bind mount: rename({}, {}): {}", file.host_path,
                         f.source, file.upper_path,
                         parent_ok ? std::strerror(errno) : "its parent has no stand-in");
            out.bound_decoys.emplace_back(f.source, file.host_path);
            continue;
        }
        if (root && (file.uid != 0 || file.gid != 0) &&
            chown(file.upper_path.c_str(), file.uid, file.gid) != 0)
            spdlog::warn("decoy for {}: chown({}): {}", file.host_path, file.upper_path,
                         std::strerror(errno));
        if (chmod(file.upper_path.c_str(), file.mode) != 0)
            spdlog::warn("decoy for {}: chmod({}, {:o}): {}", file.host_path, file.upper_path,
                         file.mode, std::strerror(errno));
        const timespec times[2] = {f.host.st_atim, f.host.st_mtim};
        if (utimensat(AT_FDCWD, file.upper_path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
            spdlog::warn("decoy for {}: utimensat({}): {}", file.host_path, file.upper_path,
                         std::strerror(errno));
        out.files.push_back(file);
    }
    for (auto it = made.rbegin(); it != made.rend(); ++it)
        if (chmod(it->upper_path.c_str(), it->mode) != 0)
            spdlog::warn("stand-in for {}: chmod({}, {:o}): {}", it->host_path, it->upper_path,
                         it->mode, std::strerror(errno));
    out.dirs = std::move(made);
    return out;
}

}  // namespace whatif::sandbox
