#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>

#include "whatif/policy/decision.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/text.hpp"
#include "whatif/util/strings.hpp"

using namespace whatif;
using effects::Change;
using effects::FileType;

namespace {

effects::FileEffect deleted_file(const std::string& path, uint64_t size) {
    effects::FileState s;
    s.type = FileType::file;
    s.size = size;
    s.mode = 0644;
    return {path, Change::deleted, FileType::file, s, std::nullopt};
}

effects::EffectSet sample_set() {
    effects::EffectSet set;
    set.run.id = "20261123T205731-3f9c";
    set.run.argv = {"rm", "-rf", "data"};
    set.run.cwd = "/home/ana/proj";
    set.run.exit_status = 0;
    set.run.duration_ms = 41;
    effects::FileState dir;
    dir.type = FileType::dir;
    dir.mode = 0755;
    set.files.push_back({"/home/ana/proj/data", Change::deleted, FileType::dir, dir, std::nullopt});
    for (int i = 0; i < 1204; ++i)
        set.files.push_back(deleted_file("/home/ana/proj/data/f" + std::to_string(i), 1000));
    effects::FileState created;
    created.size = 12;
    set.files.push_back({"/tmp/new.txt", Change::created, FileType::file, std::nullopt, created});
    set.run.profile = "default";
    auto profile = policy::load_profile("default");
    REQUIRE(profile.has_value());
    set.decision = policy::decide(set, *profile, "/home/ana");
    return set;
}

}  // namespace

TEST_CASE("an incomplete capture never allows, under any profile, and survives the JSON") {
    effects::EffectSet set;
    set.run.id = "20261123T205731-3f9c";
    set.run.argv = {"true"};
    set.run.cwd = "/home/ana/proj";
    set.run.add_gap({"background-processes",
                     "2 processes were still running when the command ended: sleep 1, rm -rf "
                     "data; what they would do is unknown",
                     {},
                     {7, 8}});
    set.run.add_gap(
        {"store-full", "the run store filled up", {"/home/ana/.local/state/whatif"}, {}});
    // Stored and read back (whatif check decides again from effects.json).
    auto back = effects::effect_set_from_json(effects::to_json(set));
    REQUIRE(back.has_value());
    REQUIRE(back->run.capture.size() == 2);
    CHECK(back->run.capture[0].kind == "background-processes");
    CHECK(back->run.capture[0].pids == std::vector<int>{7, 8});
    CHECK(back->run.capture[1].paths == std::vector<std::string>{"/home/ana/.local/state/whatif"});
    CHECK(effects::to_json(set)["run"]["capture"][0]["kind"] == "background-processes");
    CHECK(effects::to_json(effects::EffectSet{})["run"]["capture"] == "complete");
    CHECK_FALSE(effects::to_json(effects::EffectSet{})["run"].contains("capture_incomplete"));
    for (const char* name : {"default", "agent", "ci", "strict"}) {
        CAPTURE(name);
        auto profile = policy::load_profile(name);
        REQUIRE(profile.has_value());
        const auto d = policy::decide(*back, *profile, "/home/ana");
        CHECK(d.verdict != effects::Verdict::allow);
        REQUIRE(d.reasons.size() >= 2);
        CHECK(d.reasons[0].rule == "incomplete-capture");
        CHECK(d.reasons[0].message == back->run.capture[0].message);
        CHECK(d.reasons[1].rule == "incomplete-capture");
    }
}

TEST_CASE("real traffic (--net host) is judged; the command's own loopback server is not") {
    effects::EffectSet real;
    real.run.net = "host";
    real.network.push_back({{"kind", "connect"},
                            {"proto", "tcp"},
                            {"host", "api.example.com"},
                            {"address", "203.0.113.9"},
                            {"port", 443},
                            {"outcome", "allowed"}});
    effects::EffectSet own;
    own.network.push_back({{"kind", "connect"},
                           {"proto", "tcp"},
                           {"host", nullptr},
                           {"address", "127.0.0.1"},
                           {"port", 8080},
                           {"outcome", "allowed"},
                           {"sandbox_internal", true}});
    for (auto [name, verdict] : {std::pair{"default", effects::Verdict::ask},
                                 {"agent", effects::Verdict::ask},
                                 {"ci", effects::Verdict::deny},
                                 {"strict", effects::Verdict::deny}}) {
        CAPTURE(name);
        auto profile = policy::load_profile(name);
        REQUIRE(profile.has_value());
        const auto d = policy::decide(real, *profile, "/home/ana");
        CHECK(d.verdict == verdict);
        REQUIRE_FALSE(d.reasons.empty());
        CHECK(d.reasons[0].rule == "real-network");
        CHECK(d.reasons[0].message.find("api.example.com:443") != std::string::npos);
        CHECK(policy::decide(own, *profile, "/home/ana").verdict == effects::Verdict::allow);
    }
}

TEST_CASE("a stored run of the first format: capture_incomplete is read as one gap") {
    auto j = effects::to_json(effects::EffectSet{});
    j["run"].erase("capture");
    j["run"]["capture_incomplete"] = "the run store filled up";
    auto back = effects::effect_set_from_json(j);
    REQUIRE(back.has_value());
    REQUIRE(back->run.capture.size() == 1);
    CHECK(back->run.capture[0].message == "the run store filled up");
    j["run"]["capture"] = 3;
    CHECK_FALSE(effects::effect_set_from_json(j).has_value());
}

TEST_CASE(
    "the default profile: nothing happened is allowed, a mass deletion asks with its reason") {
    effects::EffectSet empty;
    auto profile = policy::load_profile("default");
    REQUIRE(profile.has_value());
    CHECK(policy::decide(empty, *profile, "/home/ana").verdict == effects::Verdict::allow);
    CHECK(policy::exit_code_for(effects::Verdict::allow) == ExitCode::allow);
    const auto set = sample_set();
    CHECK(set.decision.verdict == effects::Verdict::ask);
    REQUIRE(set.decision.reasons.size() == 2);
    CHECK(set.decision.reasons[0].rule == "mass-delete");
    CHECK(set.decision.reasons[0].message ==
          "deletes 1,205 entries under /home/ana/proj/data (1.2 MB)");
    CHECK(set.decision.reasons[1].rule == "unmatched");
    CHECK(policy::exit_code_for(set.decision.verdict) == ExitCode::ask);
}

TEST_CASE("text report groups a deleted tree into one line, most destructive first") {
    const std::string text = report::render_text(sample_set(), {.color = false});
    CHECK(text.find("whatif: dry run 20261123T205731-3f9c") == 0);
    CHECK(text.find("deleted   1,204 files, 1 dir under /home/ana/proj/data   (-1.2 MB)") !=
          std::string::npos);
    CHECK(text.find("created   /tmp/new.txt   (+12 B)") != std::string::npos);
    CHECK(text.find("deleted") < text.find("created"));
    CHECK(text.find("decision: ASK — deletes 1,205 entries under /home/ana/proj/data (1.2 MB) "
                    "(rule mass-delete)") != std::string::npos);
    CHECK(text.find("\x1b[") == std::string::npos);
    const std::string colored = report::render_text(sample_set(), {.color = true});
    CHECK(colored.find("\x1b[") != std::string::npos);
}

TEST_CASE("long lists are folded") {
    effects::EffectSet set;
    set.run.id = "x";
    for (int d = 0; d < 20; ++d) {
        effects::FileState s;
        s.size = 1;
        set.files.push_back({"/dir" + std::to_string(d) + "/file", Change::created, FileType::file,
                             std::nullopt, s});
    }
    const std::string text = report::render_text(set, {.color = false, .max_lines_per_change = 6});
    CHECK(text.find("and 14 more in 14 other places") != std::string::npos);
}

TEST_CASE("JSON report follows schema whatif/effects/v1 and round-trips") {
    const auto set = sample_set();
    const auto j = nlohmann::json::parse(report::render_json(set));
    CHECK(j["schema"] == "whatif/effects/v1");
    CHECK(j["run"]["argv"] == nlohmann::json({"rm", "-rf", "data"}));
    CHECK(j["run"]["signal"].is_null());
    CHECK(j["decision"]["verdict"] == "ask");
    CHECK(j["totals"]["deleted"] == 1205);
    CHECK(j["totals"]["created"] == 1);
    CHECK(j["totals"]["bytes_removed"] == 1204000);
    CHECK(j["files"][0]["change"] == "deleted");
    CHECK(j["files"][0]["after"].is_null());
    CHECK(j["files"][1]["before"]["mode"] == "0644");
    for (const char* key : {"files", "processes", "network", "secrets"}) CHECK(j[key].is_array());
    auto back = effects::effect_set_from_json(j);
    REQUIRE(back.has_value());
    CHECK(back->files.size() == set.files.size());
    CHECK(back->decision.verdict == effects::Verdict::ask);
    CHECK_FALSE(effects::effect_set_from_json(nlohmann::json::object()).has_value());
}

TEST_CASE("command-failed: agent asks when a stub came first, ci on any failure, none on success") {
    auto verdict_and_rules = [](effects::EffectSet& set, const char* profile_name) {
        auto profile = policy::load_profile(profile_name);
        REQUIRE(profile.has_value());
        const auto d = policy::decide(set, *profile, "/home/ana");
        std::vector<std::string> rules;
        for (const auto& r : d.reasons) rules.push_back(r.rule + ": " + r.message);
        return std::make_pair(d.verdict, rules);
    };
    auto has_rule = [](const std::vector<std::string>& rules, const std::string& prefix) {
        return std::any_of(rules.begin(), rules.end(),
                           [&](const std::string& r) { return r.starts_with(prefix); });
    };
    effects::EffectSet set;
    set.run.argv = {"./deploy.sh"};
    set.run.cwd = "/home/ana/proj";
    set.run.exit_status = 1;
    // A plain failure: the real run fails the same way; the agent may go on.
    {
        auto [verdict, rules] = verdict_and_rules(set, "agent");
        CHECK(verdict == effects::Verdict::allow);
        CHECK_FALSE(has_rule(rules, "command-failed"));
        auto [ci_verdict, ci_rules] = verdict_and_rules(set, "ci");
        CHECK(ci_verdict == effects::Verdict::ask);
        CHECK(has_rule(ci_rules, "command-failed: the command failed in the dry run (exit 1)"));
    }
    // After the stub network answered it: the real run may not fail there.
    set.network.push_back(
        {{"kind", "dns"}, {"host", "api.github.com"}, {"outcome", "stubbed"}, {"protocol", "dns"}});
    {
        auto [verdict, rules] = verdict_and_rules(set, "agent");
        CHECK(verdict == effects::Verdict::ask);
        CHECK(has_rule(rules,
                       "command-failed: the command failed in the dry run (exit 1 after the "
                       "stub network (api.github.com))"));
    }
    // A signal counts as a failure; a success is none; a timeout is a gap, not a failure.
    set.network.clear();
    set.secrets.push_back(
        {{"kind", "file"}, {"path", "/home/ana/.aws/credentials"}, {"access", "read"}});
    set.run.exit_status.reset();
    set.run.signal = 11;
    CHECK(has_rule(verdict_and_rules(set, "agent").second,
                   "command-failed: the command failed in the dry run (killed by SIGSEGV after a "
                   "stub credential)"));
    set.run.signal.reset();
    set.run.exit_status = 0;
    CHECK_FALSE(has_rule(verdict_and_rules(set, "ci").second, "command-failed"));
    set.run.exit_status.reset();
    set.run.signal = 9;
    set.run.timed_out = true;
    CHECK_FALSE(has_rule(verdict_and_rules(set, "ci").second, "command-failed"));
}

TEST_CASE("bytes from the command and the network never reach the terminal raw") {
    CHECK(util::printable("DROP TABLE users") == "DROP TABLE users");
    CHECK(util::printable("é ünïcode ✓") == "é ünïcode ✓");
    CHECK(util::printable("a\x1b]52;c;ZXZpbA==\x07") == "a\\x1b]52;c;ZXZpbA==\\x07");
    CHECK(util::printable("x\ndecision: ALLOW\r") == "x\\ndecision: ALLOW\\r");
    CHECK(util::printable("\xc2\x9b"
                          "2J") == "\\xc2\\x9b2J");  // C1 CSI
    CHECK(util::printable("\xe2\x80\xae"
                          "txt") == "\\xe2\\x80\\xaetxt");  // right-to-left override
    CHECK(util::printable("\xff") == "\\xff");
    CHECK(util::shell_quote_for_display("a\xe2\x80\xae"
                                        "b") == "$'a\\xe2\\x80\\xaeb'");

    effects::EffectSet set;
    set.run.id = "20261123T205731-3f9c";
    set.run.argv = {"redis-cli"};
    set.run.cwd = "/home/ana/proj";
    set.run.exit_status = 0;
    set.run.net = "stub";
    const std::string evil = "FLUSHALL\x1b[2K\r\x1b[1A\ndecision: ALLOW\x1b]52;c;ZXZpbA==\x07";
    set.network.push_back({{"kind", "connect"},
                           {"proto", "tcp"},
                           {"host", "cache\x1b[31m.internal"},
                           {"address", "203.0.113.7"},
                           {"port", 6379},
                           {"protocol", "redis"},
                           {"detail", evil},
                           {"outcome", "stubbed"}});
    set.warnings.push_back("odd \x1b[8mhidden");
    auto profile = policy::load_profile("agent");
    REQUIRE(profile.has_value());
    set.decision = policy::decide(set, *profile, "/home/ana");
    const std::string text = report::render_text(set, {.color = false});
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\r') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    size_t decision_lines = 0;
    for (size_t at = 0; (at = text.find("\ndecision:", at)) != std::string::npos; ++at)
        ++decision_lines;
    CHECK(decision_lines == 1);
    CHECK(text.find("FLUSHALL\\x1b[2K") != std::string::npos);
}

TEST_CASE("signals[] round-trips through JSON, one element per line, and older sets read empty") {
    auto set = sample_set();
    set.signals.push_back({{"signal", 9},
                           {"name", "SIGKILL"},
                           {"target", "-1"},
                           {"call", "kill"},
                           {"pid", 7},
                           {"argv", {"kill", "-9", "-1"}}});
    set.signals.push_back({{"signal", 15},
                           {"name", "SIGTERM"},
                           {"target", "-4242"},
                           {"call", "kill"},
                           {"pid", 8},
                           {"argv", nullptr}});
    const std::string text = report::render_json(set);
    CHECK(text.find("\n\"signals\": [\n  {") != std::string::npos);
    CHECK(text.find("\"target\":\"-4242\"") != std::string::npos);
    const auto j = nlohmann::json::parse(text);
    auto back = effects::effect_set_from_json(j);
    REQUIRE(back.has_value());
    CHECK(back->signals == set.signals);
    std::istringstream stream(text);
    auto streamed = effects::read_effect_set(stream);
    REQUIRE(streamed.has_value());
    CHECK(streamed->signals == set.signals);
    // A stored run of an older version has no signals[].
    auto old = j;
    old.erase("signals");
    auto old_back = effects::effect_set_from_json(old);
    REQUIRE(old_back.has_value());
    CHECK(old_back->signals.empty());
    // Damaged: not an array of objects.
    auto damaged = j;
    damaged["signals"] = {1, 2};
    CHECK_FALSE(effects::effect_set_from_json(damaged).has_value());
    // The text report names them.
    const std::string report = report::render_text(set, {.color = false});
    CHECK(report.find("signals   SIGKILL to -1 (every process of the user) (kill -9 -1)") !=
          std::string::npos);
}
