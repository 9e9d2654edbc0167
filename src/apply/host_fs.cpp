#include "whatif/apply/host_fs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "whatif/util/fs.hpp"

namespace whatif::apply {

Result<HostRoot> HostRoot::open() {
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) return fail_errno("open(/)");
    return HostRoot(std::move(root));
}

int HostRoot::open_parent(const std::string& path) const {
    const std::string parent = util::parent_path(path);
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
    const std::string rel = parent == "/" ? "." : parent.substr(1);
    return static_cast<int>(syscall(SYS_openat2, root_.get(), rel.c_str(), &how, sizeof how));
}

Result<HostEntry> HostRoot::entry(const std::string& path) const {
    if (path.size() < 2 || path.front() != '/') return fail("not an absolute path: " + path);
    HostEntry e;
    e.name = util::base_name(path);
    if (e.name.empty() || e.name == "." || e.name == "..") return fail("refusing path " + path);
    const int fd = open_parent(path);
    if (fd < 0) {
        if (errno == ELOOP || errno == EXDEV)
            return fail(util::parent_path(path) +
                        " now has a symlink in its path: refusing to follow it");
        return fail_errno("openat2(" + util::parent_path(path) + ", RESOLVE_NO_SYMLINKS)");
    }
    e.parent.reset(fd);
    return e;
}

Result<std::optional<struct stat>> HostRoot::lstat(const std::string& path) const {
    if (path.size() < 2 || path.front() != '/') return fail("not an absolute path: " + path);
    UniqueFd parent(open_parent(path));
    if (!parent) {
        if (errno == ENOENT || errno == ENOTDIR) return std::optional<struct stat>{};
        if (errno == ELOOP || errno == EXDEV)
            return fail(util::parent_path(path) +
                        " now has a symlink in its path: refusing to follow it");
        return fail_errno("openat2(" + util::parent_path(path) + ", RESOLVE_NO_SYMLINKS)");
    }
    struct stat st {};
    if (fstatat(parent.get(), util::base_name(path).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return std::optional<struct stat>{};
        return fail_errno("lstat(" + path + ")");
    }
    return std::optional<struct stat>{st};
}

}  // namespace whatif::apply
