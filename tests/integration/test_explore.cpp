// whatif explore: a run's sandbox again, its changes over the real files, and
// nothing of the session kept: not on the host, not in the run.
#include <fcntl.h>
#include <sys/file.h>

#include <filesystem>

#include "integration/harness.hpp"
#include "support/pty.hpp"

using namespace whatif::test;

namespace {

// A run that changed a.txt, created b.txt and deleted gone.txt.
std::string make_run(const World& w) {
    w.write("a.txt", "hello\n");
    w.write("gone.txt", "bye\n");
    const auto set = w.dry_run_sh("echo changed > a.txt && echo new > b.txt && rm gone.txt");
    return set["run"]["id"].get<std::string>();
}

}  // namespace

TEST_CASE("explore -- COMMAND: the run's changes are there; the session's writes are not kept") {
    World w;
    const std::string id = make_run(w);
    const std::string run_dir = w.store + "/runs/" + id;
    const auto host_before = snapshot_tree(w.host);
    const auto run_before = snapshot_tree(run_dir + "/upper");

    auto r = w.whatif({"explore", id, "--", "sh", "-c",
                       "cat a.txt b.txt; test -e gone.txt || echo gone-is-gone; "
                       "echo more >> b.txt; rm a.txt; echo $WHATIF_EXPLORE"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "changed\nnew\ngone-is-gone\n" + id + "\n");
    // A second session sees the run as captured, not the first session's changes.
    r = w.whatif({"explore", "last", "--", "sh", "-c", "cat a.txt b.txt"});
    CHECK(r.out == "changed\nnew\n");
    // The command's own exit status, like a shell.
    CHECK(w.whatif({"explore", "--", "sh", "-c", "exit 7"}).exit_code == 7);

    CHECK(describe_differences(host_before, snapshot_tree(w.host)) == "");
    CHECK(describe_differences(run_before, snapshot_tree(run_dir + "/upper")) == "");
    for (const auto& e : std::filesystem::directory_iterator(run_dir))
        CHECK(e.path().filename().string().find("explore-") == std::string::npos);
    // The run itself still applies exactly what it captured.
    CHECK(w.whatif({"apply", id}).exit_code == 0);
    CHECK(read_text(w.host + "/a.txt") == "changed\n");
    CHECK(read_text(w.host + "/b.txt") == "new\n");
    CHECK_FALSE(w.exists(w.host + "/gone.txt"));
}

TEST_CASE("explore is a sandbox like the dry run: stub network, nothing reaches the host") {
    World w;
    make_run(w);
    const std::string outside = "/tmp/whatif-explore-never-" + std::to_string(getpid());
    const auto host_before = snapshot_tree(w.host);
    const auto home_before = snapshot_tree(w.home);
    const auto r =
        w.whatif({"explore", "--", "sh", "-c",
                  "echo x > " + outside +
                      "; echo y > \"$HOME/.profile\"; curl -sS -m 5 http://example.com/x"});
    INFO(r.err);
    CHECK(r.out.find("the network is stubbed") != std::string::npos);
    CHECK_FALSE(w.exists(outside));
    CHECK_FALSE(w.exists(w.home + "/.profile"));
    CHECK(describe_differences(host_before, snapshot_tree(w.host)) == "");
    CHECK(describe_differences(home_before, snapshot_tree(w.home)) == "");
}

TEST_CASE("explore on a terminal: an interactive shell with job control, then the terminal back") {
    World w;
    const std::string id = make_run(w);
    PtySession s(
        whatif_binary(), {"explore"}, w.host,
        {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"SHELL", "/bin/bash"}, {"PS1", "$ "}});
    REQUIRE(s.wait_for("exploring run " + id));
    s.send("cat a.txt; echo marker-$((6*7))\n");
    CHECK(s.wait_for("marker-42"));
    CHECK(s.output().find("changed") != std::string::npos);
    // Job control works: a background job, listed by the shell.
    s.send("sleep 30 & jobs; echo jobs-$((1+1))\n");
    CHECK(s.wait_for("jobs-2"));
    CHECK(s.output().find("Running") != std::string::npos);
    s.send("echo session > kept.txt; exit\n");
    CHECK(s.wait_for("nothing of this session was kept"));
    CHECK(s.wait_exit() == 0);
    INFO(s.output());
    CHECK(s.output().find("no job control") == std::string::npos);
    CHECK(s.output().find("cannot set terminal process group") == std::string::npos);
    CHECK_FALSE(w.exists(w.host + "/kept.txt"));
}

TEST_CASE("explore refuses what it cannot do, with exit 2") {
    World w;
    CHECK(w.whatif({"explore"}).exit_code == 2);  // no runs yet
    const std::string id = make_run(w);
    // No terminal and no command: nothing to run.
    const auto no_tty = w.whatif({"explore", id});
    CHECK(no_tty.exit_code == 2);
    CHECK(no_tty.err.find("give a command, e.g. 'whatif explore " + id) != std::string::npos);
    CHECK(w.whatif({"explore", "20990101T000000-0000", "--", "true"}).exit_code == 2);
    CHECK(w.whatif({"explore", "not-a-run", "--", "true"}).exit_code == 2);
    // A run another whatif holds.
    const int fd = open((w.store + "/runs/" + id + "/lock").c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(flock(fd, LOCK_EX) == 0);
    const auto busy = w.whatif({"explore", id, "--", "true"});
    close(fd);
    CHECK(busy.exit_code == 2);
    CHECK(busy.err.find("in use by another whatif process") != std::string::npos);
}
