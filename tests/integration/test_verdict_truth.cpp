// What the verdict knows about the command's own end: a timeout is a gap (never an
// allow, listed as timed-out), and the command's exit status is in every report
// and, where a stub stood in its way, in the decision.
#include "integration/harness.hpp"

using namespace whatif;
using namespace whatif::test;

TEST_CASE("a timed-out dry run is incomplete: never allowed, exit 3, listed as timed-out") {
    World w;
    w.mkdirs("data");
    w.write("data/a", "a");
    const TreeSnapshot before = snapshot_tree(w.host);
    const auto r = w.whatif({"run", "-p", "agent", "--timeout", "1s", "-n", "--format", "json",
                             "--", "sh", "-c", "sleep 5; rm -rf data"});
    INFO("stderr: " << r.err);
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
    CHECK(r.exit_code == 3);
    const auto set = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    CHECK(set["run"]["timed_out"] == true);
    REQUIRE(set["run"]["capture"].is_array());
    CHECK(set["run"]["capture"][0]["kind"] == "timeout");
    CHECK(set["decision"]["verdict"] == "ask");
    CHECK(set["decision"]["reasons"][0]["rule"] == "incomplete-capture");
    CHECK(set["decision"]["reasons"][0]["message"].get<std::string>().find("timed out") !=
          std::string::npos);
    const auto list = w.whatif({"list"});
    CHECK(list.out.find("timed-out") != std::string::npos);
    // Decided again under the most permissive profile: still no allow.
    const auto again = w.whatif({"check", "last", "-p", "default", "--format", "json"});
    const auto rechecked = nlohmann::json::parse(again.out, nullptr, false);
    REQUIRE_FALSE(rechecked.is_discarded());
    CHECK(rechecked["decision"]["verdict"] == "ask");
    CHECK(again.exit_code == 3);
}

TEST_CASE("the command's exit status is in the text, JSON and Markdown reports") {
    World w;
    const auto md = w.whatif(
        {"run", "-p", "ci", "-n", "--format", "markdown", "--", "sh", "-c", "echo step 1; exit 5"});
    INFO("stderr: " << md.err);
    CHECK(md.out.find("(exit 5, ") != std::string::npos);
    CHECK(md.out.find("✅") == std::string::npos);  // ci asks about a failed command
    CHECK(md.exit_code == 3);
    const auto text = w.whatif({"run", "-n", "--", "whatif-no-such-command-anywhere"});
    CHECK(text.out.find("exit 127") != std::string::npos);
    ProcessResult raw;
    const auto set = w.dry_run_sh("exit 7", &raw, {"-p", "agent"});
    CHECK(set["run"]["exit_status"] == 7);
    CHECK(set["run"]["capture"] == "complete");
    // Nothing but the command itself failed: the real run fails the same way.
    CHECK(set["decision"]["verdict"] == "allow");
    CHECK(raw.exit_code == 0);
}

TEST_CASE("a command that failed after a stub answered it asks under agent") {
    World w;
    ProcessResult raw;
    // The stub network answers the connection; the script then gives up, as a
    // deploy script whose API call got an answer it did not expect.
    const auto set = w.dry_run_sh("bash -c 'exec 3<>/dev/tcp/example.com/80; echo hi >&3'; exit 2",
                                  &raw, {"-p", "agent"});
    INFO("stderr: " << raw.err);
    CHECK(set["run"]["exit_status"] == 2);
    REQUIRE_FALSE(set["network"].empty());
    bool failed_reason = false;
    for (const auto& reason : set["decision"]["reasons"])
        if (reason["rule"] == "command-failed") {
            failed_reason = true;
            CHECK(reason["message"].get<std::string>().find("exit 2 after the stub network") !=
                  std::string::npos);
        }
    CHECK(failed_reason);
    CHECK(set["decision"]["verdict"] != "allow");
}
