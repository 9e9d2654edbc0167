#include "whatif/sandbox/stand_ins.hpp"

#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

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

bool in_groups(gid_t gid, const CallerIds& caller) {
    return gid == caller.gid ||
           std::find(caller.groups.begin(), caller.groups.end(), gid) != caller.groups.end();
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

mode_t caller_owned_mode(const struct stat& st, const CallerIds& caller) {
    const mode_t perms = st.st_mode & 07777;
    mode_t caller_bits = 0;
    if (st.st_uid == caller.uid)
        caller_bits = (perms >> 6) & 7;
    else if (in_groups(st.st_gid, caller))
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

StandIns make_stand_ins(const MountPlan& plan, const std::vector<std::string>& upper_dirs,
                        const std::vector<std::string>& candidates, const CallerIds& caller) {
    StandIns out;
    std::set<std::string> planned;
    for (const std::string& candidate : candidates) {
        std::string dir = canonical(candidate);
        if (dir.empty()) continue;
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) continue;
        if (!S_ISDIR(st.st_mode)) dir = util::parent_path(dir);
        const MountStep* step = step_holding(plan, dir);
        // A split level's lower is a skeleton of caller-owned dirs (nothing of the
        // host is copied up there), and a read-only mount refuses writes for real too.
        if (step == nullptr || step->kind != StepKind::overlay || !step->skeleton.empty() ||
            step->layer < 0 || static_cast<size_t>(step->layer) >= upper_dirs.size())
            continue;
        // The dirs from the layer's root (excluded: upper_root_permissions) down to dir.
        std::vector<std::string> chain;
        for (std::string a = dir; a != step->target && util::path_is_within(a, step->target);
             a = util::parent_path(a))
            chain.push_back(a);
        std::reverse(chain.begin(), chain.end());
        std::vector<struct stat> stats(chain.size());
        size_t deepest_foreign = chain.size();
        for (size_t i = 0; i < chain.size(); ++i) {
            if (lstat(chain[i].c_str(), &stats[i]) != 0 || !S_ISDIR(stats[i].st_mode)) break;
            if (!owners_mapped(stats[i], caller)) deepest_foreign = i;
        }
        if (deepest_foreign == chain.size()) continue;
        const std::string& root = step->target;
        for (size_t i = 0; i <= deepest_foreign; ++i) {
            if (!planned.insert(chain[i]).second) continue;
            const std::string rel = root == "/" ? chain[i] : chain[i].substr(root.size());
            // A dir of the caller's own on the way keeps its mode, exactly.
            const mode_t mode = owners_mapped(stats[i], caller)
                                    ? (stats[i].st_mode & 07777)
                                    : caller_owned_mode(stats[i], caller);
            out.dirs.push_back({chain[i], util::join_path(upper_dirs[step->layer], rel), mode,
                                caller.uid, caller.gid});
        }
    }
    std::sort(out.dirs.begin(), out.dirs.end(),
              [](const StandIn& a, const StandIn& b) { return a.upper_path < b.upper_path; });
    // Made 0700 first: a stand-in the caller may not write in still gets its children.
    std::vector<StandIn> made;
    for (const StandIn& s : out.dirs) {
        if (auto st = util::make_dirs(util::parent_path(s.upper_path));
            !st || (mkdir(s.upper_path.c_str(), 0700) != 0 && errno != EEXIST)) {
            spdlog::warn("no stand-in for {}: mkdir({}): {}", s.host_path, s.upper_path,
                         std::strerror(errno));
            out.refused.push_back(s.host_path);
            continue;
        }
        made.push_back(s);
    }
    for (auto it = made.rbegin(); it != made.rend(); ++it)
        if (chmod(it->upper_path.c_str(), it->mode) != 0)
            spdlog::warn("stand-in for {}: chmod({}, {:o}): {}", it->host_path, it->upper_path,
                         it->mode, std::strerror(errno));
    out.dirs = std::move(made);
    return out;
}

}  // namespace whatif::sandbox
