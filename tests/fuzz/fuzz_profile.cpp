// libFuzzer: the profile loader on hostile TOML, and every profile it accepts
// evaluated on a small effect set (globs, regexes and message templates run).
#include <cstddef>
#include <cstdint>
#include <string>

#include "whatif/policy/decision.hpp"
#include "whatif/policy/profile.hpp"

namespace {

whatif::effects::EffectSet sample_set() {
    using namespace whatif::effects;
    EffectSet set;
    set.run.id = "20261124T000000-0000";
    set.run.argv = {"sh", "-c", "rm -rf data"};
    set.run.cwd = "/home/u/proj";
    FileState before;
    before.type = FileType::file;
    before.size = 10;
    before.mode = 0644;
    set.files.push_back(
        {"/home/u/proj/data/a.txt", Change::deleted, FileType::file, before, std::nullopt});
    FileState after = before;
    after.mode = 0777;
    set.files.push_back({"/home/u/.bashrc", Change::metadata, FileType::file, before, after});
    set.processes.push_back(
        {2, 1, {"git", "push", "--force"}, "/usr/bin/git", "/home/u/proj", 0, std::nullopt});
    set.network.push_back({{"kind", "connect"},
                           {"proto", "tcp"},
                           {"host", "db.internal"},
                           {"address", "198.18.0.1"},
                           {"port", 5432},
                           {"path", nullptr},
                           {"tls", nullptr},
                           {"http", nullptr},
                           {"protocol", "postgresql"},
                           {"detail", "user=admin database=prod: DROP DATABASE prod"},
                           {"pid", 3},
                           {"outcome", "stubbed"}});
    set.secrets.push_back({{"kind", "leak"},
                           {"access", "sent"},
                           {"name", "GITHUB_TOKEN"},
                           {"path", nullptr},
                           {"destination", "example.com:80"},
                           {"pid", nullptr}});
    return set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto profile = whatif::policy::parse_profile(text, "fuzz.toml");
    if (!profile) {
        // A rejected profile must say where: "file:line:column: message" or "file: message".
        if (profile.error().message.rfind("fuzz.toml", 0) != 0) __builtin_trap();
        return 0;
    }
    auto set = sample_set();
    const auto decision = whatif::policy::decide(set, *profile, "/home/u");
    for (const auto& r : decision.reasons)
        if (r.verdict == whatif::effects::Verdict::allow) __builtin_trap();  // reasons are ask/deny
    return 0;
}
