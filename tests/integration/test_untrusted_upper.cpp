// What whatif reads on the host side from an upper layer is the command's doing,
// and untrusted: a ref or HEAD replaced by a symlink to a host file, a FIFO or a
// device must not bring host bytes into the run store, hang whatif, or read
// without bound (util::read_file_beneath).
#include "integration/harness.hpp"

using namespace whatif;
using namespace whatif::test;

namespace {

void make_repo(const World& w) {
    ProcessOptions o;
    o.cwd = w.host;
    const auto r =
        run_process("/bin/sh",
                    {"-c",
                     "git init -q -b main . && echo a > a && git add a && git -c user.name=t -c "
                     "user.email=t@example.com commit -qm one"},
                    o);
    REQUIRE(r.exit_code == 0);
}

// Every byte whatif kept of the run: the effect set, the report, the run's metadata.
std::string stored_run_text(const World& w, const std::string& report) {
    std::string all = report;
    const std::string runs = w.store + "/runs";
    ProcessOptions o;
    const auto listing = run_process(
        "/bin/sh", {"-c", "cat " + runs + "/*/effects.json " + runs + "/*/meta.json 2>/dev/null"},
        o);
    return all + listing.out;
}

}  // namespace

TEST_CASE("a HEAD or ref made a symlink to a host file: its bytes never reach the run") {
    World w;
    make_repo(w);
    const std::string secret = w.root + "/secret.txt";
    std::ofstream(secret) << "ref: refs/heads/SECRET-MARKER-5f1c\n";
    for (const std::string target : {".git/HEAD", ".git/refs/heads/main"}) {
        CAPTURE(target);
        const auto r = w.whatif({"run", "-n", "--format", "json", "--", "sh", "-c",
                                 "rm -f " + target + " && ln -s " + secret + " " + target});
        INFO("stderr: " << r.err);
        REQUIRE(r.exit_code != 1);
        const auto text = w.whatif({"show", "last"});
        CHECK(stored_run_text(w, r.out + text.out).find("SECRET-MARKER") == std::string::npos);
    }
}

TEST_CASE("a HEAD made a FIFO or a link to /dev/zero: whatif finishes and reads nothing of it") {
    World w;
    make_repo(w);
    for (const std::string script :
         {"rm .git/HEAD && mkfifo .git/HEAD", "rm .git/HEAD && ln -s /dev/zero .git/HEAD",
          "rm .git/refs/heads/main && mkfifo .git/refs/heads/main"}) {
        CAPTURE(script);
        // A hang would stop the test binary: the timeout makes it a failure instead.
        ProcessOptions o;
        o.cwd = w.host;
        o.env = {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"NO_COLOR", "1"}};
        const auto r = run_process(
            "/usr/bin/timeout",
            {"60", whatif_binary(), "run", "-n", "--format", "json", "--", "sh", "-c", script}, o);
        INFO("stderr: " << r.err);
        CHECK(r.exit_code != 124);  // timeout's own code: whatif hung
        CHECK(r.exit_code != 1);
        const auto set = nlohmann::json::parse(r.out, nullptr, false);
        CHECK_FALSE(set.is_discarded());
    }
}

TEST_CASE(
    "a run store that is not the caller's (or root's), or that others may write, is refused") {
    World w;
    REQUIRE(w.whatif({"run", "-n", "--", "true"}).exit_code == 0);
    // Writable by others: anyone could have put an effect set there.
    REQUIRE(chmod(w.store.c_str(), 0777) == 0);
    auto r = w.whatif({"list"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("writable by others") != std::string::npos);
    REQUIRE(chmod(w.store.c_str(), 0700) == 0);
    CHECK(w.whatif({"list"}).exit_code == 0);
    if (geteuid() != 0) {
        MESSAGE("a store owned by another user needs root to make: the root pass checks it");
        return;
    }
    // Another user's store (sudo -E whatif apply with their WHATIF_HOME): root trusts
    // nothing in it, and changes nothing on the host.
    REQUIRE(chown(w.store.c_str(), 65534, 65534) == 0);
    const TreeSnapshot before = snapshot_tree(w.host);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"list"}, {"apply", "last"}, {"show", "last"}}) {
        CAPTURE(args.front());
        r = w.whatif(args);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("belongs to uid 65534") != std::string::npos);
    }
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
}

TEST_CASE("6,000 nested directories: no crash, a gap below the depth the scan reads, discardable") {
    World w;
    const auto r =
        w.whatif({"run", "-n", "--format", "json", "--", "python3", "-c",
                  "import os\nfor i in range(6000):\n    os.mkdir('d'); os.chdir('d')\n"});
    INFO("stderr: " << r.err.substr(0, 2000));
    CHECK(r.exit_code == 3);
    const auto set = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    REQUIRE(set["run"]["capture"].is_array());
    CHECK(set["run"]["capture"][0]["kind"] == "unreadable-upper");
    CHECK(set["decision"]["verdict"] == "ask");
    CHECK(w.whatif({"discard", "last"}).exit_code == 0);
}
