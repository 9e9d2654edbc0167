// The hook contract per agent: recorded inputs for a benign, a destructive and a
// network command, a tool that is not a shell, and malformed JSON; the exact output
// shape and verdict each agent expects.
#include "integration/harness.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

struct HookWorld : World {
    HookWorld() {
        REQUIRE(whatif::util::make_dirs(home + "/project/src", 0755).has_value());
        for (int i = 0; i < 5; ++i) std::ofstream(home + "/project/src/f" + std::to_string(i)) << i;
    }
    ProcessResult hook(const std::string& agent, const std::string& input) const {
        ProcessOptions o;
        o.cwd = host;
        o.env = {{"WHATIF_HOME", store}, {"HOME", home}};
        o.stdin_data = input;
        return run_process(whatif_binary(), {"hook", agent}, o);
    }
    std::string input(const std::string& agent, const std::string& command,
                      const std::string& tool = "") const {
        json in;
        if (agent == "cursor") {
            in = {{"hook_event_name", "beforeShellExecution"}, {"command", command}, {"cwd", host}};
        } else {
            const std::string t = !tool.empty()       ? tool
                                  : agent == "gemini" ? "run_shell_command"
                                                      : "Bash";
            in = {{"tool_name", t},
                  {"tool_input", {{"command", command}}},
                  {"cwd", host},
                  {"session_id", "s1"},
                  {"hook_event_name", agent == "gemini" ? "BeforeTool" : "PreToolUse"}};
        }
        return in.dump();
    }
};

// The verdict and reason, read the way each agent reads its answer.
std::pair<std::string, std::string> answer_of(const std::string& agent, const std::string& out) {
    const json j = json::parse(out);
    if (agent == "gemini") {
        CHECK(j.size() == 2);
        return {j["decision"], j["reason"]};
    }
    if (agent == "cursor") {
        CHECK(j["user_message"] == j["agent_message"]);
        return {j["permission"], j["user_message"]};
    }
    CHECK(j.size() == 1);
    CHECK(j["hookSpecificOutput"]["hookEventName"] == "PreToolUse");
    return {j["hookSpecificOutput"]["permissionDecision"],
            j["hookSpecificOutput"]["permissionDecisionReason"]};
}

}  // namespace

TEST_CASE("hook contract for every agent") {
    for (const std::string agent : {"claude-code", "codex", "gemini", "cursor"}) {
        CAPTURE(agent);
        HookWorld w;
        const auto before_home = snapshot_tree(w.home);

        auto r = w.hook(agent, w.input(agent, "ls -la"));
        CHECK(r.exit_code == 0);
        auto [verdict, reason] = answer_of(agent, r.out);
        CHECK(verdict == "allow");
        CHECK(reason.find("whatif: ALLOW") == 0);
        CHECK(reason.find("whatif show ") != std::string::npos);

        r = w.hook(agent, w.input(agent, "rm -rf ~/project"));
        CHECK(r.exit_code == 0);
        std::tie(verdict, reason) = answer_of(agent, r.out);
        CHECK(verdict == (agent == "gemini" ? "deny" : "ask"));
        CHECK(reason.find("whatif: ASK") == 0);
        CHECK(reason.find("outside-project") != std::string::npos);
        CHECK(reason.find("whatif apply ") != std::string::npos);
        CHECK(reason.size() < 1000);
        CHECK(describe_differences(before_home, snapshot_tree(w.home)) ==
              "");  // nothing was deleted

        r = w.hook(agent, w.input(agent, "curl -s https://api.example.com/v1/things"));
        std::tie(verdict, reason) = answer_of(agent, r.out);
        CHECK(verdict == (agent == "gemini" ? "deny" : "ask"));
        CHECK(reason.find("api.example.com:443") != std::string::npos);

        if (agent != "cursor") {  // cursor's beforeShellExecution only ever carries shell commands
            r = w.hook(agent, w.input(agent, "", agent == "gemini" ? "read_file" : "Read"));
            CHECK(r.exit_code == 0);
            CHECK(r.out.empty());
        }

        r = w.hook(agent, "{not json");
        CHECK(r.exit_code == 0);
        std::tie(verdict, reason) = answer_of(agent, r.out);
        CHECK(verdict == "deny");
        CHECK(reason.find("failing closed") != std::string::npos);
    }
}

TEST_CASE("an unknown agent is refused with exit 2") {
    HookWorld w;
    const auto r = w.hook("clippy", "{}");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("unknown agent 'clippy'") != std::string::npos);
    CHECK(r.out.empty());
}
