// What the sandbox itself cannot see, and says so (issue 16): processes the
// command leaves running, programs that need privileges, signals aimed at the
// host's processes and process lookups that find none of them. Each case checks
// the gap or effect, the verdict, and that the host is unchanged; and that a run
// with none of these still allows.
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "integration/harness.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

// The gaps of kind `kind` in run.capture.
std::vector<json> gaps_of(const json& set, const std::string& kind) {
    std::vector<json> out;
    if (!set["run"]["capture"].is_array()) return out;
    for (const auto& g : set["run"]["capture"])
        if (g["kind"] == kind) out.push_back(g);
    return out;
}

bool has_reason(const json& set, const std::string& rule) {
    for (const auto& r : set["decision"]["reasons"])
        if (r["rule"] == rule) return true;
    return false;
}

// A dry run under `profile` with the host tree checked unchanged, and its wall time.
json dry_run_checked(const World& w, const std::string& script,
                     const std::vector<std::string>& extra, double* seconds = nullptr) {
    const TreeSnapshot before = snapshot_tree(w.host);
    const auto started = std::chrono::steady_clock::now();
    ProcessResult raw;
    auto set = w.dry_run_sh(script, &raw, extra);
    if (seconds != nullptr)
        *seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    INFO("stderr: " << raw.err);
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
    return set;
}

void make_data(const World& w) {
    w.mkdirs("data");
    for (int i = 0; i < 4; ++i) w.write("data/f" + std::to_string(i), "x");
}

}  // namespace

TEST_CASE("background work that ends within the grace is captured, and the run is complete") {
    for (const std::string script :
         {"(sleep 1; rm -rf data) >/dev/null 2>&1 &",
          "nohup sh -c 'sleep 1; rm -rf data' >/dev/null 2>&1 &",
          "setsid sh -c 'sleep 1; rm -rf data' </dev/null >/dev/null 2>&1 &"}) {
        CAPTURE(script);
        World w;
        make_data(w);
        const auto set = dry_run_checked(w, script, {"-p", "agent", "--background-grace", "5s"});
        CHECK(set["run"]["capture"] == "complete");
        const auto effects = w.host_effects(set);
        CHECK(effects.size() == 5);
        CHECK(effects.at("data") == "deleted");
        CHECK(effects.at("data/f0") == "deleted");
        CHECK(set["decision"]["verdict"] == "ask");
        CHECK(has_reason(set, "delete-in-project"));
        CHECK_FALSE(has_reason(set, "incomplete-capture"));
    }
}

TEST_CASE("processes still running after the grace are killed and reported with their argv") {
    World w;
    // A sleep of its own: other runs on this machine may be sleeping 30 s too.
    const std::string nap = "sleep 30." + std::to_string(getpid() % 1000);
    double seconds = 0;
    const auto set = dry_run_checked(w, "echo started > started.txt; " + nap + " &",
                                     {"-p", "agent", "--background-grace", "1s"}, &seconds);
    CHECK(seconds < 15);  // the grace, not sleep's 30 s
    const auto gaps = gaps_of(set, "background-processes");
    REQUIRE(gaps.size() == 1);
    const std::string message = gaps[0]["message"];
    CHECK(message.find("1 process was still running") != std::string::npos);
    CHECK(message.find(nap) != std::string::npos);
    REQUIRE(gaps[0]["pids"].is_array());
    CHECK(gaps[0]["pids"].size() == 1);
    CHECK(set["decision"]["verdict"] != "allow");
    CHECK(set["decision"]["reasons"][0]["rule"] == "incomplete-capture");
    // What the command did before it ended is captured as usual.
    CHECK(w.host_effects(set) == std::map<std::string, std::string>{{"started.txt", "created"}});
    // The shell itself exited normally.
    CHECK(set["run"]["exit_status"] == 0);
    // Killed: gone at once, or within moments where the kernel is still tearing the
    // pid namespace down after whatif returned (it does not wait for that).
    CHECK(wait_until([&] { return processes_with(nap) == 0; }, 5));
}

TEST_CASE("a setsid daemon: what it did in the grace is captured, and it is reported") {
    World w;
    const auto set = dry_run_checked(
        w, "setsid sh -c 'echo up > daemon.log; exec sleep 31' </dev/null >/dev/null 2>&1 &",
        {"-p", "agent", "--background-grace", "2s"});
    CHECK(w.host_effects(set) == std::map<std::string, std::string>{{"daemon.log", "created"}});
    const auto gaps = gaps_of(set, "background-processes");
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0]["message"].get<std::string>().find("sleep 31") != std::string::npos);
    CHECK(set["decision"]["verdict"] == "ask");
    // The daemon's exec is in the process log.
    bool logged = false;
    for (const auto& p : set["processes"])
        if (p["argv"] == json::array({"sleep", "31"})) logged = true;
    CHECK(logged);
}

TEST_CASE("--background: a command meant to run on gets the grace from its start") {
    World w;
    double seconds = 0;
    const auto set =
        dry_run_checked(w, "echo serving > server.log; sleep 32",
                        {"-p", "agent", "--background", "--background-grace", "1s"}, &seconds);
    CHECK(seconds < 15);
    const auto gaps = gaps_of(set, "background-processes");
    REQUIRE(gaps.size() == 1);
    const std::string message = gaps[0]["message"];
    CHECK(message.find("after the background command started") != std::string::npos);
    CHECK(message.find("sleep 32") != std::string::npos);
    CHECK(set["decision"]["verdict"] == "ask");
    // A background command that finishes within the grace is complete.
    const auto quick = dry_run_checked(w, "true", {"-p", "agent", "--background"});
    CHECK(quick["run"]["capture"] == "complete");
    CHECK(quick["decision"]["verdict"] == "allow");
}

TEST_CASE("the hook passes Claude Code's run_in_background on: a server is never a plain allow") {
    World w;
    json in = {{"tool_name", "Bash"},
               {"tool_input", {{"command", "sleep 33"}, {"run_in_background", true}}},
               {"cwd", w.host},
               {"session_id", "s1"},
               {"hook_event_name", "PreToolUse"}};
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store}, {"HOME", w.home}};
    o.stdin_data = in.dump();
    const auto started = std::chrono::steady_clock::now();
    const auto r = run_process(whatif_binary(), {"hook", "claude-code"}, o);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
    REQUIRE(r.exit_code == 0);
    const json answer = json::parse(r.out);
    CHECK(answer["hookSpecificOutput"]["permissionDecision"] == "ask");
    const std::string reason = answer["hookSpecificOutput"]["permissionDecisionReason"];
    CHECK(reason.find("still running") != std::string::npos);
    CHECK(reason.find("sleep 33") != std::string::npos);
}

TEST_CASE("a setuid or file-capability program runs without its privilege: the run says so") {
    World w;
    // Root: a setuid program of another user (a setuid-root one gives root
    // nothing), and file capabilities beyond what a root run keeps. The
    // unprivileged pass uses scripts/test.sh's setuid-root and file-capability copies.
    std::string setuid_program, filecap_program;
    if (geteuid() == 0) {
        const std::string fixtures = w.root + "/fixtures";
        mkdir(fixtures.c_str(), 0755);
        setuid_program = fixtures + "/setuid_report";
        filecap_program = fixtures + "/filecap_report";
        for (const auto& dst : {setuid_program, filecap_program}) {
            std::ifstream in(helper_binary("caps_report"), std::ios::binary);
            std::ofstream(dst, std::ios::binary) << in.rdbuf();
        }
        REQUIRE(chown(setuid_program.c_str(), 65534, 65534) == 0);
        REQUIRE(chmod(setuid_program.c_str(), 04755) == 0);
        REQUIRE(chmod(filecap_program.c_str(), 0755) == 0);
        cap_t fcaps = cap_from_text("cap_sys_admin+ep");
        REQUIRE(cap_set_file(filecap_program.c_str(), fcaps) == 0);
        cap_free(fcaps);
    } else {
        const char* env = std::getenv("WHATIF_PRIV_FIXTURES");
        REQUIRE(env != nullptr);
        setuid_program = std::string(env) + "/setuid_report";
        filecap_program = std::string(env) + "/filecap_report";
    }
    for (const auto& [program, privilege] :
         {std::pair{setuid_program, "setuid"}, std::pair{filecap_program, "file capabilities"}}) {
        CAPTURE(program);
        const auto set = dry_run_checked(w, program + " >/dev/null 2>&1; true", {"-p", "agent"});
        const auto gaps = gaps_of(set, "privileged-exec");
        REQUIRE(gaps.size() == 1);
        const std::string message = gaps[0]["message"];
        CHECK(message.find(std::string("ran ") + whatif::util::base_name(program) +
                           " without its " + privilege) != std::string::npos);
        CHECK(gaps[0]["paths"] == json::array({program}));
        CHECK(set["decision"]["verdict"] == "ask");
    }
    // A plain program, and a setuid-root one for root (it is root already): no gap.
    const auto plain = dry_run_checked(
        w, geteuid() == 0 ? "/usr/bin/passwd --help >/dev/null 2>&1; true" : "/bin/true",
        {"-p", "agent"});
    CHECK(gaps_of(plain, "privileged-exec").empty());
}

TEST_CASE("kill -9 -1 and signals to host pids are effects that ask; the sandbox's own are not") {
    World w;
    const auto set =
        dry_run_checked(w, "kill -9 -1; kill -TERM 4000000 2>/dev/null; true", {"-p", "agent"});
    REQUIRE(set["signals"].is_array());
    REQUIRE(set["signals"].size() == 2);
    const auto& all = set["signals"][0];
    CHECK(all["signal"] == 9);
    CHECK(all["name"] == "SIGKILL");
    CHECK(all["target"] == "-1");
    CHECK(all["call"] == "kill");
    CHECK(all["pid"].is_number());
    REQUIRE(all["argv"].is_array());
    CHECK(all["argv"][0] == "sh");
    CHECK(set["signals"][1]["target"] == "4000000");
    CHECK(set["signals"][1]["signal"] == 15);
    CHECK(set["decision"]["verdict"] == "ask");
    CHECK(has_reason(set, "signal-outside"));
    CHECK(set["run"]["capture"] == "complete");
    // Signals within the sandbox: a job of its own, its own process group.
    const auto own = dry_run_checked(w,
                                     "sleep 5 & kill $!; wait; sleep 0.1 & p=$!; wait; kill $p "
                                     "2>/dev/null; sleep 5 & kill -TERM 0",
                                     {"-p", "agent"});
    CHECK(own["signals"].empty());
    CHECK_FALSE(has_reason(own, "signal-outside"));
    // ci and strict deny.
    const auto ci = dry_run_checked(w, "kill -9 -1", {"-p", "ci"});
    CHECK(ci["decision"]["verdict"] == "deny");
}

TEST_CASE("pkill and pgrep find none of the host's processes: a hidden-processes gap") {
    World w;
    const auto set =
        dry_run_checked(w, "pkill -9 -f 'no-such[-]process'; pgrep node; true", {"-p", "agent"});
    const auto gaps = gaps_of(set, "hidden-processes");
    REQUIRE(gaps.size() == 2);
    CHECK(gaps[0]["message"].get<std::string>().starts_with(
        "pkill -9 -f no-such[-]process looked for processes"));
    CHECK(gaps[0]["message"].get<std::string>().find("may kill") != std::string::npos);
    CHECK(gaps[1]["message"].get<std::string>().starts_with("pgrep node"));
    CHECK(set["decision"]["verdict"] == "ask");
}

TEST_CASE("a plain command still allows under agent, its capture complete") {
    World w;
    w.write("a.txt", "a");
    for (const std::string script : {"true", "ls -la", "cat a.txt; ls > /dev/null"}) {
        CAPTURE(script);
        double seconds = 0;
        const auto set = dry_run_checked(w, script, {"-p", "agent"}, &seconds);
        CHECK(set["run"]["capture"] == "complete");
        CHECK(set["signals"].empty());
        CHECK(set["decision"]["verdict"] == "allow");
        CHECK(seconds < 2.9);  // nothing left running: no grace waited (3 s)
    }
}
