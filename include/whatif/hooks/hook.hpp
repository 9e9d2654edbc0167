// Agent adapters: a pre-tool-use hook reads the agent's JSON on stdin, dry-runs the
// proposed shell command, and answers in that agent's own format. Anything wrong
// (malformed input, a whatif failure) fails closed: the agent is told to deny.
#pragma once

#include <optional>
#include <string>

#include "whatif/effects/effect_set.hpp"
#include "whatif/util/error.hpp"

namespace whatif::hooks {

enum class Agent { claude_code, codex, gemini, cursor };
std::optional<Agent> agent_from_name(const std::string& name);

struct ProposedCommand {
    std::string command;  // run as `bash -c COMMAND`
    std::string cwd;
    // Claude Code's tool_input.run_in_background: the command goes on after the
    // agent moves on, so the dry run gives it only the grace period (whatif run
    // --background) and reports it if it still runs then: never a plain allow for
    // what it was not seen doing.
    bool background = false;
};

// nullopt when the tool is not a shell command (nothing to check); an error when
// the input is malformed.
Result<std::optional<ProposedCommand>> parse_hook_input(Agent agent, const std::string& json_text);

// The agent's answer, one JSON line.
std::string format_answer(Agent agent, effects::Verdict verdict, const std::string& reason);

// "whatif: ASK — deletes 1,204 entries under ~/proj/data (rule mass-delete) ...
// run 2026...: whatif show RUN, whatif apply RUN", under 1,000 characters.
std::string reason_for(const effects::EffectSet& set);

}  // namespace whatif::hooks
