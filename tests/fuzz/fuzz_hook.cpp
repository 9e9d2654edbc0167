// libFuzzer: one agent's pre-tool-use JSON (WHATIF_AGENT: 0 claude-code, 1 codex,
// 2 gemini, 3 cursor). Whatever arrives, the parser returns a command, "not a shell
// tool" or an error, and the answer built from it is valid JSON of the agent's shape.
// The same bytes also go through the effect-set reader the hook uses on whatif's
// own output.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "whatif/effects/effect_set.hpp"
#include "whatif/hooks/hook.hpp"

#ifndef WHATIF_AGENT
#define WHATIF_AGENT 0
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace whatif;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto agent = static_cast<hooks::Agent>(WHATIF_AGENT);
    const auto proposed = hooks::parse_hook_input(agent, text);
    std::string reason = proposed ? (*proposed ? (*proposed)->command : "not a shell tool")
                                  : proposed.error().message;
    if (proposed && *proposed && (*proposed)->cwd.empty()) __builtin_trap();  // cwd is required
    for (auto verdict : {effects::Verdict::allow, effects::Verdict::ask, effects::Verdict::deny}) {
        const std::string answer = hooks::format_answer(agent, verdict, reason);
        const auto j = nlohmann::json::parse(answer, nullptr, false);
        if (j.is_discarded() || !j.is_object()) __builtin_trap();
        const bool shaped = agent == hooks::Agent::gemini   ? j.contains("decision")
                            : agent == hooks::Agent::cursor ? j.contains("permission")
                                                            : j.contains("hookSpecificOutput");
        if (!shaped) __builtin_trap();
    }
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (!doc.is_discarded())
        if (auto set = effects::effect_set_from_json(doc)) (void)hooks::reason_for(*set);
    return 0;
}
