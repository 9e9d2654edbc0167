#include "whatif/sandbox/mnt.hpp"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

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

bool write_whole_file(const char* path, const char* data, size_t size, ChildError& err) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        err.syscall_failed("open", path);
        return false;
    }
    const bool written = write(fd, data, size) == static_cast<ssize_t>(size);
    if (!written) err.syscall_failed("write", path);
    close(fd);
    return written;
}

namespace mnt {

namespace {

// Overlays are made with the new mount API: a detached mount (fsopen, fsconfig,
// fsmount), attached afterwards (move_mount).
//
// Making an overlay's superblock is most of its cost: overlayfs checks its work dir
// by creating and removing files there (about 80 us on tmpfs, 200 us on ext4), and a
// split root needs a dozen or more overlays. Superblocks do not depend on each
// other; only attaching them does (a child's target lies inside its parent's
// overlay). So build_root makes them on two threads, one of them starting while the
// other builds the skeleton, and attaches them in plan order.

// The dirs of one overlay, named to the kernel as /proc/self/fd/N (see ChildMount).
struct OverlayLayers {
    const std::string& lower;
    const std::string& upper;
    const std::string& work;
    bool read_only;
};

OverlayLayers layers_of(const ChildMount& m) {
    return {m.source, m.upper, m.work, m.read_only};
}

struct PreparedOverlay {
    int mount_fd = -1;
    int error = 0;
    char failed[256] = {};       // the call that failed: "fsconfig(FSCONFIG_CMD_CREATE)"
    char kernel_says[128] = {};  // the fs context's own message, if it left one

    void fail(const char* call, const char* arg = nullptr) {
        error = errno;
        snprintf(failed, sizeof failed, arg != nullptr ? "%s(%s)" : "%s", call, arg);
    }
};

// Makes the directory `path` with `mode` and, where uid >= 0, that owner; mode -1
// asks for nothing beyond a directory (0755 under the umask). Only what mkdir did
// not get right (the umask, a setgid parent, setuid/setgid bits) is corrected
// with chown and chmod: each is an inode write, on the store's disk for an upper
// root. An owner the namespace does not map is left as mkdir made it when
// `unmapped_owner_ok`. Returns the call that failed (errno set), or nullptr.
const char* make_dir_as(const char* path, int mode, int uid, int gid, bool unmapped_owner_ok) {
    const mode_t wanted = mode >= 0 ? static_cast<mode_t>(mode) : 0755;
    if (mkdir(path, wanted & 01777) != 0 && errno != EEXIST) return "mkdir";
    if (mode < 0 && uid < 0) return nullptr;
    struct stat st {};
    if (stat(path, &st) != 0) return "stat";
    bool chowned = false;
    if (uid >= 0 &&
        (st.st_uid != static_cast<uid_t>(uid) || st.st_gid != static_cast<gid_t>(gid))) {
        chowned = chown(path, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) == 0;
        if (!chowned && !unmapped_owner_ok) return "chown";
    }
    if ((chowned || (st.st_mode & 07777) != wanted) && chmod(path, wanted) != 0) return "chmod";
    return nullptr;
}

// An overlay's upper and work dirs, in the run directory. The upper root takes the
// host root's owner and mode (supervisor.cpp: upper_root_permissions).
bool make_layer_dirs(const ChildMount& m, PreparedOverlay& out) {
    if (const char* call = make_dir_as(m.upper.c_str(), static_cast<int>(m.upper_mode), m.upper_uid,
                                       m.upper_gid, true)) {
        out.fail(call, m.upper.c_str());
        return false;
    }
    if (mkdir(m.work.c_str(), 0700) != 0 && errno != EEXIST) {
        out.fail("mkdir", m.work.c_str());
        return false;
    }
    return true;
}

void make_detached_overlay(const OverlayLayers& layers, PreparedOverlay& out) {
    static constexpr const char* kKeys[3] = {"lowerdir", "upperdir", "workdir"};
    const std::string* dirs[3] = {&layers.lower, &layers.upper, &layers.work};
    int fds[3] = {-1, -1, -1};
    int fs = -1;
    auto finish = [&](const char* call, const char* arg = nullptr) {
        if (call != nullptr) {
            out.fail(call, arg);
            // fsconfig's errors come with a line of text ("e overlayfs: ...").
            if (fs >= 0) {
                const ssize_t n = read(fs, out.kernel_says, sizeof out.kernel_says - 1);
                out.kernel_says[n > 0 ? n : 0] = '\0';
            }
        }
        for (int fd : fds)
            if (fd >= 0) close(fd);
        if (fs >= 0) close(fs);
    };
    for (int i = 0; i < 3; ++i) {
        fds[i] = open(dirs[i]->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fds[i] < 0) return finish("open", dirs[i]->c_str());
    }
    fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0) return finish("fsopen", "overlay");
    for (int i = 0; i < 3; ++i) {
        char value[32];
        snprintf(value, sizeof value, "/proc/self/fd/%d", fds[i]);
        if (fsconfig(fs, FSCONFIG_SET_STRING, kKeys[i], value, 0) != 0)
            return finish("fsconfig", kKeys[i]);
    }
    for (const char* flag : {"userxattr", layers.read_only ? "ro" : "volatile"})
        if (fsconfig(fs, FSCONFIG_SET_FLAG, flag, nullptr, 0) != 0) return finish("fsconfig", flag);
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
        return finish("fsconfig", "FSCONFIG_CMD_CREATE");
    out.mount_fd = fsmount(fs, FSMOUNT_CLOEXEC, layers.read_only ? MOUNT_ATTR_RDONLY : 0);
    if (out.mount_fd < 0) return finish("fsmount", "overlay");
    finish(nullptr);
}

bool attach_overlay(const std::string& target, const OverlayLayers& layers,
                    const PreparedOverlay& p, ChildError& err) {
    if (p.mount_fd < 0) {
        // "fsconfig(FSCONFIG_CMD_CREATE) for the overlay at /x (lowerdir=/x,
        // upperdir=/run/upper/3): EINVAL (Invalid argument); e overlayfs: ..."
        char text[sizeof err.text];
        snprintf(text, sizeof text,
                 "%s for the overlay at %s (lowerdir=%s, upperdir=%s): %s (%s)%s%s", p.failed,
                 target.c_str(), layers.lower.c_str(), layers.upper.c_str(),
                 strerrorname_np(p.error) ? strerrorname_np(p.error) : "?", strerror(p.error),
                 p.kernel_says[0] != '\0' ? "; " : "", p.kernel_says);
        err.message(text);
        return false;
    }
    const int rc = move_mount(p.mount_fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH);
    close(p.mount_fd);
    if (rc != 0) {
        err.syscall_failed("move_mount(overlay", target.c_str());
        return false;
    }
    return true;
}

// The work the two threads share: every overlay but explore's stacked ones.
struct OverlayWork {
    const ChildPlan* plan = nullptr;
    std::vector<size_t> order;          // indices into plan->mounts: host-dir overlays first
    std::vector<PreparedOverlay> done;  // by index into plan->mounts
    std::atomic<size_t> next{0};
    std::atomic<bool> skeleton_built{false};
};

void prepare_overlays(OverlayWork& work) {
    for (;;) {
        const size_t k = work.next.fetch_add(1);
        if (k >= work.order.size()) return;
        const size_t i = work.order[k];
        const ChildMount& m = work.plan->mounts[i];
        if (m.from_skeleton) work.skeleton_built.wait(false);
        if (make_layer_dirs(m, work.done[i])) make_detached_overlay(layers_of(m), work.done[i]);
    }
}

// explore: the run's view, read-only at prior_target (overlay of source and
// prior_upper), becomes the lower of this session's overlay; in order, since the
// second needs the first attached.
bool mount_stacked_overlay(const ChildMount& m, ChildError& err) {
    const OverlayLayers run_view{m.source, m.prior_upper, m.prior_work, true};
    const OverlayLayers session{m.prior_target, m.upper, m.work, m.read_only};
    PreparedOverlay first, second;
    if (!make_layer_dirs(m, second)) return attach_overlay(m.target, session, second, err);
    make_detached_overlay(run_view, first);
    if (!attach_overlay(m.prior_target, run_view, first, err)) return false;
    make_detached_overlay(session, second);
    return attach_overlay(m.target, session, second, err);
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

// A host mount whose filesystem overlayfs will not take as a layer: vfat (an
// EFI system partition) and other filesystems with their own name hashing, or an
// overlay stacked twice already. fsconfig says EINVAL. Not the new root, not a
// skeleton's overlay (ours): those stay errors.
bool overlay_refused_by_filesystem(const ChildPlan& plan, const ChildMount& m,
                                   const PreparedOverlay& p) {
    return p.mount_fd < 0 && p.error == EINVAL && strncmp(p.failed, "fsconfig", 8) == 0 &&
           !m.from_skeleton && m.target != plan.staging_root;
}

// Then the run goes on with that mount read-only, as a read-only host mount is,
// and the report says so: writes there fail in the dry run that would not for real.
bool bind_instead_of_overlay(const ChildPlan& plan, const ChildMount& m, const PreparedOverlay& p,
                             ChildError& err) {
    if (!bind_read_only(m, err)) return false;
    char text[sizeof err.text];
    const int n = snprintf(
        text, sizeof text,
        "%s cannot be overlaid (%s: %s%s%s): it was read-only in the dry run, so writes "
        "there failed, and what they would do is not shown",
        m.source.c_str(), p.failed, strerrorname_np(p.error) ? strerrorname_np(p.error) : "?",
        p.kernel_says[0] != '\0' ? "; " : "", p.kernel_says);
    proclog::write_frame(plan.status_fd, proclog::kFrameMountNotOverlaid, text,
                         std::min(static_cast<size_t>(n), sizeof text - 1));
    return true;
}

bool mount_proc_and_sys(const ChildPlan& plan, ChildError& err) {
    if (mount("proc", plan.proc_target.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
        err.syscall_failed("mount(proc", plan.proc_target.c_str());
        return false;
    }
    // Init's set-up threads (overlays, network) took pids 2 and 3; the command gets
    // 2 back, as in any container (the next pid is last + 1). Cosmetic: the
    // supervisor learns the command's pid from init either way.
    char last_pid[4096];
    snprintf(last_pid, sizeof last_pid, "%s/sys/kernel/ns_last_pid", plan.proc_target.c_str());
    if (const int fd = open(last_pid, O_WRONLY | O_CLOEXEC); fd >= 0) {
        if (write(fd, "1", 1) != 1) { /* the command is pid 3 then */
        }
        close(fd);
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
                // A mount point (mode -1), or a stand-in for a host dir: the host's
                // owner (where it is mapped) and the mode the plan worked out. A mode
                // that denies the caller does not deny init, which holds
                // CAP_DAC_OVERRIDE here while it makes the entries beneath.
                if (const char* call = make_dir_as(e.path.c_str(), e.mode, e.uid, e.gid, false)) {
                    err.syscall_failed(call, e.path.c_str());
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

bool build_root(const ChildPlan& plan, ChildError& err,
                const std::function<bool(ChildError&)>& enter_network) {
    // Where build_root's time goes, for -vv (see kFrameTiming).
    long long marks[6] = {};
    // Nothing we mount may propagate back to the host's mount namespace.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
        err.syscall_failed("mount(MS_REC|MS_PRIVATE", "/");
        return false;
    }
    OverlayWork work;
    work.plan = &plan;
    work.done.resize(plan.mounts.size());
    for (bool skeleton_pass : {false, true})
        for (size_t i = 0; i < plan.mounts.size(); ++i) {
            const ChildMount& m = plan.mounts[i];
            if (m.kind == StepKind::overlay && m.prior_upper.empty() &&
                m.from_skeleton == skeleton_pass)
                work.order.push_back(i);
        }
    // If the thread cannot be made, this thread does it all.
    std::optional<std::thread> helper;
    try {
        helper.emplace(prepare_overlays, std::ref(work));
    } catch (const std::system_error&) {
    }
    const bool skeleton_ok = build_skeleton(plan, err);
    work.skeleton_built = true;
    work.skeleton_built.notify_all();
    marks[0] = util::micros_since_start();
    prepare_overlays(work);
    if (helper) helper->join();
    if (!skeleton_ok) return false;
    for (size_t i = 0; i < plan.mounts.size(); ++i) {
        const ChildMount& m = plan.mounts[i];
        const bool ok = m.kind != StepKind::overlay ? bind_read_only(m, err)
                        : !m.prior_upper.empty()    ? mount_stacked_overlay(m, err)
                        : overlay_refused_by_filesystem(plan, m, work.done[i])
                            ? bind_instead_of_overlay(plan, m, work.done[i], err)
                            : attach_overlay(m.target, layers_of(m), work.done[i], err);
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
    if (!enter_network(err)) return false;
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
    const int n =
        snprintf(timing, sizeof timing,
                 "skeleton %lld mounts %lld network+proc+sys %lld dev %lld hide %lld pivot %lld",
                 marks[0], marks[1], marks[2], marks[3], marks[4], marks[5]);
    proclog::write_frame(plan.status_fd, proclog::kFrameTiming, timing, static_cast<size_t>(n));
    return pivoted;
}

}  // namespace mnt
}  // namespace whatif::sandbox
