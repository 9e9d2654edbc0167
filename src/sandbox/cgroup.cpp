#include "whatif/sandbox/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>
#include <string_view>

#include "whatif/util/fs.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::sandbox::cgroup {

namespace {

bool filesystem_is(const char* path, long magic) {
    struct statfs fs {};
    return statfs(path, &fs) == 0 && fs.f_type == magic;
}

// cgroupfs files take one write of the whole value.
bool write_value(const std::string& path, const std::string& value, std::string& why) {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd || write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
        why = "write(" + path + ", \"" + value + "\"): " + std::strerror(errno);
        return false;
    }
    return true;
}

bool make_dir(const std::string& path, std::string& why) {
    if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return true;
    why = "mkdir(" + path + "): " + std::strerror(errno);
    return false;
}

// cgroup.controllers and cgroup.subtree_control: controller names, space-separated.
bool lists_controller(const std::string& list, const std::string& name) {
    std::istringstream words(list);
    for (std::string word; words >> word;)
        if (word == name) return true;
    return false;
}

// A run's cgroup, renamed by its run when its last processes were still leaving.
constexpr std::string_view kEndedPrefix = "ended-";

// Cgroups of ended runs, and of runs whose whatif was killed, are removed here.
// rmdir succeeds only on empty ones; a young one without the ended mark may be a
// concurrent run's, just made and not yet joined, so it is left alone.
void sweep_leftovers(const std::string& parent) {
    DIR* dir = opendir(parent.c_str());
    if (dir == nullptr) return;
    const time_t now = time(nullptr);
    while (const dirent* e = readdir(dir)) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.') continue;
        const std::string path = util::join_path(parent, e->d_name);
        if (std::string_view(e->d_name).starts_with(kEndedPrefix)) {
            rmdir(path.c_str());
            continue;
        }
        struct stat st {};
        if (stat(path.c_str(), &st) == 0 && now - st.st_mtime > 10) rmdir(path.c_str());
    }
    closedir(dir);
}

// The directory under which runs get their cgroups, with the pids controller on.
std::string prepare_parent(std::string& why) {
    if (filesystem_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC)) {
        const std::string root = "/sys/fs/cgroup";
        auto controllers = util::read_file(root + "/cgroup.controllers");
        if (!controllers || !lists_controller(*controllers, "pids")) {
            why = "cgroup v2 offers no pids controller here";
            return {};
        }
        auto enabled = util::read_file(root + "/cgroup.subtree_control");
        if (!enabled || !lists_controller(*enabled, "pids"))
            if (!write_value(root + "/cgroup.subtree_control", "+pids", why)) return {};
        const std::string parent = root + "/whatif";
        if (!make_dir(parent, why)) return {};
        if (!write_value(parent + "/cgroup.subtree_control", "+pids", why)) return {};
        return parent;
    }
    if (filesystem_is("/sys/fs/cgroup/pids", CGROUP_SUPER_MAGIC)) {
        const std::string parent = "/sys/fs/cgroup/pids/whatif";
        if (!make_dir(parent, why)) return {};
        return parent;
    }
    why = "no cgroup v2 and no cgroup v1 pids hierarchy at /sys/fs/cgroup";
    return {};
}

}  // namespace

std::optional<PidsLimit> PidsLimit::create(const std::string& run_id, unsigned max_pids,
                                           std::string& why) {
    if (geteuid() != 0) {
        why = "not root";
        return std::nullopt;
    }
    const std::string parent = prepare_parent(why);
    if (parent.empty()) return std::nullopt;
    sweep_leftovers(parent);
    const std::string dir = util::join_path(parent, run_id);
    if (mkdir(dir.c_str(), 0755) != 0) {
        why = "mkdir(" + dir + "): " + std::strerror(errno);
        return std::nullopt;
    }
    PidsLimit limit(dir);
    if (!write_value(dir + "/pids.max", std::to_string(max_pids), why)) return std::nullopt;
    if (filesystem_is(dir.c_str(), CGROUP_SUPER_MAGIC)) {
        limit.self_join_.reset(open((dir + "/tasks").c_str(), O_WRONLY | O_CLOEXEC));
        if (!limit.self_join_) {
            why = "open(" + dir + "/tasks): " + std::strerror(errno);
            return std::nullopt;
        }
    }
    return limit;
}

Status PidsLimit::add(pid_t pid) const {
    std::string why;
    if (!write_value(dir_ + "/cgroup.procs", std::to_string(pid), why)) return fail(why);
    return {};
}

PidsLimit::~PidsLimit() {
    if (dir_.empty()) return;
    if (rmdir(dir_.c_str()) == 0 || errno == ENOENT) return;
    // Init is usually still leaving: its exit unmounts the sandbox, which is kept
    // off the critical path, and waiting for it here cost 1 to 3 ms a run. Marked as
    // ended, the cgroup is the next run's to remove.
    const std::string ended =
        util::join_path(util::parent_path(dir_), std::string(kEndedPrefix) + util::base_name(dir_));
    if (rename(dir_.c_str(), ended.c_str()) != 0)
        spdlog::debug("rename({}, {}): {}; the next run removes it after 10 s", dir_, ended,
                      std::strerror(errno));
}

}  // namespace whatif::sandbox::cgroup
