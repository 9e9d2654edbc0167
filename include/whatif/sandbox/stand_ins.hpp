// Stand-in directories for an unprivileged caller's foreign-owned host dirs.
//
// overlayfs refuses to copy up an inode whose uid or gid the mounter's user
// namespace does not map (EOVERFLOW, fs/overlayfs/copy_up.c; the CVE-2023-0386
// fix). An unprivileged dry run maps only the caller's own uid and gid, so a write
// beneath a root-owned directory (/srv/x/proj, /var/tmp, /run/user/N) or in a
// directory of a supplementary group fails inside with "Value too large for
// defined data type", although it succeeds for real. Copying up a file needs its
// parent directories in the upper layer first; a directory that is already there
// when the overlay is mounted merges with the lower one (it is not opaque) and is
// never copied up. So the supervisor makes, before the clone, such a directory for
// every foreign-owned ancestor of the paths a command most likely writes beneath
// (the cwd, $HOME, $TMPDIR, /var/tmp, $XDG_RUNTIME_DIR, the paths its argv names):
// owned by the caller, with a mode that grants the caller what the host grants it.
// The scanner compares a stand-in with the state it was given, not with the host
// (its own owner and mode are whatif's doing, not the command's).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "whatif/sandbox/mount_plan.hpp"

namespace whatif::sandbox {

struct CallerIds {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary

    // This process's effective uid and gid and its supplementary groups.
    static CallerIds of_this_process();
    // The primary group or a supplementary one.
    bool in_group(gid_t gid) const;
};

// The permissions of `st` as the caller holds them, moved into the owner bits
// (the owner's, the group's where the caller is in the group, primary or
// supplementary, else the others'); group and other bits and the sticky bit are
// kept, setuid and setgid dropped (they would name an owner the dir no longer has).
mode_t caller_owned_mode(const struct stat& st, const CallerIds& caller);

// True when an unprivileged sandbox maps both of the inode's owners (only the
// caller's uid and primary gid are mapped).
bool owners_mapped(const struct stat& st, const CallerIds& caller);

// The existing host paths that the words of argv name (each argument, and the
// words of a shell command line in it: "bash -c 'rm -rf data'" names data),
// relative ones against cwd; canonical (symlinks resolved), at most `limit`.
std::vector<std::string> paths_named_by(const std::vector<std::string>& argv,
                                        const std::string& cwd, size_t limit = 256);

struct StandIn {
    std::string host_path;   // canonical
    std::string upper_path;  // its directory in the layer's upper dir
    mode_t mode = 0;         // what it was given (owner: the caller)
    uid_t uid = 0;
    gid_t gid = 0;
};

// A credential decoy placed as a regular file in the upper layer at the credential's
// path, before the overlay is mounted: the command reads, writes, renames and
// deletes it as the file it stands for, and the scan reports each of those against
// the real file. (A bind mount instead refuses unlink with EBUSY and rename with
// EXDEV: 'rm -rf' of a project stops at its .env.)
struct StandInFile {
    std::string host_path;   // the credential file
    std::string upper_path;  // the decoy, moved here from the run dir (same inode)
    mode_t mode = 0;         // what it was given
    uid_t uid = 0;
    gid_t gid = 0;
};

struct StandIns {
    std::vector<StandIn> dirs;  // parents before children
    std::vector<StandInFile> files;
    // Decoys that could not be put in an upper layer (the credential is on a
    // read-only or split level, or the placement failed): (decoy in the run dir,
    // host path), bind-mounted over the credential as before.
    std::vector<std::pair<std::string, std::string>> bound_decoys;
    // Foreign-owned directories on the way to a candidate that could get no
    // stand-in (beneath a read-only or split level, or mkdir failed): writes
    // beneath them may be refused in the dry run.
    std::vector<std::string> refused;
};

// The candidates: cwd, $HOME, $TMPDIR, /var/tmp, $XDG_RUNTIME_DIR and what argv
// names. layer_upper(step) is the upper dir of an overlay step of `plan`.
// decoys: (decoy in the run dir, credential's host path); each is moved into its
// layer's upper dir, beneath dirs that carry the host's mode (an unprivileged
// caller: a foreign-owned one gets caller_owned_mode) and, for a root caller, the
// host's owner. Makes the directories (mode 0700 while their children are made,
// then their own).
StandIns make_stand_ins(const MountPlan& plan, const std::vector<std::string>& upper_dirs,
                        const std::vector<std::string>& candidates, const CallerIds& caller,
                        const std::vector<std::pair<std::string, std::string>>& decoys = {});

}  // namespace whatif::sandbox
