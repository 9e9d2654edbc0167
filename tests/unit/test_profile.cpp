// The profile parser on its own: inputs the fuzzer found, and non-ASCII text where
// TOML allows it. (Errors through the real binary: tests/integration/test_policy.cpp.)
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "whatif/policy/profile.hpp"

using namespace whatif;

TEST_CASE("fuzz regressions: non-ASCII code points after a key or a line-ending backslash") {
    // toml++ 3.3.0 reached __builtin_unreachable() on each of these (UBSan in the
    // sanitizer pass names it; see include/whatif/policy/toml.hpp).
    const std::string inputs[] = {
        "g\xef\xbb\x97",                     // U+FED7 after a bare key (fuzz_profile)
        "name\xc3\xa9 = \"x\"\n",            // U+00E9 after a bare key
        "s = \"\"\"\\\n\xc2\xa7\"\"\"\n",    // U+00A7 after a line-ending backslash
        "name = \"x\"\n\xe3\x81\x82 = 1\n",  // U+3042 where a key starts
        "name = \"x\" \xef\xb9\xb0\n",       // U+FE70 after a value
    };
    for (const auto& text : inputs) {
        INFO("input: " << text);
        const auto p = policy::parse_profile(text, "fuzz.toml");
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().message.rfind("fuzz.toml:", 0) == 0);
        CHECK(p.error().code == ExitCode::bad_input);
    }
}

TEST_CASE(
    "non-ASCII text inside strings and comments is fine; Unicode spaces are refused cleanly") {
    const auto p = policy::parse_profile(
        "# profil français: supprimé\n"
        "name = \"français\"\n"
        "description = \"refuse ce qui est supprimé — §3\"\n",
        "ok.toml");
    REQUIRE(p.has_value());
    CHECK(p->name == "français");
    CHECK(p->description == "refuse ce qui est supprimé — §3");
    // TOML's whitespace is tab and space: U+3000 (the table's own entry) is an error
    // with a position, not undefined behaviour.
    const auto spaced = policy::parse_profile("name =\xe3\x80\x80\"x\"\n", "sp.toml");
    REQUIRE_FALSE(spaced.has_value());
    CHECK(spaced.error().message.rfind("sp.toml:1:", 0) == 0);
}

TEST_CASE("background_grace: a duration, inherited through extends, 3 s by default") {
    auto p = policy::parse_profile("name = \"x\"\nbackground_grace = \"500ms\"\n", "x.toml");
    REQUIRE(p.has_value());
    CHECK(p->background_grace == std::chrono::milliseconds(500));
    CHECK_FALSE(policy::parse_profile("name = \"x\"\nbackground_grace = \"soon\"\n", "x.toml"));
    CHECK_FALSE(policy::parse_profile("name = \"x\"\nbackground_grace = 3\n", "x.toml"));
    for (const char* name : {"default", "agent", "ci", "strict"}) {
        auto shipped = policy::load_profile(name);
        REQUIRE(shipped.has_value());
        CHECK(shipped->background_grace == std::chrono::seconds(3));
        bool signal_rule = false;
        for (const auto& r : shipped->rules) signal_rule |= r.analysis == "signal";
        CHECK(signal_rule);
    }
}
