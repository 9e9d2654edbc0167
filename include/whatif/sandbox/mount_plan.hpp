// Which host mounts the sandbox sees, and how: a pure function of mountinfo and of
// directory listings, so it can be tested without privileges.
//
// The kernel refuses an overlay whose lower directory has mounts beneath it that
// came from a more privileged namespace ("locked" children; CVE-2021-3732). So a
// directory with mount points beneath it is *split*: its own entries come from a
// skeleton copy (directories as mount points, symlinks, small files the caller
// owns) under an overlay that captures writes at that level, and each entry is
// then mounted on its own: an overlay of the host directory when nothing is
// mounted beneath it, the entry's own mount when it is a mount point. A directory
// on the way down to a mount joins the same skeleton (its entries beneath the
// level's), so a chain such as /mnt/a/b/disk costs one overlay, not four; it is
// split again only where a skeleton copy could not be faithful (a directory of
// another user that the caller may write in).
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/util/error.hpp"

namespace whatif::sandbox {

struct HostMount {
    int id = 0;
    int parent_id = 0;
    std::string mount_point;  // unescaped absolute path
    std::string fs_type;
    std::string source;
    bool read_only = false;
    unsigned long locked_flags = 0;  // MS_NOSUID | MS_NODEV | MS_NOEXEC | atime flags to keep
};

// Parses /proc/self/mountinfo text (octal escapes such as \040 resolved).
Result<std::vector<HostMount>> parse_mountinfo(std::string_view text);
Result<std::vector<HostMount>> read_host_mounts();

struct DirEntryInfo {
    enum class Kind { dir, symlink, file, other };
    std::string name;
    Kind kind = Kind::other;
    std::string link_target;  // symlinks
    uid_t uid = 0;            // files and dirs
    uint64_t size = 0;        // files
    gid_t gid = 0;            // dirs
    uint32_t mode = 0;        // dirs: permission bits (07777)
    bool empty = false;       // dirs: no entries at all
};
using DirLister = std::function<std::vector<DirEntryInfo>(const std::string& host_dir)>;
DirLister host_dir_lister();

// An entry of a skeleton directory, created by the supervisor before the run.
struct SkeletonEntry {
    DirEntryInfo::Kind kind = DirEntryInfo::Kind::dir;
    std::string path;         // relative to the skeleton root: "<n>/<name>"
    std::string host_path;    // files: the host file to copy (content, mode, owner, times)
    std::string link_target;  // symlinks
    // dirs that stand in for a host dir (no overlay of their own: writes in them
    // land in the level's overlay): this mode, and this owner when set. A dir
    // without a mode is a mount point (0755), covered by what is mounted on it.
    std::optional<uint32_t> mode = {};
    std::optional<uid_t> uid = {};
    std::optional<gid_t> gid = {};
};

enum class StepKind {
    overlay,              // copy-on-write view of a host directory (or of a skeleton)
    bind_read_only,       // a read-only host mount stays read-only (no upper needed)
    bind_file_read_only,  // a file in a split directory that cannot be copied
};

struct MountStep {
    StepKind kind = StepKind::overlay;
    std::string host_path;  // the host directory (or file) this step shows
    std::string target;     // the same path inside the new root
    std::string skeleton;   // overlay of a split directory: its skeleton dir, relative
    int layer = -1;         // overlay: upper/<layer>, work/<layer>
    bool read_only = false;
    unsigned long locked_flags = 0;
};

struct MountPlan {
    std::vector<SkeletonEntry> skeleton;
    std::vector<MountStep> steps;  // parents before children
    int layer_count = 0;
};

struct PlanOptions {
    uid_t caller_uid = 0;
    gid_t caller_gid = 0;
    std::vector<gid_t> caller_groups = {};  // supplementary
    uint64_t max_skeleton_file_size = 1 << 20;
    // False when the sandbox's mount namespace is copied within the caller's own
    // user namespace (a root caller; see mounts_would_be_locked): no mount is locked
    // then, so nothing is split: every host mount is overlaid whole (or bound
    // read-only) and its mounts are mounted on top, as on the host.
    bool mounts_locked = true;
    // Whether a mount point is a directory (a file bind-mounted over a file is bound
    // read-only). Unset: every mount point is taken for a directory.
    std::function<bool(const std::string& path)> is_directory = {};
};

// True unless this process may copy its mount namespace without the kernel locking
// the copies (CVE-2021-3732 ff.): it is root in the user namespace that owns its
// mount namespace, and "/" has no locked mounts beneath it already (a
// non-recursive clone of "/" succeeds).
bool mounts_would_be_locked();

// Keeps every visible real filesystem; drops pseudo filesystems and anything under
// /proc, /sys and /dev (the sandbox builds its own), and mounts hidden by a later
// mount on the same or a parent path.
MountPlan plan_mounts(const std::vector<HostMount>& host_mounts, const DirLister& list_dir,
                      const PlanOptions& options);

}  // namespace whatif::sandbox
