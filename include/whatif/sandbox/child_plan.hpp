// Everything the sandbox's init needs, prepared by the supervisor before clone():
// strings built, file descriptors opened. The child only reads it, so it does
// not allocate between clone() and exec().
#pragma once

#include <signal.h>

#include <span>
#include <string>
#include <vector>

#include <cstdint>
#include "whatif/sandbox/mount_plan.hpp"

struct sock_filter;  // <linux/filter.h>

namespace whatif::sandbox {

namespace caps {
class CapabilitySet;
}

struct ChildMount {
    StepKind kind = StepKind::overlay;
    bool read_only = false;
    std::string source;  // the bind source, or the overlay's lower dir (host dir or skeleton)
    std::string target;  // where it goes under the staging root
    // Overlay only. The child opens the three dirs and names them to the kernel as
    // /proc/self/fd/N: no escaping of ',' or ':' in paths, and the fds belong to the
    // child's own mount namespace (overlayfs refuses layers from another one).
    std::string upper, work;
    // Init makes upper and work (the supervisor would make them one after another
    // on the critical path). The upper root's mode, and its owner for a root caller.
    unsigned upper_mode = 0700;
    int upper_uid = -1, upper_gid = -1;
    // explore: a finished run's upper (and work) dir for this mount. The run's view
    // is mounted read-only at prior_target (overlay of source and prior_upper, as
    // during the run) and becomes this overlay's lower: what the run left is seen
    // and never changed. (Stacking prior_upper as a second lower dir is refused by
    // the kernel when it lies inside source's tree, as a store in $HOME does.)
    std::string prior_upper, prior_work, prior_target;
    unsigned long locked_flags = 0;
    bool from_skeleton = false;  // the lower dir is a skeleton dir, there once it is built
};

// One entry of a split directory's skeleton (see mount_plan.hpp), made by the
// child on a tmpfs of its own: nothing of it touches the disk.
struct ChildSkeletonEntry {
    DirEntryInfo::Kind kind = DirEntryInfo::Kind::dir;
    std::string path;       // absolute, under skeleton_root
    std::string host_path;  // files: copied with mode, owner and times
    std::string link_target;
    int mode = -1;           // dirs standing in for a host dir (-1: a mount point, 0755)
    int uid = -1, gid = -1;  // and their owner, when it can be set
};

struct ChildPlan {
    std::string staging_root;  // the new root is assembled here, then pivot_root'ed into
    std::string skeleton_root;
    std::vector<ChildSkeletonEntry> skeleton;
    std::vector<ChildMount> mounts;
    std::string proc_target, sys_target, dev_target, hide_target;
    std::vector<std::string> proc_read_only;    // staging + /proc/sys, /proc/sysrq-trigger, ...
    std::vector<std::string> dev_nodes;         // "null", "zero", ...
    std::vector<std::string> dev_node_sources;  // "/dev/null", ...
    std::vector<std::string> dev_node_targets;  // staging + "/dev/null", ...
    std::string dev_pts, dev_shm, dev_ptmx, dev_fd, dev_stdin, dev_stdout, dev_stderr;
    std::string cwd;
    std::vector<std::string> argv;
    std::vector<char*> argv_ptrs;  // null-terminated view of argv
    // What the command's process execs: argv[0] as given when it holds a '/', else
    // as the supervisor found it in PATH (supervisor.cpp: search_path). Empty: not
    // found, 127.
    std::string resolved_command;
    std::vector<std::string> env;
    std::vector<char*> env_ptrs;  // null-terminated view of env
    std::vector<std::string> decoy_sources, decoy_targets;
    int sync_fd = -1;    // read: a byte when our id maps are written (or none are needed), one
                         // when the command may start
    int status_fd = -1;  // write: set-up errors, then the command's wait status
    int stdout_fd = -1, stderr_fd = -1;
    sigset_t original_mask{};
    bool caller_is_root = false;
    // A root caller whose mounts are not locked (mount_plan.hpp) builds the
    // sandbox's mounts in its own user namespace, where one overlay can take a whole
    // host mount, and only the command's process enters a new one, whose id maps
    // (these, identity) init writes. Everyone else: clone() makes the user
    // namespace, the supervisor writes the maps.
    bool command_user_ns = false;
    std::string command_uid_map, command_gid_map;
    // Made by the supervisor before the clone, so that the command's process only
    // makes system calls between its clone and its exec: the capabilities it keeps
    // and the seccomp program it loads.
    const caps::CapabilitySet* capabilities = nullptr;
    const caps::CapabilitySet* init_capabilities = nullptr;  // init's, once the command runs
    std::span<const sock_filter> seccomp_program;
    // explore on a terminal: the command keeps whatif's stdio and session (for job
    // control), in a process group of its own put in the foreground.
    bool interactive = false;
    enum class NetMode { stub, none, host } net_mode = NetMode::stub;
    int net_channel_fd = -1;       // stub mode: sockets for the supervisor's stub server
    int cgroup_self_join_fd = -1;  // root, cgroup v1: init writes "0" here to join (cgroup.hpp)
    // RunRequest::background_grace and command_is_background: init waits this long
    // for what the command left running, then reports and kills the survivors.
    long long background_grace_ms = 0;
    bool command_is_background = false;
};

// A fixed-size buffer for the child's error message (no allocation after clone).
struct ChildError {
    char text[768] = {};
    bool set = false;
    // "mount(overlay, /x): Invalid argument" from errno.
    void syscall_failed(const char* call, const char* arg1, const char* arg2 = nullptr);
    void message(const char* text);
};

// One write(2) of `size` bytes to the file at `path`, as /proc files that take a
// value only whole want it; on failure, `err` names the call that failed.
// Allocates nothing (the child's set-up uses it).
bool write_whole_file(const char* path, const char* data, size_t size, ChildError& err);

}  // namespace whatif::sandbox
