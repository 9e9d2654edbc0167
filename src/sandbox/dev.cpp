#include "whatif/sandbox/dev.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace whatif::sandbox::dev {

bool build_dev(const ChildPlan& plan, ChildError& err) {
    if (mount("tmpfs", plan.dev_target.c_str(), "tmpfs", MS_NOSUID | MS_NOEXEC,
              "mode=0755,size=64k") != 0) {
        err.syscall_failed("mount(tmpfs", plan.dev_target.c_str());
        return false;
    }
    // Device nodes cannot be created in a user namespace: bind the host's.
    for (size_t i = 0; i < plan.dev_node_targets.size(); ++i) {
        const char* target = plan.dev_node_targets[i].c_str();
        const int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) {
            err.syscall_failed("open(O_CREAT", target);
            return false;
        }
        close(fd);
        if (mount(plan.dev_node_sources[i].c_str(), target, nullptr, MS_BIND, nullptr) != 0) {
            err.syscall_failed("mount(MS_BIND", plan.dev_node_sources[i].c_str(), target);
            return false;
        }
    }
    if (mkdir(plan.dev_pts.c_str(), 0755) != 0) {
        err.syscall_failed("mkdir", plan.dev_pts.c_str());
        return false;
    }
    if (mount("devpts", plan.dev_pts.c_str(), "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") != 0) {
        err.syscall_failed("mount(devpts", plan.dev_pts.c_str());
        return false;
    }
    if (mkdir(plan.dev_shm.c_str(), 01777) != 0 ||
        mount("tmpfs", plan.dev_shm.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
        err.syscall_failed("mount(tmpfs", plan.dev_shm.c_str());
        return false;
    }
    struct Link {
        const char* target;
        const std::string& path;
    };
    const Link links[] = {{"pts/ptmx", plan.dev_ptmx},
                          {"/proc/self/fd", plan.dev_fd},
                          {"/proc/self/fd/0", plan.dev_stdin},
                          {"/proc/self/fd/1", plan.dev_stdout},
                          {"/proc/self/fd/2", plan.dev_stderr}};
    for (const Link& link : links) {
        if (symlink(link.target, link.path.c_str()) != 0) {
            err.syscall_failed("symlink", link.target, link.path.c_str());
            return false;
        }
    }
    return true;
}

}  // namespace whatif::sandbox::dev
