// The command-line contract around the run store, and the bad-input paths.
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <boost/process.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "integration/harness.hpp"

using namespace whatif::test;
namespace bp = boost::process;

namespace {}  // namespace

TEST_CASE("bad usage and bad input: one clear message, exit 2") {
    World w;
    struct Case {
        std::vector<std::string> args;
        const char* message;
    };
    const std::vector<Case> cases = {
        {{}, "no command given"},
        {{"run"}, "no command given"},
        {{"--no-such-option", "--", "true"}, "no-such-option"},
        {{"--format", "yaml", "--", "true"}, "yaml"},
        {{"--timeout", "soon", "--", "true"}, "invalid duration"},
        {{"--exit-status", "maybe", "--", "true"}, "maybe"},
        {{"-C", "/no/such/dir", "--", "true"}, "/no/such/dir"},
        {{"--profile", "nope", "--", "true"}, "unknown profile"},
        {{"show", "../../etc/passwd"}, "is not a run id"},
        {{"show", "20000101T000000-0000"}, "no run 20000101T000000-0000"},
        {{"show"}, "there are no runs yet"},
        {{"diff", "20000101T000000-0000"}, "no run"},
        {{"discard", "20000101T000000-0000"}, "no run"},
        {{"discard"}, "runs"},
        {{"gc", "--older-than", "ever"}, "invalid duration"},
        {{"list", "extra"}, "extra"},
    };
    for (const auto& c : cases) {
        const auto r = w.whatif(c.args);
        INFO("args: " << whatif::util::join_argv_for_display(c.args) << "\nstderr: " << r.err);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(c.message) != std::string::npos);
        CHECK(r.out.empty());
    }
}

TEST_CASE(
    "options before 'run' belong to it; before any other word, that word is the command; help") {
    World w;
    auto argv_of = [&](const std::vector<std::string>& args) {
        const auto r = w.whatif(args);
        INFO(r.err);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        return j["run"]["argv"].get<std::vector<std::string>>();
    };
    using Argv = std::vector<std::string>;
    CHECK(argv_of({"-v", "run", "--format", "json", "-n", "--", "true"}) == Argv{"true"});
    CHECK(argv_of({"--format", "json", "run", "-n", "--", "true"}) == Argv{"true"});
    CHECK(argv_of({"--format", "json", "-n", "--", "run", "x"}) == Argv{"run", "x"});
    CHECK(argv_of({"--format", "json", "-n", "echo", "run"}) == Argv{"echo", "run"});
    // "help" and "help SUBCOMMAND" print what --help prints.
    const auto help = w.whatif({"help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out == w.whatif({"--help"}).out);
    CHECK(help.out.find("explore") != std::string::npos);
    const auto show_help = w.whatif({"help", "show"});
    CHECK(show_help.exit_code == 0);
    CHECK(show_help.out == w.whatif({"show", "--help"}).out);
    CHECK(show_help.out.find("run id, or 'last'") != std::string::npos);
}

TEST_CASE("user namespaces unavailable: one message names the cause and the setting") {
    // The limit is set inside a user namespace of the test's own: the host's stays.
    World w;
    const std::string host_limit = read_text("/proc/sys/user/max_user_namespaces");
    auto in_own_userns = [&](const std::string& script) {
        ProcessOptions o;
        o.cwd = w.host;
        o.env = {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"WB", whatif_binary()}};
        return run_process("unshare", {"--user", "--map-root-user", "sh", "-c", script}, o);
    };
    auto disabled =
        in_own_userns("echo 0 > /proc/sys/user/max_user_namespaces && \"$WB\" run -n -- true");
    INFO(disabled.err);
    CHECK(disabled.exit_code == 1);
    CHECK(disabled.err.find("clone(CLONE_NEWUSER|") != std::string::npos);
    CHECK(disabled.err.find("user namespaces are disabled: run 'sysctl -w "
                            "user.max_user_namespaces=15000' as root") != std::string::npos);
    // One namespace allowed and taken by a sleeping process: the limit is reached.
    auto reached = in_own_userns(
        "echo 1 > /proc/sys/user/max_user_namespaces && { unshare --user sleep 30 & pid=$!; }; "
        "sleep 0.5; \"$WB\" run -n -- true; status=$?; kill $pid; exit $status");
    INFO(reached.err);
    CHECK(reached.exit_code == 1);
    CHECK(reached.err.find("reached its limit (user.max_user_namespaces = 1)") !=
          std::string::npos);
    CHECK(read_text("/proc/sys/user/max_user_namespaces") == host_limit);
    // Nothing was stored but failed runs, nothing is mounted.
    CHECK_FALSE(mounts_mention(w.store));
}

TEST_CASE("a seccomp filter that refuses user namespaces: one message says so") {
    World w;
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store}, {"HOME", w.home}};
    const auto r =
        run_process(helper_binary("deny_userns"), {whatif_binary(), "run", "-n", "--", "true"}, o);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    // Root owning its mounts: init makes the command's user namespace. Others: clone.
    CHECK((r.err.find("unshare(CLONE_NEWUSER): EPERM") != std::string::npos ||
           r.err.find("clone(CLONE_NEWUSER|") != std::string::npos));
    CHECK(r.err.find("creating a user namespace is not permitted here") != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.out.empty());
    CHECK_FALSE(mounts_mention(w.store));
}

TEST_CASE("a run store on overlayfs is refused with the way out") {
    if (geteuid() != 0) {
        MESSAGE("mounting an overlay needs root: this case runs in the root pass");
        return;
    }
    World w;
    for (const char* d : {"/lower", "/upper", "/work", "/merged"})
        REQUIRE(mkdir((w.root + d).c_str(), 0755) == 0);
    const std::string opts =
        "lowerdir=" + w.root + "/lower,upperdir=" + w.root + "/upper,workdir=" + w.root + "/work";
    REQUIRE(mount("overlay", (w.root + "/merged").c_str(), "overlay", 0, opts.c_str()) == 0);
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.root + "/merged/store"}, {"HOME", w.home}};
    const auto r = run_process(whatif_binary(), {"run", "-n", "--", "true"}, o);
    umount2((w.root + "/merged").c_str(), MNT_DETACH);
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("is on overlayfs, which cannot hold overlay upper layers") !=
          std::string::npos);
    CHECK(r.err.find("set WHATIF_HOME to a directory on ext4, xfs, btrfs or tmpfs") !=
          std::string::npos);
}

TEST_CASE("a sandbox set-up failure names the failing step and leaves nothing behind") {
    World w;
    // A directory on the host's /dev/shm does not exist in the sandbox's fresh /dev.
    char tmpl[] = "/dev/shm/whatif-it-XXXXXX";
    const std::string outside = mkdtemp(tmpl);
    const auto r = w.whatif({"-C", outside, "--", "true"});
    rmdir(outside.c_str());
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("sandbox set-up failed: chdir(" + outside + "): ENOENT") != std::string::npos);
    CHECK_FALSE(mounts_mention(w.store));
    const auto list = w.whatif({"list"});
    CHECK(list.out.find("failed") != std::string::npos);
}

TEST_CASE("a damaged effects.json: one clear message, never a crash") {
    World w;
    const auto set = w.dry_run_sh("echo x > f");
    const std::string path =
        w.store + "/runs/" + set["run"]["id"].get<std::string>() + "/effects.json";
    const std::string good = read_text(path);
    const std::vector<std::pair<std::string, std::string>> damages = {
        {"\"network\": [", "\"network\": [5, "},              // not an object
        {"\"network\": [", "\"network\": [{\"kind\": 5}, "},  // a field of the wrong type
        {"\"files\": [", "\"files\": [7, "},
        {"\"schema\"", "\"schemata\""},
    };
    for (const auto& [from, to] : damages) {
        std::string damaged = good;
        damaged.replace(damaged.find(from), from.size(), to);
        std::ofstream(path, std::ios::trunc) << damaged;
        for (const char* cmd : {"show", "check"}) {
            const auto r =
                cmd == std::string("show") ? w.whatif({"show"}) : w.whatif({"check", "-p", "ci"});
            INFO(cmd << " with " << to << ": " << r.err);
            CHECK((r.exit_code == 1 || r.exit_code == 2));
            CHECK(r.err.rfind("whatif: ", 0) == 0);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);  // one message
        }
    }
}

TEST_CASE("show, diff, list, discard and gc over real runs") {
    World w;
    w.write("greeting.txt", "hello\nworld\n");
    w.write("blob.bin", std::string("\0\1\2\3", 4));
    const auto run = w.whatif(
        {"-n", "--", "sh", "-c", "sed -i s/world/there/ greeting.txt; printf '\\0\\7' > blob.bin"});
    CHECK(run.exit_code == 3);
    CHECK(run.out.find("modified") != std::string::npos);

    const auto show = w.whatif({"show", "--format", "json"});
    CHECK(show.exit_code == 0);
    const auto set = nlohmann::json::parse(show.out);
    const std::string id = set["run"]["id"];
    CHECK(w.host_effects(set) == std::map<std::string, std::string>{{"blob.bin", "modified"},
                                                                    {"greeting.txt", "modified"}});

    const auto diff = w.whatif({"diff", "last"});
    CHECK(diff.exit_code == 0);
    CHECK(diff.out.find("-world") != std::string::npos);
    CHECK(diff.out.find("+there") != std::string::npos);
    CHECK(diff.out.find("Binary files differ") != std::string::npos);
    const auto only = w.whatif({"diff", id, "greeting.txt"});
    CHECK(only.out.find("+there") != std::string::npos);
    CHECK(only.out.find("Binary") == std::string::npos);

    const auto list = w.whatif({"list"});
    CHECK(list.out.find(id) != std::string::npos);
    CHECK(list.out.find("complete") != std::string::npos);

    CHECK(w.whatif({"gc", "--older-than", "1d"}).out.empty());  // too new to collect
    CHECK(w.whatif({"discard", "last"}).exit_code == 0);
    CHECK(w.whatif({"show", id}).exit_code == 2);
    CHECK(w.whatif({"list"}).out.empty());
}

TEST_CASE("concurrent runs never collide") {
    World w;
    std::vector<bp::child> children;
    for (int i = 0; i < 6; ++i)
        children.push_back(start_whatif(
            w, {"-n", "--", "sh", "-c", "echo " + std::to_string(i) + " > f" + std::to_string(i)}));
    for (auto& c : children) c.wait();
    const auto list = w.whatif({"list"});
    int runs = 0;
    for (size_t pos = 0; (pos = list.out.find("complete", pos)) != std::string::npos; ++pos) ++runs;
    CHECK(runs == 6);
}

TEST_CASE("SIGTERM to whatif is forwarded to the command") {
    World w;
    const std::string report = w.root + "/report.json";
    const std::string marker = "whatif-term-" + std::to_string(getpid());
    auto child =
        start_whatif(w, {"-n", "--report", report, "--", "sh", "-c", "sleep 300; : " + marker});
    // whatif, its init (a clone of it) and the command's sh all carry the marker.
    wait_until([&] { return processes_with(marker) >= 3; });
    kill(child.id(), SIGTERM);
    child.wait();
    const auto set = nlohmann::json::parse(read_text(report), nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    CHECK(set["run"]["signal"] == 15);
}

TEST_CASE(
    "when whatif is killed, no sandbox process survives, nothing stays mounted, the run is "
    "incomplete") {
    World w;
    const std::string marker = "whatif-marker-" + std::to_string(getpid());
    auto child = start_whatif(w, {"-n", "--", "sh", "-c", "sleep 300 & sleep 300 # " + marker});
    // whatif, its init (a clone of it) and the command's sh all carry the marker.
    wait_until([&] { return processes_with(marker) >= 3; });
    REQUIRE(processes_with(marker) >= 3);
    kill(child.id(), SIGKILL);
    child.wait();
    wait_until([&] { return processes_with(marker) == 0; });
    CHECK(processes_with(marker) == 0);
    CHECK_FALSE(mounts_mention(w.store));
    const auto list = w.whatif({"list"});
    CHECK(list.out.find("incomplete") != std::string::npos);
    const auto discarded = w.whatif({"discard", "last"});
    CHECK(discarded.exit_code == 0);
    CHECK(w.whatif({"list"}).out.empty());
}

TEST_CASE("twenty dry runs in parallel, with list and gc running: separate, correct effect sets") {
    World w;
    std::vector<bp::child> runs;
    for (int i = 0; i < 20; ++i) {
        const std::string n = std::to_string(i);
        const std::string script = i % 2 == 0
                                       ? "echo " + n + " > f" + n + " && mkdir d" + n
                                       : "mkdir d" + n + " && echo " + n + " > d" + n + "/f" + n;
        runs.push_back(start_whatif(
            w, {"-n", "--report", w.root + "/report" + n + ".json", "--", "sh", "-c", script}));
    }
    // The store is read and collected while the runs write to it.
    for (int k = 0; k < 10; ++k) {
        CHECK(w.whatif({"list"}).exit_code == 0);
        CHECK(w.whatif({"gc", "--older-than", "1h"}).exit_code == 0);
    }
    for (auto& r : runs) r.wait();
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) {
        const std::string n = std::to_string(i);
        const auto set =
            nlohmann::json::parse(read_text(w.root + "/report" + n + ".json"), nullptr, false);
        REQUIRE_FALSE(set.is_discarded());
        ids.insert(set["run"]["id"].get<std::string>());
        const auto effects = w.host_effects(set);
        if (i % 2 == 0)
            CHECK(effects ==
                  std::map<std::string, std::string>{{"f" + n, "created"}, {"d" + n, "created"}});
        else
            CHECK(effects == std::map<std::string, std::string>{{"d" + n, "created"},
                                                                {"d" + n + "/f" + n, "created"}});
    }
    CHECK(ids.size() == 20);
    const auto list = w.whatif({"list"});
    size_t complete = 0;
    for (size_t pos = 0; (pos = list.out.find("complete", pos)) != std::string::npos; ++pos)
        ++complete;
    CHECK(complete == 20);
}

TEST_CASE("the upper layer running out of space: the command sees ENOSPC, the host is untouched") {
    if (geteuid() != 0) {
        MESSAGE(
            "a small tmpfs as the run store needs root to mount: this case runs in the root pass");
        return;
    }
    World w;
    const std::string small = w.root + "/small-store";
    mkdir(small.c_str(), 0700);
    REQUIRE(mount("tmpfs", small.c_str(), "tmpfs", 0, "size=2m") == 0);
    const auto before = snapshot_tree(w.host);
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", small}, {"HOME", w.home}};
    const auto r = run_process(whatif_binary(),
                               {"run", "-n", "--format", "json", "--", "sh", "-c",
                                "dd if=/dev/zero of=big bs=1M count=8 2>&1; echo dd-status=$?"},
                               o);
    umount2(small.c_str(), MNT_DETACH);
    INFO(r.err);
    CHECK(r.err.find("No space left on device") != std::string::npos);
    CHECK(r.err.find("dd-status=1") != std::string::npos);
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
    // whatif says so itself, completes the run, and does not let it pass unseen.
    CHECK(r.err.find("whatif: the run store's filesystem filled up") != std::string::npos);
    CHECK(r.exit_code == 3);
    const auto set = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    REQUIRE(set["warnings"].size() >= 1);
    CHECK(set["warnings"][0].get<std::string>().find("filled up") != std::string::npos);
    CHECK(set["decision"]["reasons"][0]["rule"] == "incomplete-capture");
    REQUIRE(set["run"]["capture"].is_array());
    CHECK(set["run"]["capture"][0]["kind"] == "store-full");
}
