#include "whatif/sandbox/mount_plan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <sstream>

#include "whatif/util/fs.hpp"

namespace whatif::sandbox {

namespace {

std::string unescape_mountinfo(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            const std::string_view oct = field.substr(i + 1, 3);
            if (oct.size() == 3 &&
                std::all_of(oct.begin(), oct.end(), [](char c) { return c >= '0' && c <= '7'; })) {
                out += static_cast<char>((oct[0] - '0') * 64 + (oct[1] - '0') * 8 + (oct[2] - '0'));
                i += 3;
                continue;
            }
        }
        out += field[i];
    }
    return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (start <= s.size()) {
        const size_t end = s.find(sep, start);
        if (end == std::string_view::npos) {
            out.push_back(s.substr(start));
            break;
        }
        out.push_back(s.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

bool is_pseudo_filesystem(std::string_view type) {
    static constexpr std::array<std::string_view, 24> pseudo = {
        "proc",       "sysfs",      "devtmpfs",  "devpts",      "cgroup", "cgroup2",
        "securityfs", "debugfs",    "tracefs",   "pstore",      "bpf",    "mqueue",
        "hugetlbfs",  "configfs",   "fusectl",   "binfmt_misc", "autofs", "efivarfs",
        "nsfs",       "rpc_pipefs", "selinuxfs", "nfsd",        "ramfs",  "fuse.gvfsd-fuse"};
    return std::find(pseudo.begin(), pseudo.end(), type) != pseudo.end();
}

unsigned long flags_to_keep(std::string_view per_mount_options) {
    unsigned long flags = 0;
    for (auto opt : split(per_mount_options, ',')) {
        if (opt == "nosuid") flags |= MS_NOSUID;
        if (opt == "nodev") flags |= MS_NODEV;
        if (opt == "noexec") flags |= MS_NOEXEC;
        if (opt == "noatime") flags |= MS_NOATIME;
        if (opt == "nodiratime") flags |= MS_NODIRATIME;
        if (opt == "relatime") flags |= MS_RELATIME;
    }
    return flags;
}

}  // namespace

Result<std::vector<HostMount>> parse_mountinfo(std::string_view text) {
    std::vector<HostMount> mounts;
    size_t line_no = 0;
    for (auto line : split(text, '\n')) {
        ++line_no;
        if (line.empty()) continue;
        // id parent major:minor root mount_point options [optional...] - type source super_options
        const auto fields = split(line, ' ');
        const auto dash = std::find(fields.begin(), fields.end(), "-");
        if (fields.size() < 10 || dash == fields.end() || dash + 2 >= fields.end() ||
            dash - fields.begin() < 6)
            return fail("mountinfo line " + std::to_string(line_no) + " is malformed");
        HostMount m;
        std::from_chars(fields[0].data(), fields[0].data() + fields[0].size(), m.id);
        std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), m.parent_id);
        m.mount_point = unescape_mountinfo(fields[4]);
        m.fs_type = unescape_mountinfo(*(dash + 1));
        m.source = unescape_mountinfo(*(dash + 2));
        const auto per_mount = split(fields[5], ',');
        m.read_only = std::find(per_mount.begin(), per_mount.end(), "ro") != per_mount.end();
        m.locked_flags = flags_to_keep(fields[5]);
        mounts.push_back(std::move(m));
    }
    return mounts;
}

Result<std::vector<HostMount>> read_host_mounts() {
    auto text = util::read_file("/proc/self/mountinfo");
    if (!text) return std::unexpected(text.error());
    return parse_mountinfo(*text);
}

DirLister host_dir_lister() {
    return [](const std::string& host_dir) {
        std::vector<DirEntryInfo> entries;
        DIR* dir = opendir(host_dir.c_str());
        if (dir == nullptr) return entries;
        const int dir_fd = dirfd(dir);
        while (dirent* e = readdir(dir)) {
            const std::string_view name = e->d_name;
            if (name == "." || name == "..") continue;
            struct stat st {};
            if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            DirEntryInfo info;
            info.name = e->d_name;
            if (S_ISDIR(st.st_mode)) {
                info.kind = DirEntryInfo::Kind::dir;
                info.uid = st.st_uid;
                info.gid = st.st_gid;
                info.mode = st.st_mode & 07777;
                // Empty (st_nlink == 2 says "no subdirectories" only): look.
                if (st.st_nlink <= 2)
                    if (DIR* sub = fdopendir(openat(
                            dir_fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC))) {
                        info.empty = true;
                        while (dirent* s = readdir(sub))
                            if (std::string_view(s->d_name) != "." &&
                                std::string_view(s->d_name) != "..")
                                info.empty = false;
                        closedir(sub);
                    }
            } else if (S_ISLNK(st.st_mode)) {
                info.kind = DirEntryInfo::Kind::symlink;
                std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
                const ssize_t n = readlinkat(dir_fd, e->d_name, target.data(), target.size());
                if (n < 0) continue;
                target.resize(static_cast<size_t>(n));
                info.link_target = std::move(target);
            } else if (S_ISREG(st.st_mode)) {
                info.kind = DirEntryInfo::Kind::file;
                info.uid = st.st_uid;
                info.size = static_cast<uint64_t>(st.st_size);
            }
            entries.push_back(std::move(info));
        }
        closedir(dir);
        std::sort(entries.begin(), entries.end(),
                  [](const DirEntryInfo& a, const DirEntryInfo& b) { return a.name < b.name; });
        return entries;
    };
}

namespace {

class Planner {
  public:
    Planner(const std::vector<HostMount>& visible, const DirLister& list_dir,
            const PlanOptions& options)
        : visible_(visible), list_dir_(list_dir), options_(options) {}

    MountPlan plan;

    void add_mount(const HostMount& m) {
        if (m.mount_point != "/" &&
            (is_pseudo_filesystem(m.fs_type) || rebuilt_by_sandbox(m.mount_point)))
            return;
        if (options_.mounts_locked)
            add_dir(m.mount_point, m);
        else
            add_whole_mount(m);
    }

  private:
    // Unlocked mounts: `m` overlaid whole (bound read-only when the host has it so),
    // then the mounts made on it, each in turn. A mount's own mount point lies in
    // the overlay of the one beneath, as on the host.
    void add_whole_mount(const HostMount& m) {
        if (options_.is_directory && !options_.is_directory(m.mount_point)) {
            add_file_read_only(m.mount_point, m);  // a file mounted over a file
            return;
        }
        add_whole_dir(m.mount_point, m);
        const size_t index = static_cast<size_t>(&m - visible_.data());
        for (size_t i = 0; i < visible_.size(); ++i)
            if (mounted_on(i) == static_cast<long>(index)) add_mount(visible_[i]);
    }

    // The index of the visible mount that visible_[i] is mounted on (the nearest
    // one above its mount point), -1 for none; computed once for all.
    long mounted_on(size_t i) {
        if (parents_.empty()) {
            parents_.assign(visible_.size(), -1);
            for (size_t c = 0; c < visible_.size(); ++c)
                for (size_t p = 0; p < visible_.size(); ++p) {
                    const std::string& above = visible_[p].mount_point;
                    if (p == c || above == visible_[c].mount_point ||
                        !util::path_is_within(visible_[c].mount_point, above))
                        continue;
                    const long best = parents_[c];
                    if (best < 0 ||
                        above.size() > visible_[static_cast<size_t>(best)].mount_point.size())
                        parents_[c] = static_cast<long>(p);
                }
        }
        return parents_[i];
    }

    static bool rebuilt_by_sandbox(std::string_view path) {
        return util::path_is_within(path, "/proc") || util::path_is_within(path, "/sys") ||
               util::path_is_within(path, "/dev");
    }

    const HostMount* mount_at(const std::string& path) const {
        for (const auto& m : visible_)
            if (m.mount_point == path) return &m;
        return nullptr;
    }

    bool has_mount_below(const std::string& dir) const {
        for (const auto& m : visible_)
            if (m.mount_point != dir && util::path_is_within(m.mount_point, dir)) return true;
        return false;
    }

    // A skeleton dir standing in for a host dir, when that is faithful: the stand-in
    // is the caller's (a user namespace maps nobody else), so the host dir must be
    // the caller's too, or (root) be given the host's owner, or the caller must not
    // be able to write in it at all (its mode then says exactly that).
    std::optional<SkeletonEntry> stand_in_for(const DirEntryInfo& e,
                                              const std::string& skel_path) const {
        SkeletonEntry entry{DirEntryInfo::Kind::dir, skel_path, {}, {}};
        if (options_.caller_uid == 0) {
            entry.mode = e.mode;
            entry.uid = e.uid;
            entry.gid = e.gid;
            return entry;
        }
        if (e.uid == options_.caller_uid) {
            entry.mode = e.mode;
            return entry;
        }
        const uint32_t bits = caller_bits(e);
        if ((bits & 2) != 0) return std::nullopt;  // the caller may write: keep the overlay
        // The caller's own bits become the owner bits of its stand-in.
        entry.mode = (e.mode & 01077) | (bits << 6);
        return entry;
    }

    // The permission bits (rwx) that apply to the caller, not its owner, on `e`.
    uint32_t caller_bits(const DirEntryInfo& e) const {
        const bool in_group =
            e.gid == options_.caller_gid ||
            std::find(options_.caller_groups.begin(), options_.caller_groups.end(), e.gid) !=
                options_.caller_groups.end();
        return in_group ? (e.mode >> 3) & 7 : e.mode & 7;
    }

    // Another user's dir that the caller may neither list nor enter (/root, for
    // most): nothing in it can be reached, so an empty stand-in, which takes the
    // same no-access bits (stand_in_for), shows exactly what an overlay would.
    bool unreachable_for_caller(const DirEntryInfo& e) const {
        return options_.caller_uid != 0 && e.uid != options_.caller_uid &&
               (caller_bits(e) & 05) == 0;
    }

    // `dir` (on host mount `m`) in one step: an overlay of it, or bound read-only
    // when the host has `m` read-only.
    void add_whole_dir(const std::string& dir, const HostMount& m) {
        MountStep step;
        step.host_path = step.target = dir;
        step.locked_flags = m.locked_flags;
        step.read_only = m.read_only;
        if (m.read_only) {
            step.kind = StepKind::bind_read_only;
        } else {
            step.kind = StepKind::overlay;
            step.layer = plan.layer_count++;
        }
        plan.steps.push_back(std::move(step));
    }

    // The host file at `path` (on host mount `m`), bound read-only over its name.
    void add_file_read_only(const std::string& path, const HostMount& m) {
        MountStep step;
        step.kind = StepKind::bind_file_read_only;
        step.host_path = step.target = path;
        step.read_only = true;
        step.locked_flags = m.locked_flags;
        plan.steps.push_back(std::move(step));
    }

    // `dir` lies on host mount `m` (it is m's root, or a directory beneath it).
    void add_dir(const std::string& dir, const HostMount& m) {
        if (!has_mount_below(dir)) {
            add_whole_dir(dir, m);
            return;
        }
        // Split: a skeleton of this level under an overlay, then each entry.
        const std::string skeleton = std::to_string(skeleton_count_++);
        plan.skeleton.push_back({DirEntryInfo::Kind::dir, skeleton, {}, {}});
        MountStep level;
        level.kind = StepKind::overlay;
        level.host_path = level.target = dir;
        level.skeleton = skeleton;
        level.layer = plan.layer_count++;
        level.read_only = m.read_only;
        level.locked_flags = m.locked_flags;
        plan.steps.push_back(std::move(level));
        add_level_entries(dir, m, skeleton);
    }

    // The entries of `dir`, a directory of a split level whose skeleton copy is at
    // `skel_dir`.
    void add_level_entries(const std::string& dir, const HostMount& m,
                           const std::string& skel_dir) {
        const std::vector<DirEntryInfo> entries = list_dir_(dir);
        for (const auto& e : entries) {
            const std::string path = util::join_path(dir, e.name);
            const std::string skel_path = skel_dir + "/" + e.name;
            switch (e.kind) {
                case DirEntryInfo::Kind::dir:
                    if (auto stand_in = stand_in_for_plain_dir(e, path, skel_path)) {
                        plan.skeleton.push_back(std::move(*stand_in));
                        if (!e.empty && has_mount_below(path))
                            add_level_entries(path, m, skel_path);
                        continue;
                    }
                    plan.skeleton.push_back({DirEntryInfo::Kind::dir, skel_path, {}, {}});
                    break;
                case DirEntryInfo::Kind::symlink:
                    plan.skeleton.push_back(
                        {DirEntryInfo::Kind::symlink, skel_path, {}, e.link_target});
                    continue;
                case DirEntryInfo::Kind::file:
                    if (mount_at(path) == nullptr && !m.read_only &&
                        (options_.caller_uid == 0 || e.uid == options_.caller_uid) &&
                        e.size <= options_.max_skeleton_file_size) {
                        plan.skeleton.push_back({DirEntryInfo::Kind::file, skel_path, path, {}});
                    } else {
                        // Another user's file (or a large one): visible, read-only.
                        plan.skeleton.push_back({DirEntryInfo::Kind::other, skel_path, {}, {}});
                        add_file_read_only(path, m);
                    }
                    continue;
                case DirEntryInfo::Kind::other:
                    continue;  // FIFOs, sockets, devices at a split level
            }
            // A mount point in the skeleton: the entry's own mount, or its overlay.
            if (const HostMount* own = mount_at(path)) {
                add_mount(*own);
            } else if (!rebuilt_by_sandbox(path)) {
                add_dir(path, m);
            }
        }
    }

    // A host dir of a split level that is no mount point needs no overlay of its
    // own where a stand-in is faithful: writes in it then land in the level's
    // overlay, which the scan reads against the host. That holds for an empty dir,
    // and for a dir on the way down to a mount (/mnt on the way to
    // /mnt/disk/data): its entries join the level's skeleton. Every overlay saved
    // is a superblock less to make and tear down on every run.
    std::optional<SkeletonEntry> stand_in_for_plain_dir(const DirEntryInfo& e,
                                                        const std::string& path,
                                                        const std::string& skel_path) const {
        if (mount_at(path) != nullptr || rebuilt_by_sandbox(path)) return std::nullopt;
        if (!e.empty && !has_mount_below(path) && !unreachable_for_caller(e))
            return std::nullopt;  // an overlay of its own
        return stand_in_for(e, skel_path);
    }

    const std::vector<HostMount>& visible_;
    const DirLister& list_dir_;
    const PlanOptions& options_;
    int skeleton_count_ = 0;
    std::vector<long> parents_;  // by index into visible_ (unlocked mounts only)
};

}  // namespace

bool mounts_would_be_locked() {
    if (geteuid() != 0) return true;
    // A mount namespace copied into another user namespace than its owner's has
    // every mount locked: ours must be owned by our own user namespace.
    const int mnt_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (mnt_ns < 0) return true;
    const int owner = ioctl(mnt_ns, NS_GET_USERNS);
    close(mnt_ns);
    if (owner < 0) return true;
    struct stat owner_st {
    }, own_st{};
    const bool own = fstat(owner, &owner_st) == 0 && stat("/proc/self/ns/user", &own_st) == 0 &&
                     owner_st.st_dev == own_st.st_dev && owner_st.st_ino == own_st.st_ino;
    close(owner);
    if (!own) return true;
    // And no mount beneath "/" may be locked already (this namespace a copy of
    // another's): the kernel then refuses a non-recursive clone of "/". Refused
    // too without CAP_SYS_ADMIN, which mounting needs anyway.
    const int tree = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0) return true;
    close(tree);
    return false;
}

MountPlan plan_mounts(const std::vector<HostMount>& host_mounts, const DirLister& list_dir,
                      const PlanOptions& options) {
    // mountinfo lists mounts in the order they were made: a later mount on the same
    // path, or on a parent path, hides the earlier one.
    std::vector<HostMount> visible;
    for (const auto& m : host_mounts) {
        std::erase_if(visible, [&](const HostMount& earlier) {
            return util::path_is_within(earlier.mount_point, m.mount_point);
        });
        visible.push_back(m);
    }
    Planner planner(visible, list_dir, options);
    for (const auto& m : visible)
        if (m.mount_point == "/") planner.add_mount(m);
    return std::move(planner.plan);
}

}  // namespace whatif::sandbox
