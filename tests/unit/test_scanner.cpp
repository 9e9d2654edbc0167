// The scanner on hand-made upper layers: each case builds a host tree and an
// upper directory the way overlayfs would, and checks the classification.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <map>

#include "whatif/effects/scanner.hpp"
#include "whatif/util/fs.hpp"

using namespace whatif;
using effects::Change;
using effects::FileType;

namespace {

struct Fixture {
    std::string root, host, upper;
    Fixture() {
        char tmpl[] = "/tmp/whatif-scan-XXXXXX";
        root = mkdtemp(tmpl);
        host = root + "/host";
        upper = root + "/upper";
        mkdir(host.c_str(), 0755);
        mkdir(upper.c_str(), 0755);
    }
    ~Fixture() { util::remove_tree(root); }

    static void write(const std::string& path, const std::string& content) {
        std::ofstream(path, std::ios::binary) << content;
    }
    // A copy-up: same content, mode and times as the host file.
    void copy_up(const std::string& rel) {
        const std::string src = host + "/" + rel, dst = upper + "/" + rel;
        std::ifstream in(src, std::ios::binary);
        std::ofstream(dst, std::ios::binary) << in.rdbuf();
        struct stat st {};
        stat(src.c_str(), &st);
        chmod(dst.c_str(), st.st_mode & 07777);
        const timespec times[2] = {st.st_atim, st.st_mtim};
        utimensat(AT_FDCWD, dst.c_str(), times, 0);
    }
    void copy_up_dir(const std::string& rel) {
        const std::string dst = upper + "/" + rel;
        struct stat st {};
        stat((host + "/" + rel).c_str(), &st);
        mkdir(dst.c_str(), st.st_mode & 07777);
    }

    std::map<std::string, effects::FileEffect> scan() {
        auto result = effects::scan_upper_layers({{host, upper}});
        REQUIRE(result.has_value());
        std::map<std::string, effects::FileEffect> by_path;
        for (auto& e : result->files) by_path[e.path.substr(host.size())] = e;
        return by_path;
    }
};

}  // namespace

TEST_CASE("created, modified, appended and unchanged copy-ups") {
    Fixture f;
    Fixture::write(f.host + "/same", "unchanged");
    Fixture::write(f.host + "/mod", "hello");
    Fixture::write(f.host + "/app", "line1\n");
    f.copy_up("same");
    f.copy_up("mod");
    Fixture::write(f.upper + "/mod", "HELLO");  // same size, other bytes
    f.copy_up("app");
    Fixture::write(f.upper + "/app", "line1\nline2\n");
    Fixture::write(f.upper + "/new", "fresh");

    auto effects = f.scan();
    CHECK(effects.size() == 3);
    CHECK_FALSE(effects.contains("/same"));
    REQUIRE(effects.contains("/mod"));
    CHECK(effects["/mod"].change == Change::modified);
    REQUIRE(effects.contains("/app"));
    CHECK(effects["/app"].change == Change::modified);
    CHECK(effects["/app"].before->size == 6);
    CHECK(effects["/app"].after->size == 12);
    REQUIRE(effects.contains("/new"));
    CHECK(effects["/new"].change == Change::created);
    CHECK_FALSE(effects["/new"].before.has_value());
}

TEST_CASE("chmod and a touched mtime alone are metadata") {
    Fixture f;
    Fixture::write(f.host + "/a", "x");
    Fixture::write(f.host + "/b", "y");
    f.copy_up("a");
    chmod((f.upper + "/a").c_str(), 0755);
    f.copy_up("b");
    const timespec later[2] = {{1000, 0}, {1000, 0}};
    utimensat(AT_FDCWD, (f.upper + "/b").c_str(), later, 0);
    auto effects = f.scan();
    REQUIRE(effects.size() == 2);
    CHECK(effects["/a"].change == Change::metadata);
    CHECK(effects["/a"].after->mode == 0755);
    CHECK(effects["/b"].change == Change::metadata);
}

TEST_CASE("character-device whiteouts delete, recursively for directories") {
    Fixture f;
    Fixture::write(f.host + "/gone", "bye");
    mkdir((f.host + "/tree").c_str(), 0755);
    mkdir((f.host + "/tree/sub").c_str(), 0755);
    Fixture::write(f.host + "/tree/sub/x", "12345");
    // The 0:0 character device whiteout (unprivileged since Linux 5.8).
    REQUIRE(mknod((f.upper + "/gone").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
    REQUIRE(mknod((f.upper + "/tree").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
    // A whiteout for something the host never had is no effect.
    REQUIRE(mknod((f.upper + "/never").c_str(), S_IFCHR | 0, makedev(0, 0)) == 0);
    auto effects = f.scan();
    CHECK(effects.size() == 4);
    CHECK(effects["/gone"].change == Change::deleted);
    CHECK(effects["/gone"].before->size == 3);
    CHECK(effects["/tree"].change == Change::deleted);
    CHECK(effects["/tree"].type == FileType::dir);
    CHECK(effects["/tree/sub"].change == Change::deleted);
    CHECK(effects["/tree/sub/x"].change == Change::deleted);
    CHECK_FALSE(effects.contains("/never"));
}

TEST_CASE("xattr whiteouts (overlay.whiteout on an empty file, in a marked directory) delete too") {
    for (const char* mark : {"user.overlay.whiteouts", "user.overlay.opaque"}) {
        Fixture f;
        mkdir((f.host + "/d").c_str(), 0755);
        Fixture::write(f.host + "/d/gone", "bye");
        Fixture::write(f.host + "/d/kept", "stays");
        f.copy_up_dir("d");
        // overlay.opaque = "x" marks (6.7), it does not make the directory opaque.
        const char* value = std::string_view(mark).ends_with("opaque") ? "x" : "y";
        REQUIRE(setxattr((f.upper + "/d").c_str(), mark, value, 1, 0) == 0);
        Fixture::write(f.upper + "/d/gone", "");
        REQUIRE(setxattr((f.upper + "/d/gone").c_str(), "user.overlay.whiteout", "y", 1, 0) == 0);
        Fixture::write(f.upper + "/d/empty-but-real", "");
        auto effects = f.scan();
        INFO("mark: " << mark);
        CHECK(effects.size() == 2);
        CHECK(effects["/d/gone"].change == Change::deleted);
        CHECK(effects["/d/empty-but-real"].change == Change::created);
        CHECK_FALSE(effects.contains("/d/kept"));
    }
}

TEST_CASE("an opaque directory deletes every host entry the upper layer lacks") {
    Fixture f;
    mkdir((f.host + "/d").c_str(), 0755);
    Fixture::write(f.host + "/d/old1", "1");
    mkdir((f.host + "/d/olddir").c_str(), 0755);
    Fixture::write(f.host + "/d/olddir/deep", "2");
    Fixture::write(f.host + "/d/kept", "same");
    f.copy_up_dir("d");
    REQUIRE(setxattr((f.upper + "/d").c_str(), "user.overlay.opaque", "y", 1, 0) == 0);
    f.copy_up("d/kept");  // recreated identical: no effect
    Fixture::write(f.upper + "/d/new", "n");
    auto effects = f.scan();
    CHECK(effects.size() == 4);
    CHECK(effects["/d/old1"].change == Change::deleted);
    CHECK(effects["/d/olddir"].change == Change::deleted);
    CHECK(effects["/d/olddir/deep"].change == Change::deleted);
    CHECK(effects["/d/new"].change == Change::created);
    CHECK_FALSE(effects.contains("/d/kept"));
    CHECK_FALSE(effects.contains("/d"));
}

TEST_CASE("beneath an opaque directory, an unmarked upper directory hides its host twin") {
    // What overlayfs leaves after `rm -rf d && mkdir -p d/s`: d is marked opaque, d/s
    // is not (its parent has no lower layer to hide), yet the host's d/s is gone.
    Fixture f;
    mkdir((f.host + "/d").c_str(), 0755);
    mkdir((f.host + "/d/s").c_str(), 0755);
    mkdir((f.host + "/d/s/t").c_str(), 0755);
    Fixture::write(f.host + "/d/s/x", "x");
    Fixture::write(f.host + "/d/s/t/y", "y");
    f.copy_up_dir("d");
    REQUIRE(setxattr((f.upper + "/d").c_str(), "user.overlay.opaque", "y", 1, 0) == 0);
    f.copy_up_dir("d/s");
    f.copy_up_dir("d/s/t");
    auto effects = f.scan();
    CHECK(effects.size() == 2);
    CHECK(effects["/d/s/x"].change == Change::deleted);
    CHECK(effects["/d/s/t/y"].change == Change::deleted);
}

TEST_CASE("trusted.overlay.opaque is honoured too (needs CAP_SYS_ADMIN to set)") {
    Fixture f;
    mkdir((f.host + "/d").c_str(), 0755);
    Fixture::write(f.host + "/d/old", "1");
    f.copy_up_dir("d");
    if (setxattr((f.upper + "/d").c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        const int err = errno;
        MESSAGE("trusted.* xattrs need root: checked in the root pass of scripts/test.sh");
        CHECK(err == EPERM);
        return;
    }
    auto effects = f.scan();
    CHECK(effects.size() == 1);
    CHECK(effects["/d/old"].change == Change::deleted);
}

TEST_CASE("type changes are replacements; a replaced directory's contents are deleted") {
    Fixture f;
    Fixture::write(f.host + "/file2dir", "f");
    mkdir((f.host + "/dir2file").c_str(), 0755);
    Fixture::write(f.host + "/dir2file/inside", "i");
    symlink("target", (f.host + "/link").c_str());
    mkdir((f.upper + "/file2dir").c_str(), 0755);
    Fixture::write(f.upper + "/file2dir/child", "c");
    Fixture::write(f.upper + "/dir2file", "now a file");
    symlink("elsewhere", (f.upper + "/link").c_str());
    mkfifo((f.upper + "/fifo").c_str(), 0644);
    auto effects = f.scan();
    CHECK(effects["/file2dir"].change == Change::replaced);
    CHECK(effects["/file2dir"].before->type == FileType::file);
    CHECK(effects["/file2dir"].after->type == FileType::dir);
    CHECK(effects["/file2dir/child"].change == Change::created);
    CHECK(effects["/dir2file"].change == Change::replaced);
    CHECK(effects["/dir2file/inside"].change == Change::deleted);
    CHECK(effects["/link"].change == Change::modified);
    CHECK(effects["/link"].before->target == "target");
    CHECK(effects["/link"].after->target == "elsewhere");
    CHECK(effects["/fifo"].change == Change::created);
    CHECK(effects["/fifo"].type == FileType::fifo);
    CHECK(effects.size() == 6);
}

TEST_CASE("names with newlines, spaces and invalid UTF-8 are kept exactly") {
    Fixture f;
    const std::string odd = std::string("a\nb c\xff", 6);
    Fixture::write(f.upper + "/" + odd, "x");
    auto effects = f.scan();
    REQUIRE(effects.size() == 1);
    CHECK(effects.begin()->first == "/" + odd);
    // And survive the JSON round trip byte for byte.
    effects::EffectSet set;
    set.files.push_back(effects.begin()->second);
    auto back = effects::effect_set_from_json(effects::to_json(set));
    REQUIRE(back.has_value());
    CHECK(back->files[0].path == f.host + "/" + odd);
}

TEST_CASE("a directory the command made unreadable is reported, not silently skipped") {
    Fixture f;
    mkdir((f.upper + "/locked").c_str(), 0755);
    Fixture::write(f.upper + "/locked/x", "x");
    chmod((f.upper + "/locked").c_str(), 0);
    auto result = effects::scan_upper_layers({{f.host, f.upper}});
    chmod((f.upper + "/locked").c_str(), 0755);
    REQUIRE(result.has_value());
    if (geteuid() == 0) {
        // Root reads it: both entries, no warning.
        CHECK(result->files.size() == 2);
        CHECK(result->warnings.empty());
    } else {
        CHECK(result->files.size() == 1);  // the directory itself
        REQUIRE(result->warnings.size() == 1);
        CHECK(result->warnings.front().find("locked") != std::string::npos);
    }
}

TEST_CASE("a stand-in dir is compared with its seeded state, not with the host") {
    Fixture f;
    mkdir((f.host + "/standin").c_str(), 0755);
    mkdir((f.host + "/changed").c_str(), 0755);
    Fixture::write(f.host + "/standin/old", "x");
    mkdir((f.upper + "/standin").c_str(), 0700);  // whatif's own mode for it
    mkdir((f.upper + "/changed").c_str(), 0700);
    Fixture::write(f.upper + "/standin/new", "y");
    const std::vector<effects::SeededDir> seeded = {
        {f.host + "/standin", 0700, geteuid(), getegid()},
        {f.host + "/changed", 0500, geteuid(), getegid()}};  // the command chmod'ed it
    auto result = effects::scan_upper_layers({{f.host, f.upper}}, {}, seeded);
    REQUIRE(result.has_value());
    std::map<std::string, effects::FileEffect> by_path;
    for (auto& e : result->files) by_path[e.path.substr(f.host.size())] = e;
    CHECK(by_path.size() == 2);
    CHECK_FALSE(by_path.contains("/standin"));
    REQUIRE(by_path.contains("/standin/new"));
    CHECK(by_path["/standin/new"].change == Change::created);
    REQUIRE(by_path.contains("/changed"));
    CHECK(by_path["/changed"].change == Change::metadata);
    CHECK(by_path["/changed"].before->mode == 0755);
}

TEST_CASE("a decoy file is compared with the content it was given, never with the real file") {
    Fixture f;
    for (const char* name : {"untouched", "written", "touched"}) {
        Fixture::write(f.host + "/" + name, "REAL SECRET\n");
        chmod((f.host + "/" + name).c_str(), 0600);
    }
    const std::string decoy = "CANARY\n";
    std::vector<effects::SeededFile> seeded;
    for (const char* name : {"untouched", "written", "touched"}) {
        const std::string path = f.upper + "/" + name;
        Fixture::write(path, decoy);
        chmod(path.c_str(), 0600);
        struct stat st {};
        stat((f.host + "/" + name).c_str(), &st);
        const timespec times[2] = {st.st_atim, st.st_mtim};
        utimensat(AT_FDCWD, path.c_str(), times, 0);
        seeded.push_back(
            {f.host + "/" + name, effects::hash_bytes(decoy), 0600, geteuid(), getegid()});
    }
    Fixture::write(f.upper + "/written", decoy + "NEW=1\n");
    const timespec now[2] = {{1000, 0}, {1000, 0}};  // the command touched it
    utimensat(AT_FDCWD, (f.upper + "/touched").c_str(), now, 0);
    auto result = effects::scan_upper_layers({{f.host, f.upper}}, {}, {}, seeded);
    REQUIRE(result.has_value());
    std::map<std::string, effects::FileEffect> by_path;
    for (auto& e : result->files) by_path[e.path.substr(f.host.size())] = e;
    CHECK_FALSE(by_path.contains("/untouched"));  // differs from the host, yet no effect
    REQUIRE(by_path.contains("/written"));
    CHECK(by_path["/written"].change == Change::modified);
    REQUIRE(by_path.contains("/touched"));
    CHECK(by_path["/touched"].change == Change::metadata);
}
