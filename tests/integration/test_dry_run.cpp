// Dry runs of real commands in real sandboxes. Every case checks both halves of
// the promise: the host tree is byte-for-byte unchanged, and the report lists
// exactly the effects the command would have had.
#include <sys/mount.h>
#include <sys/stat.h>

#include <functional>
#include <set>

#include "integration/harness.hpp"
#include "support/pty.hpp"

using namespace whatif::test;
using Effects = std::map<std::string, std::string>;

namespace {

struct Scenario {
    const char* name;
    std::function<void(const World&)> setup;
    std::string script;
    Effects expected;
};

// `whatif run --format json -n -- sh -c SCRIPT`, the host tree checked unchanged
// against a full before/after snapshot.
nlohmann::json dry_run_host_unchanged(const World& w, const std::string& script,
                                      ProcessResult& raw) {
    const TreeSnapshot before = snapshot_tree(w.host);
    auto set = w.dry_run_sh(script, &raw);
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
    return set;
}

void check_scenario(const Scenario& s) {
    World w;
    s.setup(w);
    ProcessResult raw;
    INFO("scenario: " << s.name << "\nstderr: " << raw.err);  // (read when a check fails)
    const auto set = dry_run_host_unchanged(w, s.script, raw);
    CHECK(set["run"]["exit_status"] == 0);
    CHECK(w.host_effects(set) == s.expected);
    // Nothing outside the host tree was changed by these commands.
    CHECK(set["files"].size() == s.expected.size());
    CHECK(raw.exit_code == (s.expected.empty() ? 0 : 3));
}

void nothing(const World&) {}

// Root only (host mounts are made): `body` runs twice, whatif as root (its mounts
// not locked: each is overlaid whole) and as root of a user namespace of its own
// (locked: split levels, as in a container).
void in_both_mount_modes(const std::function<void(World&)>& body) {
    if (geteuid() != 0) {
        MESSAGE("making host mounts needs root: this case runs in the root pass");
        return;
    }
    for (const bool in_user_namespace : {false, true}) {
        CAPTURE(in_user_namespace);
        World w;
        w.in_user_namespace = in_user_namespace;
        body(w);
    }
}

}  // namespace

TEST_CASE("filesystem effects are captured exactly and the host is untouched") {
    const std::vector<Scenario> scenarios = {
        {"rm -rf of a tree",
         [](const World& w) {
             w.mkdirs("data/sub/deeper");
             w.write("data/a.txt", "a");
             w.write("data/sub/b.txt", "bb");
             w.write("data/sub/deeper/c.txt", "ccc");
             w.write("keep.txt", "keep");
         },
         "rm -rf data",
         {{"data", "deleted"},
          {"data/a.txt", "deleted"},
          {"data/sub", "deleted"},
          {"data/sub/b.txt", "deleted"},
          {"data/sub/deeper", "deleted"},
          {"data/sub/deeper/c.txt", "deleted"}}},
        {"create",
         nothing,
         "echo hi > new.txt && mkdir newdir && echo x > newdir/inner",
         {{"new.txt", "created"}, {"newdir", "created"}, {"newdir/inner", "created"}}},
        {"modify",
         [](const World& w) { w.write("f.txt", "hello"); },
         "echo HELLO > f.txt",
         {{"f.txt", "modified"}}},
        {"modify in place, same size",
         [](const World& w) { w.write("f.txt", "hello"); },
         "printf HELLO > f.txt",
         {{"f.txt", "modified"}}},
        {"append",
         [](const World& w) { w.write("log", "a\n"); },
         "echo b >> log",
         {{"log", "modified"}}},
        {"chmod",
         [](const World& w) { w.write("x.sh", "#!/bin/sh\n"); },
         "chmod 755 x.sh",
         {{"x.sh", "metadata"}}},
        {"symlink create", nothing, "ln -s target link", {{"link", "created"}}},
        {"symlink retarget",
         [](const World& w) { symlink("a", (w.host + "/link").c_str()); },
         "ln -sfn b link",
         {{"link", "modified"}}},
        {"mkdir over a deleted file (file -> dir)",
         [](const World& w) { w.write("f", "file"); },
         "rm f && mkdir f",
         {{"f", "replaced"}}},
        {"dir -> file",
         [](const World& w) {
             w.mkdirs("d");
             w.write("d/x", "x");
         },
         "rm -rf d && echo now-a-file > d",
         {{"d", "replaced"}, {"d/x", "deleted"}}},
        {"FIFO", nothing, "mkfifo pipe", {{"pipe", "created"}}},
        {"open for append, nothing written",
         [](const World& w) { w.write("t", "same"); },
         ": >> t",
         {}},
        {"touch of an existing file is metadata (mtime)",
         [](const World& w) { w.write("t", "same"); },
         "touch t",
         {{"t", "metadata"}}},
        {"rename",
         [](const World& w) { w.write("a.txt", "A"); },
         "mv a.txt b.txt",
         {{"a.txt", "deleted"}, {"b.txt", "created"}}},
        {"a directory recreated (opaque): old entries vanish",
         [](const World& w) {
             w.mkdirs("d");
             w.write("d/old1", "1");
             w.write("d/old2", "2");
         },
         "rm -rf d && mkdir d && echo c > d/new",
         {{"d/old1", "deleted"}, {"d/old2", "deleted"}, {"d/new", "created"}}},
        {"a tree recreated under an opaque dir: what the host had beneath is deleted",
         [](const World& w) {
             w.mkdirs("d/s/t");
             w.write("d/s/x", "x");
             w.write("d/s/t/y", "y");
             w.write("d/z", "z");
         },
         "rm -rf d && mkdir -p d/s/t",
         {{"d/s/x", "deleted"}, {"d/s/t/y", "deleted"}, {"d/z", "deleted"}}},
        {"touch then rm: no net effect", nothing, "touch tmp && rm tmp", {}},
        {"a newline in a name", nothing, "touch \"$(printf 'a\\nb')\"", {{"a\nb", "created"}}},
        {"invalid UTF-8 in a name",
         nothing,
         "touch \"$(printf 'bad\\377name')\"",
         {{"bad\xffname", "created"}}},
    };
    for (const auto& s : scenarios) {
        SUBCASE(s.name) {
            check_scenario(s);
        }
    }
}

TEST_CASE("writes to $HOME and /tmp are captured, and do not reach the host") {
    World w;
    const std::string tmp_target = "/tmp/whatif-it-never-" + std::to_string(getpid());
    const auto home_before = snapshot_tree(w.home);
    ProcessResult raw;
    const auto set =
        w.dry_run_sh("echo secret > \"$HOME/.bashrc\" && echo x > " + tmp_target, &raw);
    CHECK(describe_differences(home_before, snapshot_tree(w.home)) == "");
    CHECK_FALSE(w.exists(tmp_target));
    CHECK_FALSE(w.exists(w.home + "/.bashrc"));
    std::set<std::string> paths;
    for (const auto& f : set["files"]) paths.insert(f["path"].get<std::string>());
    CHECK(paths.contains(w.home + "/.bashrc"));
    CHECK(paths.contains(tmp_target));
}

TEST_CASE("argv is executed as given: sh -c keeps its quoting") {
    World w;
    const auto r = w.whatif({"-n", "--", "sh", "-c", "printf '%s|' \"a  b\" \"$0\"", "zero arg"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("a  b|zero arg|") == 0);
}

TEST_CASE("stdin is passed through; stdout is passed through and saved in the run") {
    World w;
    const auto r =
        w.whatif({"-n", "--", "sh", "-c", "tr a-z A-Z; echo to-stderr >&2"}, "hello world\n");
    CHECK(r.out.find("HELLO WORLD\n") == 0);
    CHECK(r.err.find("to-stderr") != std::string::npos);
    const auto id = w.whatif({"show", "--format", "json"});
    const auto j = nlohmann::json::parse(id.out);
    const std::string run_dir = w.store + "/runs/" + j["run"]["id"].get<std::string>();
    CHECK(read_text(run_dir + "/stdout.log") == "HELLO WORLD\n");
    CHECK(read_text(run_dir + "/stderr.log") == "to-stderr\n");
}

TEST_CASE("with --format json, stdout is the effect set alone") {
    World w;
    const auto r = w.whatif({"--format", "json", "-n", "--", "echo", "noise"});
    const auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["schema"] == "whatif/effects/v1");
    CHECK(r.err.find("noise") != std::string::npos);
}

TEST_CASE("exit status, signals and --exit-status command") {
    World w;
    ProcessResult raw;
    auto set = w.dry_run_sh("exit 3", &raw);
    CHECK(set["run"]["exit_status"] == 3);
    CHECK(set["run"]["signal"].is_null());
    CHECK(raw.exit_code == 0);  // decision: nothing changed, allow

    set = w.dry_run_sh("exit 3", &raw, {"--exit-status", "command"});
    CHECK(raw.exit_code == 3);

    set = w.dry_run_sh("kill -TERM $$", &raw, {"--exit-status", "command"});
    CHECK(set["run"]["signal"] == 15);
    CHECK(set["run"]["exit_status"].is_null());
    CHECK(raw.exit_code == 128 + 15);
}

TEST_CASE("Ctrl-C on the terminal reaches the command (it has a session of its own)") {
    World w;
    PtySession s(whatif_binary(),
                 {"-n", "--", "sh", "-c",
                  "trap 'kill $!; echo got-int; exit 5' INT; echo ready; sleep 30 & wait"},
                 w.host, {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"NO_COLOR", "1"}});
    REQUIRE(s.wait_for("ready"));
    s.send("\x03");
    CHECK(s.wait_for("got-int"));
    CHECK(s.wait_for("exit 5)"));  // the report's status line
    // nothing changed: allow. (The background sleep ignores SIGINT, as an async
    // list of a non-interactive shell does: the trap ends it, or the run would
    // report it as still running.)
    const int exit_code = s.wait_exit();
    INFO(s.output());
    CHECK(exit_code == 0);
}

TEST_CASE("--timeout kills the whole tree") {
    World w;
    ProcessResult raw;
    const auto set =
        w.dry_run_sh("sleep 300 & sleep 300; echo never > f", &raw, {"--timeout", "1s"});
    CHECK(set["run"]["timed_out"] == true);
    CHECK(set["run"]["signal"] == 9);
    CHECK(set["run"]["duration_ms"].get<int>() >= 1000);
    CHECK(w.host_effects(set).empty());
}

TEST_CASE("command not found is reported like a shell does") {
    World w;
    const auto r = w.whatif(
        {"--format", "json", "-n", "--exit-status", "command", "--", "no-such-command-xyz"});
    CHECK(r.exit_code == 127);
    CHECK(r.err.find("no-such-command-xyz: command not found") != std::string::npos);
    CHECK(nlohmann::json::parse(r.out)["run"]["exit_status"] == 127);
}

TEST_CASE(
    "PATH is searched like a shell does: relative entries from the cwd, unexecutable skipped") {
    World w;
    w.mkdirs("sub/bin");
    w.mkdirs("noexec");
    w.write("sub/bin/tool", "#!/bin/sh\necho from-sub-bin \"$0\"\n");
    w.write("noexec/tool", "#!/bin/sh\necho from-noexec\n");
    w.write("noexec/only-here", "#!/bin/sh\necho never\n");
    chmod((w.host + "/sub/bin/tool").c_str(), 0755);
    chmod((w.host + "/noexec/tool").c_str(), 0644);
    chmod((w.host + "/noexec/only-here").c_str(), 0644);
    auto run = [&](const std::string& command) {
        ProcessOptions options;
        options.cwd = w.host;
        options.env = {{"WHATIF_HOME", w.store},
                       {"HOME", w.home},
                       {"NO_COLOR", "1"},
                       {"WHATIF_LOG", "warn"},
                       {"PATH", w.host + "/noexec:bin:/usr/bin:/bin"}};
        // whatif itself runs elsewhere; the command's cwd is sub (relative "bin").
        return run_process(
            whatif_binary(),
            {"run", "--cwd", w.host + "/sub", "-n", "--exit-status", "command", "--", command},
            options);
    };
    const auto found = run("tool");
    INFO(found.err);
    CHECK(found.exit_code == 0);
    CHECK(found.out.find("from-sub-bin bin/tool\n") == 0);  // $0 as a shell names it
    // Only an unexecutable candidate: exec says why, 126 as in a shell.
    const auto denied = run("only-here");
    INFO(denied.err);
    CHECK(denied.exit_code == 126);
    CHECK(denied.err.find("only-here: Permission denied") != std::string::npos);
    CHECK(run("no-such-tool").exit_code == 127);
}

TEST_CASE("inside: pid namespace, fresh /proc, read-only /sys, store invisible") {
    World w;
    ProcessResult raw;
    w.dry_run_sh("echo $$ > /dev/null", &raw);  // makes the store exist
    const auto r = w.whatif(
        {"-n", "--", "sh", "-c",
         "echo pid=$$; ls -A \"$WHATIF_HOME\" | wc -l; touch /sys/x 2>/dev/null || echo sys-ro; "
         "test -e /dev/null && test -e /dev/pts/ptmx && echo dev-ok; cat /proc/1/comm"});
    INFO(r.err);
    CHECK(r.out.find("pid=2\n") != std::string::npos);
    CHECK(r.out.find("\n0\n") != std::string::npos);  // the store is an empty directory inside
    CHECK(r.out.find("sys-ro") != std::string::npos);
    CHECK(r.out.find("dev-ok") != std::string::npos);
    CHECK(r.out.find("whatif") != std::string::npos);  // pid 1 is whatif's init
}

TEST_CASE("a read-only host mount stays read-only inside; tmpfs mounts under mounts are captured") {
    // Directly (root's mounts unlocked), and as root of a user namespace of its own
    // (locked: split levels).
    in_both_mount_modes([](World& w) {
        w.mkdirs("ro");
        w.mkdirs("tmpfs");
        REQUIRE(mount("tmpfs", (w.host + "/ro").c_str(), "tmpfs", MS_RDONLY, "size=1m") == 0);
        REQUIRE(mount("tmpfs", (w.host + "/tmpfs").c_str(), "tmpfs", 0, "size=1m") == 0);
        w.mkdirs("tmpfs/inner");
        w.write("tmpfs/inner/old", "old");
        ProcessResult raw;
        const auto set = dry_run_host_unchanged(
            w,
            "touch ro/x 2>/dev/null && echo ro-writable; echo new > tmpfs/inner/new; rm "
            "tmpfs/inner/old",
            raw);
        umount2((w.host + "/ro").c_str(), MNT_DETACH);
        umount2((w.host + "/tmpfs").c_str(), MNT_DETACH);
        CHECK(raw.err.find("ro-writable") == std::string::npos);
        CHECK(w.host_effects(set) ==
              Effects{{"tmpfs/inner/new", "created"}, {"tmpfs/inner/old", "deleted"}});
    });
}

TEST_CASE("a host mount overlayfs refuses is read-only inside, says so, and the decision asks") {
    // An overlay stacked twice already cannot be a layer (the kernel's stacking
    // depth); so it is with vfat, such as an EFI system partition.
    in_both_mount_modes([](World& w) {
        for (const char* d : {"/l1", "/u1", "/w1", "/m1", "/u2", "/w2"})
            REQUIRE(mkdir((w.root + d).c_str(), 0755) == 0);
        w.mkdirs("plain");
        w.mkdirs("stacked");
        REQUIRE(mount("overlay", (w.root + "/m1").c_str(), "overlay", 0,
                      ("lowerdir=" + w.root + "/l1,upperdir=" + w.root + "/u1,workdir=" + w.root +
                       "/w1")
                          .c_str()) == 0);
        REQUIRE(mount("overlay", (w.host + "/stacked").c_str(), "overlay", 0,
                      ("lowerdir=" + w.root + "/m1,upperdir=" + w.root + "/u2,workdir=" + w.root +
                       "/w2")
                          .c_str()) == 0);
        w.write("stacked/old", "old");
        ProcessResult raw;
        const auto set = dry_run_host_unchanged(
            w, "echo a > plain/f; echo b > stacked/old 2>/dev/null || echo refused >&2", raw);
        umount2((w.host + "/stacked").c_str(), MNT_DETACH);
        umount2((w.root + "/m1").c_str(), MNT_DETACH);
        INFO(raw.err);
        CHECK(raw.err.find("refused") != std::string::npos);
        CHECK(w.host_effects(set) == Effects{{"plain/f", "created"}});
        bool warned = false;
        for (const auto& warning : set["warnings"])
            warned = warned || warning.get<std::string>().starts_with(w.host +
                                                                      "/stacked cannot "
                                                                      "be overlaid");
        CHECK(warned);
        CHECK(set["decision"]["verdict"] == "ask");
        CHECK(set["decision"]["reasons"][0]["rule"] == "incomplete-capture");
        REQUIRE(set["run"]["capture"].is_array());
        CHECK(set["run"]["capture"][0]["kind"] == "unsupported-mount");
        // Decided again under another profile: still incomplete, still no allow.
        for (const char* profile : {"agent", "ci"}) {
            CAPTURE(profile);
            const auto again = w.whatif({"check", "last", "-p", profile, "--format", "json"});
            const auto rechecked = nlohmann::json::parse(again.out, nullptr, false);
            REQUIRE_FALSE(rechecked.is_discarded());
            CHECK(rechecked["decision"]["verdict"] != "allow");
            REQUIRE_FALSE(rechecked["decision"]["reasons"].empty());
            CHECK(rechecked["decision"]["reasons"][0]["rule"] == "incomplete-capture");
        }
    });
}

TEST_CASE("a root caller's host mounts are overlaid whole: every file in them is writable") {
    // level is a mount with a mount beneath it and a file too large for a skeleton
    // copy. Root's own mounts are not locked: level is one overlay, and big can be
    // written. As root of a user namespace (a container) they are locked: level is
    // split, big is bound read-only, and the append fails as it is refused.
    in_both_mount_modes([](World& w) {
        w.mkdirs("level");
        REQUIRE(mount("tmpfs", (w.host + "/level").c_str(), "tmpfs", 0, "size=8m") == 0);
        w.mkdirs("level/inner");
        w.write("level/big", std::string(2 << 20, 'b'));
        REQUIRE(mount("tmpfs", (w.host + "/level/inner").c_str(), "tmpfs", 0, "size=1m") == 0);
        ProcessResult raw;
        const auto set =
            dry_run_host_unchanged(w, "echo x >> level/big; echo y > level/inner/f", raw);
        umount2((w.host + "/level").c_str(), MNT_DETACH);
        INFO(raw.err);
        if (w.in_user_namespace)
            CHECK(w.host_effects(set) == Effects{{"level/inner/f", "created"}});
        else
            CHECK(w.host_effects(set) ==
                  Effects{{"level/big", "modified"}, {"level/inner/f", "created"}});
    });
}

TEST_CASE("the command runs in a user namespace of its own, and root may bind low ports") {
    World w;
    char host_userns[64] = {};
    REQUIRE(readlink("/proc/self/ns/user", host_userns, sizeof host_userns - 1) > 0);
    ProcessResult raw;
    w.dry_run_sh(
        "readlink /proc/self/ns/user >&2; python3 -c \"import socket\ns = socket.socket()\n"
        "try:\n s.bind(('127.0.0.1', 80)); print('bound')\nexcept OSError as e: "
        "print('refused', e.errno)\" >&2",
        &raw);
    INFO(raw.err);
    CHECK(raw.exit_code == 0);
    CHECK(raw.err.find("user:[") != std::string::npos);
    CHECK(raw.err.find(host_userns) == std::string::npos);
    // As on the host: root keeps net_bind_service, nobody else has it.
    if (geteuid() == 0)
        CHECK(raw.err.find("bound\n") != std::string::npos);
    else
        CHECK(raw.err.find("refused 13\n") != std::string::npos);
}

TEST_CASE("the roots of the overlays grant inside what the host grants the caller") {
    World w;
    // Each overlay's upper root takes the host root's owner and mode (sticky /tmp
    // included), whatever the umask took from mkdir.
    std::vector<std::string> roots = {"/tmp", "/usr", "/etc", "/var", "/root", w.home};
    if (geteuid() == 0) {
        w.mkdirs("sticky");
        REQUIRE(mount("tmpfs", (w.host + "/sticky").c_str(), "tmpfs", 0,
                      "size=1m,mode=1777,uid=1234,gid=1234") == 0);
        roots.push_back(w.host + "/sticky");
    }
    std::string script, expected;
    for (const std::string& d : roots) {
        script += "{ for t in r w x k; do if [ -$t '" + d +
                  "' ]; then printf $t; else printf -; fi; done; echo ' " + d + "'; } >&2; ";
        struct stat st {};
        REQUIRE(stat(d.c_str(), &st) == 0);
        expected += access(d.c_str(), R_OK) == 0 ? "r" : "-";
        expected += access(d.c_str(), W_OK) == 0 ? "w" : "-";
        expected += access(d.c_str(), X_OK) == 0 ? "x" : "-";
        expected += (st.st_mode & S_ISVTX) != 0 ? "k" : "-";
        expected += " " + d + "\n";
        if (geteuid() == 0) {
            script += "stat -c '%a %u:%g %n' '" + d + "' >&2; ";
            char line[4200];
            snprintf(line, sizeof line, "%o %u:%u %s\n", st.st_mode & 07777, st.st_uid, st.st_gid,
                     d.c_str());
            expected += line;
        }
    }
    ProcessResult raw;
    w.dry_run_sh(script, &raw);
    if (geteuid() == 0) umount2((w.host + "/sticky").c_str(), MNT_DETACH);
    CHECK(raw.exit_code == 0);
    CHECK(raw.err == expected);
}

TEST_CASE("an empty dir at a split level: writes in it are captured, applied, and nothing else") {
    // Split only where mounts are locked: as root of a user namespace of its own.
    // Directly, root's mounts are overlaid whole; the same must hold.
    in_both_mount_modes([](World& w) {
        w.mkdirs("level/mnt");
        w.mkdirs("level/empty");
        chmod((w.host + "/level/empty").c_str(), 0750);
        REQUIRE(mount("tmpfs", (w.host + "/level/mnt").c_str(), "tmpfs", 0, "size=1m") == 0);
        ProcessResult raw;
        const auto set = dry_run_host_unchanged(
            w, "echo x > level/empty/x && mkdir level/empty/d && stat -c %a level/empty", raw);
        INFO(raw.err);
        CHECK(w.host_effects(set) ==
              Effects{{"level/empty/x", "created"}, {"level/empty/d", "created"}});
        CHECK(raw.err.find("750") != std::string::npos);  // the host's mode, inside
        CHECK(w.whatif({"apply"}).exit_code == 0);
        umount2((w.host + "/level/mnt").c_str(), MNT_DETACH);
        CHECK(read_text(w.host + "/level/empty/x") == "x\n");
        struct stat st {};
        CHECK((stat((w.host + "/level/empty").c_str(), &st) == 0 && (st.st_mode & 07777) == 0750));
    });
}

TEST_CASE("dirs on the way down to a mount: the host's owner and mode inside, writes captured") {
    // level and level/deep are plain dirs above a mount: where mounts are locked
    // (root of a user namespace of its own) they join their level's skeleton rather
    // than getting overlays of their own (mount_plan.hpp); directly, root's mounts
    // are overlaid whole. Both must show the host's owners and modes.
    in_both_mount_modes([](World& w) {
        w.mkdirs("level/deep/mnt");
        chmod((w.host + "/level").c_str(), 0711);
        chmod((w.host + "/level/deep").c_str(), 0750);
        REQUIRE(chown((w.host + "/level/deep").c_str(), 1234, 1234) == 0);
        REQUIRE(mount("tmpfs", (w.host + "/level/deep/mnt").c_str(), "tmpfs", 0, "size=1m") == 0);
        ProcessResult raw;
        const auto set = dry_run_host_unchanged(
            w,
            "echo a > level/new && echo b > level/deep/new && touch level/deep/mnt/inner && "
            "stat -c '%a %u:%g %n' level level/deep >&2",
            raw);
        INFO(raw.err);
        CHECK(w.host_effects(set) == Effects{{"level/new", "created"},
                                             {"level/deep/new", "created"},
                                             {"level/deep/mnt/inner", "created"}});
        CHECK(raw.err.find("711 0:0 level\n") != std::string::npos);
        CHECK(raw.err.find("750 1234:1234 level/deep\n") != std::string::npos);
        CHECK(w.whatif({"apply"}).exit_code == 0);
        CHECK(w.exists(w.host + "/level/deep/mnt/inner"));
        umount2((w.host + "/level/deep/mnt").c_str(), MNT_DETACH);
        CHECK(read_text(w.host + "/level/new") == "a\n");
        CHECK(read_text(w.host + "/level/deep/new") == "b\n");
        struct stat st {};
        REQUIRE(stat((w.host + "/level/deep").c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0750);
        CHECK(st.st_uid == 1234);
    });
}
