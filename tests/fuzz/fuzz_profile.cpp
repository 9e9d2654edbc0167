// libFuzzer: the profile loader on hostile TOML, and every profile it accepts
// evaluated on the golden tests' effect set (globs, regexes and message templates run).
#include <cstddef>
#include <cstdint>
#include <string>

#include "support/sample_effect_set.hpp"
#include "whatif/policy/decision.hpp"
#include "whatif/policy/profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto profile = whatif::policy::parse_profile(text, "fuzz.toml");
    if (!profile) {
        // A rejected profile must say where: "file:line:column: message" or "file: message".
        if (profile.error().message.rfind("fuzz.toml", 0) != 0) __builtin_trap();
        return 0;
    }
    auto set = whatif::test::sample_effect_set();  // decide() marks ignored effects
    const auto decision = whatif::policy::decide(set, *profile, "/home/ana");
    for (const auto& r : decision.reasons)
        if (r.verdict == whatif::effects::Verdict::allow) __builtin_trap();  // reasons are ask/deny
    return 0;
}
