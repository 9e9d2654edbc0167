#include "whatif/sandbox/user.hpp"

#include <cerrno>

#include <fcntl.h>
#include <unistd.h>

#include <sstream>

#include "whatif/util/fs.hpp"

namespace whatif::sandbox::user {

namespace {

Status write_proc_file(const std::string& path, const std::string& content) {
    // One write(2): the kernel accepts an id map only as a single write.
    const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail_errno("open(" + path + ")");
    const ssize_t n = write(fd, content.data(), content.size());
    const int err = errno;
    close(fd);
    if (n != static_cast<ssize_t>(content.size()))
        return fail_errno("write(" + path + ", \"" + content + "\")", err);
    return {};
}

// Root keeps every id its own namespace maps, so file owners stay what they are.
std::string identity_of_own_map(const std::string& own_map_path, unsigned fallback_id) {
    auto text = util::read_file(own_map_path);
    if (!text) return std::to_string(fallback_id) + " " + std::to_string(fallback_id) + " 1\n";
    std::istringstream in(*text);
    std::string out;
    unsigned long inside = 0, outside = 0, count = 0;
    while (in >> inside >> outside >> count)
        out += std::to_string(inside) + " " + std::to_string(inside) + " " + std::to_string(count) +
               "\n";
    return out;
}

std::string read_trimmed(const char* path) {
    auto text = util::read_file(path);
    if (!text) return {};
    std::string s = *text;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

}  // namespace

std::pair<std::string, std::string> identity_maps() {
    return {identity_of_own_map("/proc/self/uid_map", 0),
            identity_of_own_map("/proc/self/gid_map", 0)};
}

Status write_id_maps(pid_t child) {
    const std::string proc = "/proc/" + std::to_string(child);
    const uid_t uid = geteuid();
    const gid_t gid = getegid();
    if (uid == 0) {
        const auto [uid_map, gid_map] = identity_maps();
        if (auto r = write_proc_file(proc + "/uid_map", uid_map); !r) return r;
        return write_proc_file(proc + "/gid_map", gid_map);
    }
    if (auto r = write_proc_file(proc + "/uid_map",
                                 std::to_string(uid) + " " + std::to_string(uid) + " 1\n");
        !r)
        return r;
    // An unprivileged gid map requires setgroups to be denied first.
    if (auto r = write_proc_file(proc + "/setgroups", "deny"); !r) return r;
    return write_proc_file(proc + "/gid_map",
                           std::to_string(gid) + " " + std::to_string(gid) + " 1\n");
}

std::string userns_diagnosis(int clone_errno) {
    if (read_trimmed("/proc/sys/kernel/unprivileged_userns_clone") == "0")
        return "unprivileged user namespaces are disabled: run 'sysctl -w "
               "kernel.unprivileged_userns_clone=1' as root";
    const std::string max = read_trimmed("/proc/sys/user/max_user_namespaces");
    if (max == "0")
        return "user namespaces are disabled: run 'sysctl -w user.max_user_namespaces=15000' as "
               "root";
    if (clone_errno == ENOSPC)
        return "the number of user namespaces reached its limit (user.max_user_namespaces = " +
               max + "): end some, or raise the limit with 'sysctl -w user.max_user_namespaces=" +
               "15000' as root";
    if (read_trimmed("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1")
        return "AppArmor restricts unprivileged user namespaces: run 'sysctl -w "
               "kernel.apparmor_restrict_unprivileged_userns=0' as root, or install an AppArmor "
               "profile for whatif "
               "that allows 'userns'";
    if (clone_errno == EPERM)
        return "creating a user namespace is not permitted here (a container's seccomp filter, "
               "such as Docker's default?): run whatif on the host, or in a container started "
               "with a seccomp profile that allows clone with namespace flags";
    return {};
}

}  // namespace whatif::sandbox::user
