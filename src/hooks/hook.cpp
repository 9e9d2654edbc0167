#include "whatif/hooks/hook.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "whatif/util/strings.hpp"

namespace whatif::hooks {

using nlohmann::json;

std::optional<Agent> agent_from_name(const std::string& name) {
    if (name == "claude-code" || name == "claude") return Agent::claude_code;
    if (name == "codex") return Agent::codex;
    if (name == "gemini") return Agent::gemini;
    if (name == "cursor") return Agent::cursor;
    return std::nullopt;
}

Result<std::optional<ProposedCommand>> parse_hook_input(Agent agent, const std::string& text) {
    const json in = json::parse(text, nullptr, false);
    if (in.is_discarded() || !in.is_object())
        return bad_input("the hook input is not a JSON object");
    auto string_at = [](const json& j, const char* key) -> std::optional<std::string> {
        auto it = j.find(key);
        if (it == j.end() || !it->is_string()) return std::nullopt;
        return it->get<std::string>();
    };
    ProposedCommand proposed;
    proposed.cwd = string_at(in, "cwd").value_or("");
    if (agent == Agent::cursor) {
        auto command = string_at(in, "command");
        if (!command) return bad_input("the hook input has no \"command\" string");
        proposed.command = *command;
    } else {
        const std::string tool = string_at(in, "tool_name").value_or("");
        if (agent == Agent::claude_code && tool != "Bash") return std::optional<ProposedCommand>{};
        if (agent == Agent::gemini && tool != "run_shell_command")
            return std::optional<ProposedCommand>{};
        static const char* codex_shells[] = {"shell", "Bash", "exec_command", "local_shell",
                                             "container.exec"};
        if (agent == Agent::codex && !tool.empty() &&
            std::none_of(std::begin(codex_shells), std::end(codex_shells),
                         [&](const char* s) { return tool == s; }))
            return std::optional<ProposedCommand>{};
        auto input = in.find("tool_input");
        if (input == in.end() || !input->is_object()) {
            if (agent == Agent::codex && !tool.empty() && tool != "shell" && tool != "Bash")
                return std::optional<ProposedCommand>{};
            return bad_input("the hook input has no \"tool_input\" object");
        }
        if (auto bg = input->find("run_in_background"); bg != input->end() && bg->is_boolean())
            proposed.background = bg->get<bool>();
        auto command = input->find("command");
        if (command != input->end() && command->is_array()) {  // codex may send argv
            std::vector<std::string> argv;
            for (const auto& a : *command)
                if (a.is_string()) argv.push_back(a.get<std::string>());
            proposed.command = util::join_argv_for_display(argv);
        } else if (command != input->end() && command->is_string()) {
            proposed.command = command->get<std::string>();
        } else {
            if (agent == Agent::codex && tool != "shell" && tool != "Bash")
                return std::optional<ProposedCommand>{};
            return bad_input("the hook input has no \"tool_input.command\"");
        }
    }
    if (proposed.cwd.empty() || proposed.cwd.front() != '/')
        return bad_input("the hook input has no absolute \"cwd\"");
    return std::optional<ProposedCommand>{proposed};
}

std::string format_answer(Agent agent, effects::Verdict verdict, const std::string& reason) {
    const std::string v(to_string(verdict));
    json out;
    switch (agent) {
        case Agent::claude_code:
        case Agent::codex:
            out = {{"hookSpecificOutput",
                    {{"hookEventName", "PreToolUse"},
                     {"permissionDecision", v},
                     {"permissionDecisionReason", reason}}}};
            break;
        case Agent::gemini:
            // Gemini CLI knows allow and deny: ask becomes deny, with the reason.
            out = {{"decision", verdict == effects::Verdict::allow ? "allow" : "deny"},
                   {"reason", reason}};
            break;
        case Agent::cursor:
            out = {{"permission", v}, {"user_message", reason}, {"agent_message", reason}};
            break;
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string reason_for(const effects::EffectSet& set) {
    std::string verdict(to_string(set.decision.verdict));
    for (char& c : verdict) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string out = "whatif: " + verdict;
    size_t shown = 0;
    for (const auto& r : set.decision.reasons) {
        if (shown == 4) break;
        std::string item = r.message + " (rule " + r.rule + ")";
        if (item.size() > 180) item = item.substr(0, 177) + "...";
        out += (shown++ == 0 ? " — " : "; ") + item;
    }
    if (set.decision.reasons.empty()) out += " — the dry run changed nothing and reached nothing";
    const auto t = effects::compute_totals(set);
    std::string counts;
    auto add = [&](uint64_t n, const char* what) {
        if (n > 0) counts += (counts.empty() ? "" : ", ") + util::with_thousands(n) + " " + what;
    };
    add(t.deleted, "deleted");
    add(t.replaced, "replaced");
    add(t.modified, "modified");
    add(t.created, "created");
    if (!counts.empty()) out += ". Files: " + counts;
    if (out.size() > 800) out = out.substr(0, 797) + "...";
    out += ". Run " + set.run.id + ": see `whatif show " + set.run.id + "`";
    if (!set.files.empty()) out += ", apply with `whatif apply " + set.run.id + "`";
    return out + ".";
}

}  // namespace whatif::hooks
