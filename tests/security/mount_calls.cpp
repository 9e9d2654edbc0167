// Every way to change the mount table: the old API, pivot_root, chroot, the new API.
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.hpp"

int main() {
    expect_blocked("mount(tmpfs, /tmp)", mount("tmpfs", "/tmp", "tmpfs", 0, nullptr));
    expect_blocked("mount(MS_REMOUNT, /)",
                   mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr));
    expect_blocked("umount2(/, MNT_DETACH)", umount2("/", MNT_DETACH));
    expect_blocked("umount2(/tmp)", umount2("/tmp", 0));
    expect_blocked("pivot_root(/tmp, /tmp)", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    expect_blocked("chroot(/tmp)", chroot("/tmp"));
    expect_blocked("fsopen(tmpfs)", syscall(SYS_fsopen, "tmpfs", 0));
    expect_blocked("fspick(/)", syscall(SYS_fspick, AT_FDCWD, "/", 0));
    expect_blocked("fsconfig",
                   syscall(SYS_fsconfig, 3, 6 /* FSCONFIG_CMD_CREATE */, nullptr, nullptr, 0));
    expect_blocked("fsmount", syscall(SYS_fsmount, 3, 0, 0));
    expect_blocked("open_tree(/, OPEN_TREE_CLONE)",
                   syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */));
    expect_blocked("move_mount", syscall(SYS_move_mount, AT_FDCWD, "/tmp", AT_FDCWD, "/mnt", 0));
    expect_blocked("mount_setattr(/)", syscall(SYS_mount_setattr, AT_FDCWD, "/", 0, nullptr, 0));
    return g_escaped;
}
