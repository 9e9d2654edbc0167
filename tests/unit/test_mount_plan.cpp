#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <map>

#include "whatif/sandbox/mount_plan.hpp"
#include "whatif/sandbox/stand_ins.hpp"

using namespace whatif::sandbox;
using Kind = DirEntryInfo::Kind;

namespace {

const char* kMountinfo =
    "21 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n"
    "22 21 0:5 / /proc rw,nosuid,nodev,noexec - proc proc rw\n"
    "23 21 0:6 / /sys rw,nosuid - sysfs sysfs rw\n"
    "24 21 0:7 / /dev rw,nosuid - devtmpfs udev rw\n"
    "25 24 0:8 / /dev/shm rw,nosuid,nodev - tmpfs tmpfs rw\n"
    "26 21 0:9 / /home rw,relatime shared:1 - ext4 /dev/vdb rw\n"
    "27 26 0:10 / /home/ana/My\\040Disk rw,nosuid,nodev - tmpfs tmpfs rw\n"
    "28 21 0:11 / /opt/tools ro,nosuid,relatime - squashfs /dev/loop0 ro\n"
    "29 21 0:12 / /run rw,nosuid,nodev - tmpfs tmpfs rw\n";

DirLister fake_lister() {
    static const std::map<std::string, std::vector<DirEntryInfo>> tree = {
        {"/",
         {{"bin", Kind::symlink, "usr/bin", 0, 0},
          {"dev", Kind::dir, "", 0, 0, 0, 0755},
          {"home", Kind::dir, "", 0, 0, 0, 0755},
          {"opt", Kind::dir, "", 0, 0, 0, 0755},
          {"proc", Kind::dir, "", 0, 0, 0, 0555},
          {"root", Kind::dir, "", 0, 0, 0, 0700},
          {"run", Kind::dir, "", 0, 0, 0, 0755},
          {"swapfile", Kind::file, "", 0, 1 << 30},
          {"mine.txt", Kind::file, "", 1000, 10},
          {"sys", Kind::dir, "", 0, 0, 0, 0555},
          {"usr", Kind::dir, "", 0, 0, 0, 0755}}},
        {"/home",
         {{"ana", Kind::dir, "", 1000, 0, 1000, 0750},
          {"bo", Kind::dir, "", 1001, 0, 1001, 0700},
          {"cy", Kind::dir, "", 1002, 0, 1002, 0755}}},
        {"/home/ana",
         {{"My Disk", Kind::dir, "", 0, 0, 0, 0755}, {"src", Kind::dir, "", 0, 0, 0, 0755}}},
        {"/opt",
         {{"tools", Kind::dir, "", 0, 0, 0, 0755}, {"other", Kind::dir, "", 0, 0, 0, 0755}}},
    };
    return [](const std::string& dir) {
        auto it = tree.find(dir);
        return it == tree.end() ? std::vector<DirEntryInfo>{} : it->second;
    };
}

const MountStep* step_for(const MountPlan& plan, const std::string& target) {
    for (const auto& s : plan.steps)
        if (s.target == target) return &s;
    return nullptr;
}

}  // namespace

TEST_CASE("mountinfo parsing resolves octal escapes and read-only flags") {
    auto mounts = parse_mountinfo(kMountinfo);
    REQUIRE(mounts.has_value());
    REQUIRE(mounts->size() == 9);
    CHECK((*mounts)[6].mount_point == "/home/ana/My Disk");
    CHECK((*mounts)[6].fs_type == "tmpfs");
    CHECK((*mounts)[7].read_only);
    CHECK(((*mounts)[7].locked_flags & MS_NOSUID) != 0);
    CHECK_FALSE((*mounts)[0].read_only);
    CHECK_FALSE(parse_mountinfo("garbage line\n").has_value());
}

TEST_CASE("a directory with mounts beneath it is split; others are overlaid whole") {
    auto mounts = parse_mountinfo(kMountinfo);
    REQUIRE(mounts.has_value());
    const MountPlan plan = plan_mounts(*mounts, fake_lister(), {.caller_uid = 1000});

    // "/" has mounts beneath it: a skeleton overlay, first.
    REQUIRE(!plan.steps.empty());
    CHECK(plan.steps.front().target == "/");
    CHECK_FALSE(plan.steps.front().skeleton.empty());
    CHECK(plan.steps.front().kind == StepKind::overlay);

    // Mount-free directories of "/" are overlaid directly.
    const MountStep* usr = step_for(plan, "/usr");
    REQUIRE(usr != nullptr);
    CHECK(usr->kind == StepKind::overlay);
    CHECK(usr->skeleton.empty());
    CHECK(usr->host_path == "/usr");

    // /home is a mount with a mount beneath: split again. /home/ana, on the way
    // down to that mount, joins /home's skeleton (the caller's dir, the host's
    // mode) instead of being a level of its own.
    REQUIRE(step_for(plan, "/home") != nullptr);
    const std::string home_skeleton = step_for(plan, "/home")->skeleton;
    CHECK_FALSE(home_skeleton.empty());
    CHECK(step_for(plan, "/home/cy")->skeleton.empty());
    CHECK(step_for(plan, "/home/ana") == nullptr);
    auto skeleton_entry = [&](const std::string& path) -> const SkeletonEntry* {
        for (const auto& e : plan.skeleton)
            if (e.path == path) return &e;
        return nullptr;
    };
    const SkeletonEntry* ana = skeleton_entry(home_skeleton + "/ana");
    REQUIRE(ana != nullptr);
    CHECK(ana->mode == 0750u);
    CHECK_FALSE(ana->uid.has_value());
    REQUIRE(skeleton_entry(home_skeleton + "/ana/src") != nullptr);
    CHECK_FALSE(skeleton_entry(home_skeleton + "/ana/src")->mode.has_value());  // a mount point
    REQUIRE(skeleton_entry(home_skeleton + "/ana/My Disk") != nullptr);
    CHECK(step_for(plan, "/home/ana/src")->skeleton.empty());
    CHECK(step_for(plan, "/home/ana/My Disk")->kind == StepKind::overlay);
    // Another user's dirs that the caller may neither list nor enter (/root,
    // /home/bo) stand in with the same no-access mode: nothing in them is reachable.
    for (const char* unreachable : {"/root", "/home/bo"}) {
        CAPTURE(unreachable);
        CHECK(step_for(plan, unreachable) == nullptr);
    }
    REQUIRE(skeleton_entry(home_skeleton + "/bo") != nullptr);
    CHECK(skeleton_entry(home_skeleton + "/bo")->mode == 0u);
    // One overlay each: /, /home, /home/cy, /home/ana/src, /home/ana/My Disk,
    // /opt/other, /run, /usr.
    CHECK(plan.layer_count == 8);

    // A read-only host mount stays read-only, without an upper layer.
    const MountStep* tools = step_for(plan, "/opt/tools");
    REQUIRE(tools != nullptr);
    CHECK(tools->kind == StepKind::bind_read_only);
    CHECK(tools->layer == -1);
    CHECK(step_for(plan, "/opt/other")->kind == StepKind::overlay);

    // The sandbox builds its own /proc, /sys and /dev.
    CHECK(step_for(plan, "/proc") == nullptr);
    CHECK(step_for(plan, "/sys") == nullptr);
    CHECK(step_for(plan, "/dev") == nullptr);
    CHECK(step_for(plan, "/dev/shm") == nullptr);

    // Parents are mounted before children.
    for (size_t i = 0; i < plan.steps.size(); ++i)
        for (size_t j = i + 1; j < plan.steps.size(); ++j)
            CHECK_FALSE(plan.steps[i].target.starts_with(plan.steps[j].target + "/"));
}

TEST_CASE(
    "files in a split directory: the caller's small ones are copied, others bound read-only") {
    auto mounts = parse_mountinfo(kMountinfo);
    REQUIRE(mounts.has_value());
    const MountPlan plan = plan_mounts(*mounts, fake_lister(), {.caller_uid = 1000});
    bool copied_mine = false, symlink_kept = false;
    for (const auto& e : plan.skeleton) {
        if (e.path.ends_with("/mine.txt"))
            copied_mine = e.kind == Kind::file && e.host_path == "/mine.txt";
        if (e.path.ends_with("/bin"))
            symlink_kept = e.kind == Kind::symlink && e.link_target == "usr/bin";
    }
    CHECK(copied_mine);
    CHECK(symlink_kept);
    const MountStep* swap = step_for(plan, "/swapfile");
    REQUIRE(swap != nullptr);
    CHECK(swap->kind == StepKind::bind_file_read_only);
}

TEST_CASE("a later mount on a parent path hides earlier mounts beneath it") {
    auto mounts = parse_mountinfo(
        "1 0 8:1 / / rw - ext4 /dev/vda rw\n"
        "2 1 0:1 / /data/inner rw - tmpfs t rw\n"
        "3 1 0:2 / /data rw - tmpfs t rw\n");
    REQUIRE(mounts.has_value());
    DirLister lister = [](const std::string& dir) {
        if (dir == "/") return std::vector<DirEntryInfo>{{"data", Kind::dir, "", 0, 0}};
        return std::vector<DirEntryInfo>{{"inner", Kind::dir, "", 0, 0}};
    };
    const MountPlan plan = plan_mounts(*mounts, lister, {.caller_uid = 0});
    REQUIRE(step_for(plan, "/data") != nullptr);
    CHECK(step_for(plan, "/data")->skeleton.empty());  // nothing visible beneath it any more
    CHECK(step_for(plan, "/data/inner") == nullptr);
}

TEST_CASE("an empty dir at a split level stands in the skeleton when that is faithful") {
    // "/" is split (mounts beneath it). Its empty dirs: srv (root's, 0755), mine
    // (the caller's), drop (root's, world-writable 01777).
    const std::map<std::string, std::vector<DirEntryInfo>> tree = {
        {"/",
         {{"proc", Kind::dir, "", 0, 0},
          {"srv", Kind::dir, "", 0, 0, 0, 0755, true},
          {"mine", Kind::dir, "", 1000, 0, 1000, 0700, true},
          {"drop", Kind::dir, "", 0, 0, 0, 01777, true},
          {"full", Kind::dir, "", 0, 0, 0, 0755, false}}},
    };
    const DirLister lister = [&](const std::string& dir) {
        auto it = tree.find(dir);
        return it == tree.end() ? std::vector<DirEntryInfo>{} : it->second;
    };
    auto mounts = parse_mountinfo(
        "21 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n"
        "22 21 0:5 / /proc rw,nosuid,nodev,noexec - proc proc rw\n");
    REQUIRE(mounts.has_value());
    auto entry = [](const MountPlan& plan, const std::string& name) -> const SkeletonEntry* {
        for (const auto& e : plan.skeleton)
            if (e.path.ends_with("/" + name)) return &e;
        return nullptr;
    };

    // Unprivileged (uid 1000): srv stands in, read-only to the caller as on the host;
    // mine stands in with its own mode; drop keeps its overlay (the caller may
    // write there, and the stand-in would be the caller's, not root's); full too.
    const auto user = plan_mounts(*mounts, lister, {.caller_uid = 1000, .caller_gid = 1000});
    CHECK(step_for(user, "/srv") == nullptr);
    REQUIRE(entry(user, "srv") != nullptr);
    CHECK(entry(user, "srv")->mode == 0555);
    CHECK_FALSE(entry(user, "srv")->uid.has_value());
    CHECK(step_for(user, "/mine") == nullptr);
    CHECK(entry(user, "mine")->mode == 0700);
    REQUIRE(step_for(user, "/drop") != nullptr);
    CHECK(step_for(user, "/drop")->kind == StepKind::overlay);
    REQUIRE(step_for(user, "/full") != nullptr);
    // In the dir's group with write access: the overlay stays.
    const auto grouped = plan_mounts(
        *mounts,
        [](const std::string& dir) {
            return dir == "/"
                       ? std::vector<DirEntryInfo>{{"shared", Kind::dir, "", 0, 0, 50, 0775, true}}
                       : std::vector<DirEntryInfo>{};
        },
        {.caller_uid = 1000, .caller_gid = 1000, .caller_groups = {50}});
    CHECK(step_for(grouped, "/shared") != nullptr);

    // Root: every empty dir stands in, with the host's owner and mode.
    const auto root = plan_mounts(*mounts, lister, {.caller_uid = 0});
    CHECK(step_for(root, "/drop") == nullptr);
    REQUIRE(entry(root, "drop") != nullptr);
    CHECK(entry(root, "drop")->mode == 01777);
    CHECK(entry(root, "drop")->uid == 0u);
    CHECK(step_for(root, "/full") != nullptr);
}

TEST_CASE("a dir on the way down to a mount joins its level's skeleton where that is faithful") {
    // /srv/a/b/disk is a mount; /srv, /srv/a and /srv/a/b are plain dirs of "/".
    auto mounts = parse_mountinfo(
        "21 1 8:1 / / rw,relatime - ext4 /dev/vda rw\n"
        "22 21 0:5 / /srv/a/b/disk rw,relatime - ext4 /dev/vdb rw\n");
    REQUIRE(mounts.has_value());
    auto lister_with = [](DirEntryInfo b) -> DirLister {
        return [b](const std::string& dir) {
            if (dir == "/") return std::vector<DirEntryInfo>{{"srv", Kind::dir, "", 0, 0, 0, 0755}};
            if (dir == "/srv")
                return std::vector<DirEntryInfo>{{"a", Kind::dir, "", 0, 0, 0, 0711}};
            if (dir == "/srv/a") return std::vector<DirEntryInfo>{b};
            if (dir == "/srv/a/b")
                return std::vector<DirEntryInfo>{{"disk", Kind::dir, "", 0, 0, 0, 0755},
                                                 {"notes", Kind::dir, "", 0, 0, 0, 0755}};
            return std::vector<DirEntryInfo>{};
        };
    };
    auto entry = [](const MountPlan& plan, const std::string& suffix) -> const SkeletonEntry* {
        for (const auto& e : plan.skeleton)
            if (e.path.ends_with(suffix)) return &e;
        return nullptr;
    };

    // Root: the whole chain in the root's skeleton, with the host's owners and modes;
    // overlays only for /, the mount, and /srv/a/b/notes.
    const DirEntryInfo b_root_owned{"b", Kind::dir, "", 0, 0, 0, 0750};
    const auto root = plan_mounts(*mounts, lister_with(b_root_owned), {.caller_uid = 0});
    for (const char* dir : {"/srv", "/srv/a", "/srv/a/b"}) CHECK(step_for(root, dir) == nullptr);
    REQUIRE(entry(root, "/srv/a") != nullptr);
    CHECK(entry(root, "/srv/a")->mode == 0711u);
    CHECK(entry(root, "/srv/a")->uid == 0u);
    CHECK(entry(root, "/srv/a/b")->mode == 0750u);
    CHECK_FALSE(entry(root, "/srv/a/b/disk")->mode.has_value());
    CHECK(step_for(root, "/srv/a/b/disk") != nullptr);
    CHECK(step_for(root, "/srv/a/b/notes") != nullptr);
    CHECK(root.layer_count == 3);

    // Unprivileged, root's dirs: the caller cannot write in them, and the stand-ins
    // say so with their owner bits.
    const auto user =
        plan_mounts(*mounts, lister_with(b_root_owned), {.caller_uid = 1000, .caller_gid = 1000});
    CHECK(step_for(user, "/srv/a/b") == nullptr);
    CHECK(entry(user, "/srv/a")->mode == 0111u);
    CHECK(entry(user, "/srv/a/b")->mode == 0050u);
    CHECK(user.layer_count == 3);

    // A dir of another user that the caller may write in: a stand-in would be the
    // caller's, so it stays a split level with an overlay of its own.
    const DirEntryInfo b_shared{"b", Kind::dir, "", 0, 0, 50, 0775};
    const auto grouped =
        plan_mounts(*mounts, lister_with(b_shared),
                    {.caller_uid = 1000, .caller_gid = 1000, .caller_groups = {50}});
    REQUIRE(step_for(grouped, "/srv/a/b") != nullptr);
    CHECK_FALSE(step_for(grouped, "/srv/a/b")->skeleton.empty());
    CHECK(step_for(grouped, "/srv/a") == nullptr);
    CHECK(grouped.layer_count == 4);
}

TEST_CASE("unlocked mounts (a root caller's): every mount overlaid whole, its mounts on top") {
    // kMountinfo plus a file mounted over a file, and a real filesystem mounted on a
    // pseudo one (it cannot be reached: its mount point is on the skipped autofs).
    const std::string text = std::string(kMountinfo) +
                             "30 21 0:13 /resolv /etc/resolv.conf rw - ext4 /dev/vdc rw\n"
                             "31 21 0:14 / /net rw - autofs auto rw\n"
                             "32 31 0:15 / /net/srv rw - nfs srv:/ rw\n";
    auto mounts = parse_mountinfo(text);
    REQUIRE(mounts.has_value());
    // No directory is listed: a lister that fails the test if it is asked.
    bool listed = false;
    const DirLister lister = [&](const std::string&) {
        listed = true;
        return std::vector<DirEntryInfo>{};
    };
    const MountPlan plan = plan_mounts(
        *mounts, lister,
        {.caller_uid = 0, .mounts_locked = false, .is_directory = [](const std::string& path) {
             return path != "/etc/resolv.conf";
         }});
    CHECK_FALSE(listed);
    CHECK(plan.skeleton.empty());

    std::vector<std::string> targets;
    for (const auto& s : plan.steps) {
        targets.push_back(s.target);
        CHECK(s.skeleton.empty());
        CHECK(s.host_path == s.target);
    }
    // Parents before children; /home's mount right after /home.
    const std::vector<std::string> expected = {"/",          "/home", "/home/ana/My Disk",
                                               "/opt/tools", "/run",  "/etc/resolv.conf"};
    CHECK(targets == expected);
    CHECK(step_for(plan, "/")->kind == StepKind::overlay);
    CHECK(step_for(plan, "/home")->kind == StepKind::overlay);
    CHECK(step_for(plan, "/home/ana/My Disk")->kind == StepKind::overlay);
    CHECK(step_for(plan, "/run")->kind == StepKind::overlay);
    CHECK(step_for(plan, "/opt/tools")->kind == StepKind::bind_read_only);
    CHECK(step_for(plan, "/opt/tools")->layer == -1);
    CHECK(step_for(plan, "/etc/resolv.conf")->kind == StepKind::bind_file_read_only);
    CHECK(step_for(plan, "/etc/resolv.conf")->read_only);
    CHECK(plan.layer_count == 4);
    std::vector<int> layers;
    for (const auto& s : plan.steps)
        if (s.kind == StepKind::overlay) layers.push_back(s.layer);
    CHECK(layers == std::vector<int>{0, 1, 2, 3});
    // The sandbox's own /proc, /sys and /dev; nothing under the autofs mount.
    for (const char* absent : {"/proc", "/sys", "/dev", "/dev/shm", "/net", "/net/srv"})
        CHECK(step_for(plan, absent) == nullptr);
}

TEST_CASE("mounts count as locked unless root owns its mount namespace and nothing is locked") {
    std::ifstream own_map("/proc/self/uid_map");
    std::string inside, outside, count;
    own_map >> inside >> outside >> count;
    const bool initial_namespace = inside == "0" && outside == "0" && count == "4294967295";
    if (geteuid() != 0) CHECK(mounts_would_be_locked());
    if (geteuid() == 0 && initial_namespace) CHECK_FALSE(mounts_would_be_locked());

    // Root of a user namespace of its own, in the mount namespace it came from:
    // a copy of that would be locked.
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        const std::string map = "0 " + std::to_string(geteuid()) + " 1";
        if (unshare(CLONE_NEWUSER) != 0) _exit(2);
        const int fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, map.data(), map.size()) != static_cast<ssize_t>(map.size()))
            _exit(3);
        close(fd);
        _exit(geteuid() == 0 && mounts_would_be_locked() ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("a stand-in's mode grants the caller what the host grants it, as the owner") {
    const CallerIds caller{1000, 1000, {27, 1002}};
    struct stat st {};
    st.st_uid = 0;
    st.st_gid = 0;
    st.st_mode = S_IFDIR | 0755;
    CHECK(caller_owned_mode(st, caller) == 0555);  // other's r-x as the owner's
    st.st_mode = S_IFDIR | 01777;
    CHECK(caller_owned_mode(st, caller) == 01777);  // sticky kept
    st.st_gid = 1002;                               // a supplementary group
    st.st_mode = S_IFDIR | 02770;
    CHECK(caller_owned_mode(st, caller) == 0770);  // setgid dropped
    st.st_mode = S_IFDIR | 0750;
    CHECK(caller_owned_mode(st, caller) == 0550);
    st.st_uid = 1000;
    st.st_mode = S_IFDIR | 02755;
    CHECK(caller_owned_mode(st, caller) == 0755);
    CHECK_FALSE(owners_mapped(st, caller));  // group 1002 is not mapped
    st.st_gid = 1000;
    CHECK(owners_mapped(st, caller));
}
