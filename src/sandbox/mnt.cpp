#include "whatif/sandbox/mnt.hpp"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "whatif/sandbox/dev.hpp"
#include "whatif/sandbox/proclog.hpp"
#include "whatif/util/log.hpp"

namespace whatif::sandbox {

void ChildError::syscall_failed(const char* call, const char* arg1, const char* arg2) {
    const int err = errno;
    if (arg2 != nullptr)
        snprintf(text, sizeof text, "%s(%s, %s): %s", call, arg1, arg2,
                 strerrorname_np(err) ? strerrorname_np(err) : "?");
    else
        snprintf(text, sizeof text, "%s(%s): %s", call, arg1,
                 strerrorname_np(err) ? strerrorname_np(err) : "?");
    const size_t used = strlen(text);
    snprintf(text + used, sizeof text - used, " (%s)", strerror(err));
    set = true;
}

void ChildError::message(const char* msg) {
    snprintf(text, sizeof text, "%s", msg);
    set = true;
}

namespace mnt {

namespace {

// One overlay mount; the three dirs are named to the kernel through O_PATH fds.
bool overlay_at(const char* target, const char* lower, const char* upper, const char* work,
                bool read_only, ChildError& err) {
    const char* dirs[3] = {lower, upper, work};
    int fds[3] = {-1, -1, -1};
    auto close_all = [&] {
        for (int fd : fds)
            if (fd >= 0) close(fd);
    };
    for (int i = 0; i < 3; ++i) {
        fds[i] = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fds[i] < 0) {
            err.syscall_failed("open(O_PATH", dirs[i]);
            close_all();
            return false;
        }
    }
    char options[160];
    snprintf(options, sizeof options,
             "lowerdir=/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/"
             "%d,userxattr%s",
             fds[0], fds[1], fds[2], read_only ? "" : ",volatile");
    const int rc = mount("overlay", target, "overlay", read_only ? MS_RDONLY : 0, options);
    const int mount_errno = errno;
    close_all();
    if (rc != 0) {
        errno = mount_errno;
        char what[sizeof err.text / 2];
        snprintf(what, sizeof what, "lowerdir=%s,upperdir=%s", lower, upper);
        err.syscall_failed("mount(overlay", target, what);
        return false;
    }
    return true;
}

bool mount_overlay(const ChildMount& m, ChildError& err) {
    if (m.prior_upper.empty())
        return overlay_at(m.target.c_str(), m.source.c_str(), m.upper.c_str(), m.work.c_str(),
                          m.read_only, err);
    // explore: the run's view, read-only, as the lower of this session's overlay.
    return overlay_at(m.prior_target.c_str(), m.source.c_str(), m.prior_upper.c_str(),
                      m.prior_work.c_str(), true, err) &&
           overlay_at(m.target.c_str(), m.prior_target.c_str(), m.upper.c_str(), m.work.c_str(),
                      m.read_only, err);
}

bool bind_read_only(const ChildMount& m, ChildError& err) {
    if (mount(m.source.c_str(), m.target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        err.syscall_failed("mount(MS_BIND", m.source.c_str(), m.target.c_str());
        return false;
    }
    // Flags the host locked on this mount (nosuid, nodev, ...) must be repeated, or
    // the kernel refuses the remount inside a user namespace.
    const unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | m.locked_flags;
    if (mount(nullptr, m.target.c_str(), nullptr, flags, nullptr) != 0) {
        err.syscall_failed("mount(MS_REMOUNT|MS_BIND|MS_RDONLY", m.target.c_str());
        return false;
    }
    return true;
}

bool mount_proc_and_sys(const ChildPlan& plan, ChildError& err) {
    if (mount("proc", plan.proc_target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
        err.syscall_failed("mount(proc", plan.proc_target.c_str());
        return false;
    }
    // A root caller's uid 0 is the kernel's uid 0, and sysctls check exactly that:
    // the kernel's global knobs under /proc stay read-only.
    for (const std::string& path : plan.proc_read_only) {
        if (access(path.c_str(), F_OK) != 0) continue;  // not on this kernel
        if (mount(path.c_str(), path.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
            mount(nullptr, path.c_str(), nullptr,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  nullptr) != 0) {
            err.syscall_failed("mount(MS_BIND|MS_RDONLY", path.c_str());
            return false;
        }
    }
    // A fresh sysfs is allowed because we own a network namespace; it is read-only.
    if (mount("sysfs", plan.sys_target.c_str(), "sysfs",
              MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0)
        return true;
    if (mount("/sys", plan.sys_target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        mount(nullptr, plan.sys_target.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        err.syscall_failed("mount(sysfs", plan.sys_target.c_str());
        return false;
    }
    return true;
}

bool copy_file_for_skeleton(const ChildSkeletonEntry& e, ChildError& err) {
    const int in = open(e.host_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st {};
    if (in < 0 || fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        // Gone or changed type since the plan: an empty placeholder keeps the name.
        if (in >= 0) close(in);
        const int fd = open(e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
        if (fd >= 0) close(fd);
        return true;
    }
    const int out = open(e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        err.syscall_failed("open(O_CREAT", e.path.c_str());
        return false;
    }
    char buf[16384];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, static_cast<size_t>(n)) != n) break;
    // Same owner, mode and times as the host file: an unchanged copy-up of it is
    // then no effect. (Owners the namespace does not map cannot be set; the plan
    // copies only the caller's own files then.)
    if (fchown(out, st.st_uid, st.st_gid) != 0) { /* unprivileged: already the caller's */
    }
    fchmod(out, st.st_mode & 07777);
    const timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);
    close(in);
    close(out);
    return true;
}

bool build_skeleton(const ChildPlan& plan, ChildError& err) {
    if (plan.skeleton.empty()) return true;
    if (mount("tmpfs", plan.skeleton_root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") !=
        0) {
        err.syscall_failed("mount(tmpfs", plan.skeleton_root.c_str());
        return false;
    }
    for (const ChildSkeletonEntry& e : plan.skeleton) {
        switch (e.kind) {
            case DirEntryInfo::Kind::dir:
                if (mkdir(e.path.c_str(), 0755) != 0) {
                    err.syscall_failed("mkdir", e.path.c_str());
                    return false;
                }
                // A stand-in for an empty host dir: the host's owner (where it is
                // mapped) and the mode the plan worked out.
                if (e.uid >= 0 && lchown(e.path.c_str(), static_cast<uid_t>(e.uid),
                                         static_cast<gid_t>(e.gid)) != 0) {
                    err.syscall_failed("lchown", e.path.c_str());
                    return false;
                }
                if (e.mode != 0 && chmod(e.path.c_str(), e.mode) != 0) {
                    err.syscall_failed("chmod", e.path.c_str());
                    return false;
                }
                break;
            case DirEntryInfo::Kind::symlink:
                if (symlink(e.link_target.c_str(), e.path.c_str()) != 0) {
                    err.syscall_failed("symlink", e.link_target.c_str(), e.path.c_str());
                    return false;
                }
                break;
            case DirEntryInfo::Kind::file:
                if (!copy_file_for_skeleton(e, err)) return false;
                break;
            case DirEntryInfo::Kind::other: {
                // A placeholder that a read-only bind of the host file will cover.
                const int fd = open(e.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0) {
                    err.syscall_failed("open(O_CREAT", e.path.c_str());
                    return false;
                }
                close(fd);
                break;
            }
        }
    }
    return true;
}

bool pivot_into(const char* new_root, ChildError& err) {
    // pivot_root(".", ".") stacks the old root on top of the new one, so no
    // directory for it has to be created in the (copy-on-write) new root.
    if (chdir(new_root) != 0) {
        err.syscall_failed("chdir", new_root);
        return false;
    }
    if (syscall(SYS_pivot_root, ".", ".") != 0) {
        err.syscall_failed("pivot_root", new_root, new_root);
        return false;
    }
    if (umount2(".", MNT_DETACH) != 0) {
        err.syscall_failed("umount2", "old root");
        return false;
    }
    if (chdir("/") != 0) {
        err.syscall_failed("chdir", "/");
        return false;
    }
    return true;
}

}  // namespace

bool build_root(const ChildPlan& plan, ChildError& err) {
    // Where build_root's time goes, for -vv (see kFrameTiming).
    long long marks[6] = {};
    // Nothing we mount may propagate back to the host's mount namespace.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        err.syscall_failed("mount(MS_REC|MS_PRIVATE", "/");
        return false;
    }
    if (!build_skeleton(plan, err)) return false;
    marks[0] = util::micros_since_start();
    for (const ChildMount& m : plan.mounts) {
        const bool ok =
            m.kind == StepKind::overlay ? mount_overlay(m, err) : bind_read_only(m, err);
        if (!ok) return false;
    }
    // Credential files: decoys over the real ones (the real bytes stay out of reach).
    for (size_t i = 0; i < plan.decoy_sources.size(); ++i) {
        if (mount(plan.decoy_sources[i].c_str(), plan.decoy_targets[i].c_str(), nullptr, MS_BIND,
                  nullptr) != 0) {
            err.syscall_failed("mount(MS_BIND", plan.decoy_sources[i].c_str(),
                               plan.decoy_targets[i].c_str());
            return false;
        }
    }
    marks[1] = util::micros_since_start();
    if (!mount_proc_and_sys(plan, err)) return false;
    marks[2] = util::micros_since_start();
    if (!dev::build_dev(plan, err)) return false;
    marks[3] = util::micros_since_start();
    // The run store (this run's upper layers included) must never be visible inside.
    if (!plan.hide_target.empty() &&
        mount("tmpfs", plan.hide_target.c_str(), "tmpfs",
              MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0700") != 0) {
        err.syscall_failed("mount(tmpfs", plan.hide_target.c_str());
        return false;
    }
    marks[4] = util::micros_since_start();
    const bool pivoted = pivot_into(plan.staging_root.c_str(), err);
    marks[5] = util::micros_since_start();
    char timing[128];
    const int n = snprintf(timing, sizeof timing,
                           "skeleton %lld mounts %lld proc+sys %lld dev %lld hide %lld pivot %lld",
                           marks[0], marks[1], marks[2], marks[3], marks[4], marks[5]);
    proclog::write_frame(plan.status_fd, proclog::kFrameTiming, timing, static_cast<size_t>(n));
    return pivoted;
}

}  // namespace mnt
}  // namespace whatif::sandbox
