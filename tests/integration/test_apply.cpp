// The gate: apply commits exactly what the dry run captured. The main check is a
// differential oracle: the command run for real in one tree, and dry-run + apply in
// an identical tree, must leave the two trees identical.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <boost/process.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "integration/harness.hpp"
#include "support/pty.hpp"

using namespace whatif::test;
namespace bp = boost::process;

namespace {

// Snapshot without times and inode numbers: what the oracle compares.
TreeSnapshot content_snapshot(const std::string& root, const std::string& ignore = "") {
    TreeSnapshot s = snapshot_tree(root);
    for (auto it = s.begin(); it != s.end();) {
        if (!ignore.empty() && it->first == ignore) {
            it = s.erase(it);
            continue;
        }
        it->second.mtime_ns = 0;
        if (it->second.type == 'd') it->second.size = 0;
        ++it;
    }
    return s;
}

ProcessResult run_for_real(const std::string& dir, const std::string& script) {
    ProcessOptions o;
    o.cwd = dir;
    return run_process("/bin/sh", {"-c", script}, o);
}

struct Oracle {
    const char* name;
    std::function<void(const std::string& dir)> setup;
    std::string script;
    std::string ignore = {};  // one path whose bytes legitimately differ between two runs
};

void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
}

void standard_tree(const std::string& d) {
    REQUIRE(whatif::util::make_dirs(d + "/dir/sub", 0755).has_value());
    write_file(d + "/dir/a", "a");
    write_file(d + "/dir/sub/b", "b");
    write_file(d + "/file", "file contents\n");
    write_file(d + "/other", "other\n");
    REQUIRE(symlink("file", (d + "/link").c_str()) == 0);
}

const char* kSocket =
    "perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Type=>SOCK_STREAM(), Local=>shift, "
    "Listen=>1) or die' ";

}  // namespace

TEST_CASE("differential oracle: dry run + apply == running the command for real") {
    const std::vector<Oracle> oracles = {
        {"opaque dir recreated: old files vanish", standard_tree,
         "rm -rf dir && mkdir dir && echo new > dir/new"},
        {"opaque dir recreated with a subdir of the same name: the old subdir's files vanish",
         standard_tree, "rm -rf dir && mkdir -p dir/sub && echo new > dir/sub/new"},
        {"new dir", standard_tree, "mkdir -p n/m && echo x > n/m/x"},
        {"file -> dir", standard_tree, "rm file && mkdir file && echo in > file/in"},
        {"symlink -> dir", standard_tree, "rm link && mkdir link"},
        {"rm dir", standard_tree, "rm -rf dir"},
        {"rm file", standard_tree, "rm file"},
        {"rm symlink", standard_tree, "rm link"},
        {"touch + rm: no net effect", standard_tree, "touch t && rm t"},
        {"symlink -> file", standard_tree, "rm link && echo now > link"},
        {"new file", standard_tree, "echo brand > new.txt"},
        {"dir tree -> file", standard_tree, "rm -rf dir && echo flat > dir"},
        {"overwrite file", standard_tree, "echo over > file"},
        {"new symlink", standard_tree, "ln -s other newlink"},
        {"file -> symlink", standard_tree, "rm file && ln -s other file"},
        {"symlink retarget", standard_tree, "ln -sfn other link"},
        {"dir -> broken symlink", standard_tree, "rm -rf dir && ln -s /nonexistent/target dir"},
        {"file -> FIFO", standard_tree, "rm file && mkfifo file"},
        {"dir -> FIFO", standard_tree, "rm -rf dir && mkfifo dir"},
        {"symlink -> FIFO", standard_tree, "rm link && mkfifo link"},
        {"nothing -> FIFO", standard_tree, "mkfifo fifo"},
        {"file -> unix socket", standard_tree, std::string("rm file && ") + kSocket + "file"},
        {"dir -> unix socket", standard_tree, std::string("rm -rf dir && ") + kSocket + "dir"},
        {"symlink -> unix socket", standard_tree, std::string("rm link && ") + kSocket + "link"},
        {"nothing -> unix socket", standard_tree, std::string(kSocket) + "sock"},
        {"a name with a newline", standard_tree,
         "echo nl > \"$(printf 'a\\nb')\" && mv file \"$(printf 'f\\ng')\""},
        {"modes, including setuid kept off", standard_tree,
         "chmod 0600 other && chmod 0750 dir && chmod 0755 file"},
        {"tar -x of an archive",
         [](const std::string& d) {
             standard_tree(d);
             REQUIRE(run_for_real(d, "tar -cf ../archive-$(basename $PWD).tar dir file link")
                         .exit_code == 0);
         },
         "mkdir x && tar -xf ../archive-$(basename $PWD).tar -C x"},
        {"sed -i", standard_tree, "sed -i 's/contents/CONTENTS/' file"},
        {"git init + commit", standard_tree,
         "export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'; "
         "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@example.com "
         "commit -qm first",
         // The index caches inode numbers and times: it legitimately differs.
         ".git/index"},
    };
    for (const auto& o : oracles) {
        SUBCASE(o.name) {
            World w;
            const std::string real = w.root + "/real";
            mkdir(real.c_str(), 0755);
            o.setup(real);
            o.setup(w.host);
            REQUIRE(describe_differences(content_snapshot(real), content_snapshot(w.host)) == "");
            const auto for_real = run_for_real(real, o.script);
            INFO("real run stderr: " << for_real.err);
            REQUIRE(for_real.exit_code == 0);
            const auto dry = w.whatif({"-n", "--", "sh", "-c", o.script});
            INFO("dry run stderr: " << dry.err);
            REQUIRE((dry.exit_code == 0 || dry.exit_code == 3));
            const auto applied = w.whatif({"apply"});
            INFO("apply stderr: " << applied.err);
            CHECK(applied.exit_code == 0);
            CHECK(describe_differences(content_snapshot(real, o.ignore),
                                       content_snapshot(w.host, o.ignore)) == "");
            // No temporary file is left behind.
            for (const auto& [path, entry] : snapshot_tree(w.host))
                CHECK(path.find(".whatif-") == std::string::npos);
        }
    }
}

TEST_CASE("setuid bits are stripped unless --keep-privileges") {
    World w;
    w.write("tool", "#!/bin/sh\n");
    w.whatif({"-n", "--", "chmod", "4755", "tool"});
    const auto applied = w.whatif({"apply"});
    CHECK(applied.exit_code == 0);
    CHECK(applied.err.find("removed setuid/setgid bits or file capabilities from 1 file") !=
          std::string::npos);
    struct stat st {};
    REQUIRE(stat((w.host + "/tool").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);

    w.whatif({"-n", "--", "chmod", "4711", "tool"});
    CHECK(w.whatif({"apply", "--keep-privileges"}).exit_code == 0);
    REQUIRE(stat((w.host + "/tool").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 04711);
}

TEST_CASE("conflicts: every one is listed, nothing is applied, exit 4; --force applies") {
    World w;
    w.write("content", "one");
    w.write("mode", "two");
    w.write("kind", "three");
    w.whatif(
        {"-n", "--", "sh", "-c", "echo A > content; echo B > mode; echo C > kind; echo D > new"});
    // The host changes after the dry run.
    w.write("content", "ONE");
    chmod((w.host + "/mode").c_str(), 0600);
    std::remove((w.host + "/kind").c_str());
    w.mkdirs("kind");
    const auto before = snapshot_tree(w.host);
    const auto refused = w.whatif({"apply"});
    CHECK(refused.exit_code == 4);
    CHECK(refused.err.find("content") != std::string::npos);
    CHECK(refused.err.find("mode is now 0600") != std::string::npos);
    CHECK(refused.err.find("kind") != std::string::npos);
    CHECK(refused.err.find("is now a dir") != std::string::npos);
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
    CHECK_FALSE(w.exists(w.host + "/new"));

    rmdir((w.host + "/kind").c_str());
    w.write("kind", "three");
    const auto forced = w.whatif({"apply", "--force"});
    CHECK(forced.exit_code == 0);
    CHECK(read_text(w.host + "/new") == "D\n");
    CHECK(read_text(w.host + "/content") == "A\n");
}

TEST_CASE("partial apply with --only and --exclude") {
    World w;
    w.whatif({"-n", "--", "sh", "-c",
              "mkdir -p src build && echo s > src/a.c && echo o > build/a.o && echo r > README"});
    CHECK(w.whatif({"apply", "--only", "src/*", "--exclude", "README"}).exit_code == 0);
    CHECK(read_text(w.host + "/src/a.c") == "s\n");
    CHECK_FALSE(w.exists(w.host + "/build"));
    CHECK_FALSE(w.exists(w.host + "/README"));
    CHECK(w.whatif({"apply"}).exit_code == 2);  // never twice
}

TEST_CASE("a symlink swapped into the path during apply never lets a write reach the victim") {
    World w;
    const std::string victim = w.root + "/victim";
    mkdir(victim.c_str(), 0755);
    w.mkdirs("t");
    for (int i = 0; i < 300; ++i) {
        w.write("t/f" + std::to_string(i), "old");
        write_file(victim + "/f" + std::to_string(i), "victim");
    }
    w.whatif({"-n", "--", "sh", "-c", "for f in t/*; do echo new > $f; done; echo x > t/added"});
    const auto victim_before = snapshot_tree(victim);
    std::atomic<bool> stop{false};
    std::thread swapper([&] {
        const std::string t = w.host + "/t", real = w.host + "/t.real";
        while (!stop) {
            if (rename(t.c_str(), real.c_str()) == 0) {
                symlink(victim.c_str(), t.c_str());
                std::this_thread::sleep_for(std::chrono::microseconds(200));
                unlink(t.c_str());
                rename(real.c_str(), t.c_str());
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
    });
    const auto applied = w.whatif({"apply", "--force"});
    stop = true;
    swapper.join();
    INFO("apply: " << applied.exit_code << " " << applied.err);
    CHECK(describe_differences(victim_before, snapshot_tree(victim)) == "");
}

TEST_CASE("SIGKILL in the middle of a 10,000-file apply: applying again finishes it exactly") {
    // Killed while writing contents (invisible on the host), and while renaming
    // them into place (the host half-changed).
    for (long kill_after_lines : {200L, 10'300L}) {
        World w;
        INFO("killed after " << kill_after_lines << " journal lines");
        const std::string reference = w.root + "/reference";
        const std::string script =
            "mkdir -p d && i=0; while [ $i -lt 10000 ]; do echo $i > d/f$i; i=$((i+1)); done";
        auto dry = w.whatif({"-n", "--", "sh", "-c", script});
        REQUIRE(dry.exit_code == 3);
        bp::child apply(
            "/usr/bin/env",
            bp::args(env_launch(whatif_binary(), {"apply"}, {{"WHATIF_HOME", w.store}})),
            bp::start_dir(w.host), bp::std_out > bp::null, bp::std_err > bp::null);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        std::string journal;
        while (std::chrono::steady_clock::now() < deadline) {
            for (const auto& r : std::filesystem::directory_iterator(w.store + "/runs"))
                journal = read_text(r.path().string() + "/apply.journal");
            if (std::count(journal.begin(), journal.end(), '\n') > kill_after_lines) break;
        }
        kill(apply.id(), SIGKILL);
        apply.wait();
        REQUIRE(journal.find("\"complete\"") == std::string::npos);  // it really was cut short
        const auto resumed = w.whatif({"apply"});
        INFO(resumed.err);
        CHECK(resumed.exit_code == 0);
        CHECK(resumed.err.find("finished applying") != std::string::npos);
        mkdir(reference.c_str(), 0755);
        REQUIRE(run_for_real(reference, script).exit_code == 0);
        CHECK(describe_differences(content_snapshot(reference), content_snapshot(w.host)) == "");
        for (const auto& [path, entry] : snapshot_tree(w.host))
            CHECK(path.find(".whatif-") == std::string::npos);
    }
}

TEST_CASE("apply --abort after an interruption reports exactly what was applied") {
    World w;
    w.whatif({"-n", "--", "sh", "-c", "echo 1 > one; echo 2 > two"});
    const auto runs = std::filesystem::directory_iterator(w.store + "/runs");
    std::string run_dir;
    for (const auto& r : runs) run_dir = r.path().string();
    // A journal as an apply killed after its first rename leaves it (ops: write one,
    // write two, sync, place one, place two).
    write_file(run_dir + "/apply.journal",
               "{\"event\":\"begin\",\"selection\":[0,1],\"keep_privileges\":false}\n{\"done\":0}"
               "\n{\"done\":1}\n"
               "{\"done\":2}\n{\"done\":3}\n");
    const auto aborted = w.whatif({"apply", "--abort"});
    CHECK(aborted.exit_code == 0);
    CHECK(aborted.out == "applied: place " + w.host + "/one\n");
    CHECK(w.whatif({"apply"}).exit_code == 2);
}

TEST_CASE("the prompt after a dry run, through a real terminal") {
    for (const char* answer : {"y", "n"}) {
        World w;
        PtySession s(whatif_binary(), {"--", "sh", "-c", "echo hi > greeting"}, w.host,
                     {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"NO_COLOR", "1"}});
        REQUIRE(s.wait_for("Apply these changes to the real filesystem? [y/N/d(iff)/e(dit)]"));
        s.send(std::string(answer) + "\n");
        const int status = s.wait_exit();
        INFO("answer " << answer << ", output: " << s.output());
        if (std::string(answer) == "y") {
            CHECK(status == 0);
            CHECK(read_text(w.host + "/greeting") == "hi\n");
        } else {
            CHECK(status == 3);
            CHECK_FALSE(w.exists(w.host + "/greeting"));
        }
    }
}

TEST_CASE("no prompt without a terminal, with -n, or for an empty effect set") {
    World w;
    const auto r = w.whatif({"--", "sh", "-c", "echo hi > greeting"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("Apply these changes") == std::string::npos);
    CHECK_FALSE(w.exists(w.host + "/greeting"));
}

TEST_CASE("exec runs the original command for real, only once approved") {
    World w;
    w.whatif({"-n", "--", "sh", "-c", "echo real > made; exit 5"});
    const auto refused = w.whatif({"exec"});
    CHECK(refused.exit_code == 3);  // ask, and no terminal to ask on
    CHECK_FALSE(w.exists(w.host + "/made"));
    const auto ran = w.whatif({"exec", "--yes"});
    CHECK(ran.exit_code == 5);
    CHECK(read_text(w.host + "/made") == "real\n");

    // An empty effect set is allowed: exec needs no confirmation.
    w.whatif({"-n", "--", "true"});
    CHECK(w.whatif({"exec"}).exit_code == 0);
}

TEST_CASE("the prompt's d shows the diff through $PAGER, e edits the list in $EDITOR") {
    World w;
    w.write("notes", "old line\n");
    PtySession s(whatif_binary(), {"--", "sh", "-c", "echo new line > notes; echo r > README"},
                 w.host,
                 {{"WHATIF_HOME", w.store},
                  {"HOME", w.home},
                  {"NO_COLOR", "1"},
                  {"PAGER", "cat"},
                  // The "editor" deletes the README line: only notes is applied.
                  {"EDITOR", "sed -i /README/d"}});
    REQUIRE(s.wait_for("[y/N/d(iff)/e(dit)]"));
    s.send("d\n");
    REQUIRE(s.wait_for("+new line"));
    CHECK(s.output().find("-old line") != std::string::npos);
    s.send("e\n");
    REQUIRE(s.wait_for("Apply 1 change of 2? [y/N]"));
    s.send("y\n");
    CHECK(s.wait_exit() == 0);
    CHECK(read_text(w.host + "/notes") == "new line\n");
    CHECK_FALSE(w.exists(w.host + "/README"));
}

TEST_CASE("on a terminal: progress for long runs, cleared at the end; diff through $PAGER") {
    World w;
    w.write("f.txt", "one\ntwo\nthree\n");
    {
        PtySession s(
            whatif_binary(),
            {"run", "-n", "--", "sh", "-c", "sleep 2; printf 'one\\nTWO\\nthree\\n' > f.txt"},
            w.host, {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"NO_COLOR", "1"}});
        REQUIRE(s.wait_for("processes", 10));
        CHECK(s.output().find("whatif: 1.") != std::string::npos);
        CHECK(s.wait_exit() == 3);
        CHECK(s.output().find("\r\x1b[K") != std::string::npos);  // the line is cleared
    }
    // tac as the pager: the diff comes out reversed, so it went through it.
    PtySession d(whatif_binary(), {"diff"}, w.host,
                 {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"PAGER", "tac"}});
    CHECK(d.wait_exit() == 0);
    const auto& out = d.output();
    REQUIRE(out.find("+TWO") != std::string::npos);
    REQUIRE(out.find("--- a") != std::string::npos);
    CHECK(out.find("+TWO") < out.find("--- a"));
}

TEST_CASE("no progress and no pager when stdout and stderr are not terminals") {
    World w;
    w.write("f.txt", "a\n");
    const auto r = w.whatif({"run", "-n", "--", "sh", "-c", "sleep 1.5; echo b > f.txt"});
    CHECK(r.err.find("processes") == std::string::npos);
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store}, {"PAGER", "tac"}};
    const auto d = run_process(whatif_binary(), {"diff"}, o);
    CHECK(d.out.find("--- a") < d.out.find("+b"));
}
