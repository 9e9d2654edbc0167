// Foreign owners as an unprivileged caller (issue 16, part 3): overlayfs cannot copy
// up an inode whose uid or gid the sandbox does not map. For each layout that
// scripts/test.sh makes as root (WHATIF_FOREIGN_FIXTURES), a command either is
// captured exactly (the same effects as the real command on a copy) or the run
// carries a sandbox-refused gap, and then the verdict is never allow.
#include <unistd.h>

#include "harness.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

using Effects = std::map<std::string, std::string>;

// The layouts scripts/test.sh makes as root for the unprivileged pass; null (and
// the case says it is skipped) as root or without them.
const char* foreign_fixtures() {
    const char* dir = std::getenv("WHATIF_FOREIGN_FIXTURES");
    if (geteuid() == 0 || dir == nullptr || *dir == '\0') {
        MESSAGE(
            "skipped: needs the unprivileged pass and WHATIF_FOREIGN_FIXTURES (scripts/test.sh)");
        return nullptr;
    }
    return dir;
}

// What the command does for real, on a copy the test owns (the owners differ, the
// names and contents do not): created, deleted or modified, by relative path.
Effects real_effects(const World& w, const std::string& project, const std::string& script) {
    const std::string copy = w.root + "/copy";
    whatif::util::remove_tree(copy);
    REQUIRE(run_process("/bin/cp", {"-r", project, copy}, {}).exit_code == 0);
    const TreeSnapshot before = snapshot_tree(copy);
    ProcessOptions in_copy;
    in_copy.cwd = copy;
    run_process("/bin/sh", {"-c", script}, in_copy);
    const TreeSnapshot after = snapshot_tree(copy);
    Effects out;
    for (const auto& [path, entry] : before) {
        auto it = after.find(path);
        if (it == after.end())
            out[path] = "deleted";
        else if (entry.type != 'd' &&
                 (entry.size != it->second.size || entry.content_hash != it->second.content_hash))
            out[path] = "modified";
    }
    for (const auto& [path, entry] : after)
        if (!before.contains(path)) out[path] = "created";
    return out;
}

Effects dry_effects(const json& set, const std::string& project) {
    Effects out;
    for (const auto& f : set["files"]) {
        const std::string path = f["path"];
        if (path.size() > project.size() && whatif::util::path_is_within(path, project))
            out[path.substr(project.size() + 1)] = f["change"];
    }
    return out;
}

json dry_run(const World& w, const std::string& cwd, const std::string& script,
             ProcessResult& raw) {
    raw = w.whatif(
        {"run", "-n", "-p", "agent", "--format", "json", "-C", cwd, "--", "sh", "-c", script});
    INFO("stderr: " << raw.err);
    auto set = json::parse(raw.out, nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    return set;
}

const json* refused_gap(const json& set) {
    if (!set["run"]["capture"].is_array()) return nullptr;
    for (const auto& gap : set["run"]["capture"])
        if (gap["kind"] == "sandbox-refused") return &gap;
    return nullptr;
}

// A stand-in's own owner and mode are whatif's: never a file effect.
void check_no_stand_in_effects(const json& set, const std::string& project) {
    for (const auto& f : set["files"]) {
        const std::string path = f["path"];
        CHECK_MESSAGE(!(f["change"] == "metadata" && f["type"] == "dir" &&
                        whatif::util::path_is_within(project, path)),
                      "a stand-in reported: " << path);
    }
}

}  // namespace

TEST_CASE("foreign owners: every layout is captured exactly or the run says it was refused") {
    const char* fixtures = foreign_fixtures();
    if (fixtures == nullptr) return;
    World w;
    for (const std::string layout : {"rootparent", "suppgroup", "otheruser", "setgid"}) {
        const std::string project = std::string(fixtures) + "/" + layout + "/proj";
        for (const std::string script : {"rm -rf data", "echo x > f", "touch newfile"}) {
            CAPTURE(layout);
            CAPTURE(script);
            const TreeSnapshot host_before = snapshot_tree(project);
            ProcessResult raw;
            const json set = dry_run(w, project, script, raw);
            CHECK(describe_differences(host_before, snapshot_tree(project)) == "");
            check_no_stand_in_effects(set, project);
            const Effects expected = real_effects(w, project, script);
            const Effects seen = dry_effects(set, project);
            if (const json* gap = refused_gap(set)) {
                INFO("gap: " << gap->dump());
                CHECK(set["decision"]["verdict"] != "allow");
                CHECK(gap->at("message").get<std::string>().find("refused") != std::string::npos);
            } else {
                INFO("stderr: " << raw.err);
                CHECK(seen == expected);
            }
        }
    }
}

TEST_CASE("foreign owners: the expected layouts are captured, not merely flagged") {
    const char* fixtures = foreign_fixtures();
    if (fixtures == nullptr) return;
    World w;
    // Beneath a root-owned parent, and in a setgid group dir: stand-ins make these work.
    for (const std::string layout : {"rootparent", "setgid"}) {
        const std::string project = std::string(fixtures) + "/" + layout + "/proj";
        for (const std::string script : {"rm -rf data", "touch newfile"}) {
            CAPTURE(layout);
            CAPTURE(script);
            ProcessResult raw;
            const json set = dry_run(w, project, script, raw);
            INFO("stderr: " << raw.err);
            CHECK(refused_gap(set) == nullptr);
            CHECK(set["run"]["exit_status"] == 0);
            CHECK(dry_effects(set, project) == real_effects(w, project, script));
        }
    }
    // A write to a file of a supplementary group or another user cannot be copied
    // up: the gap names the file.
    for (const std::string layout : {"suppgroup", "otheruser", "setgid"}) {
        CAPTURE(layout);
        const std::string project = std::string(fixtures) + "/" + layout + "/proj";
        ProcessResult raw;
        const json set = dry_run(w, project, "echo x > f", raw);
        const json* gap = refused_gap(set);
        REQUIRE(gap != nullptr);
        bool named = false;
        for (const auto& p : gap->at("paths")) named = named || p == project + "/f";
        CHECK(named);
        CHECK(set["decision"]["reasons"][0]["rule"] == "incomplete-capture");
    }
    // A refused write the command line does not name, and a command that goes on
    // to succeed: the message it printed is the net.
    {
        const std::string project = std::string(fixtures) + "/suppgroup/proj";
        ProcessResult raw;
        const json set = dry_run(w, project, "d=da; echo x >> ${d}ta/a; true", raw);
        const json* gap = refused_gap(set);
        REQUIRE(gap != nullptr);
        CHECK(gap->at("message").get<std::string>().find("Value too large") != std::string::npos);
        CHECK(set["decision"]["verdict"] != "allow");
    }
    // Reading there is no doubt: no false ask for the refusal.
    for (const std::string layout : {"suppgroup", "otheruser"}) {
        CAPTURE(layout);
        const std::string project = std::string(fixtures) + "/" + layout + "/proj";
        ProcessResult raw;
        const json set = dry_run(w, project, "ls -la >/dev/null; cat f >/dev/null", raw);
        CHECK(refused_gap(set) == nullptr);
    }
}

TEST_CASE("foreign owners: /var/tmp is captured") {
    if (geteuid() == 0) {
        MESSAGE("skipped: root maps every owner");
        return;
    }
    World w;
    const std::string name = "/var/tmp/whatif-fo-" + std::to_string(getpid());
    ProcessResult raw;
    const json set = dry_run(w, w.host, "echo x > " + name, raw);
    INFO("stderr: " << raw.err);
    CHECK(refused_gap(set) == nullptr);
    CHECK(set["run"]["exit_status"] == 0);
    bool created = false;
    for (const auto& f : set["files"]) {
        created = created || (f["path"] == name && f["change"] == "created");
        CHECK(f["path"] != "/var/tmp");  // the stand-in is no effect
    }
    CHECK(created);
    CHECK_FALSE(w.exists(name));
}

TEST_CASE("a normal project still allows ls, true and touch under agent") {
    World w;
    w.mkdirs("proj/src");
    w.write("proj/src/main.c", "int main(){}\n");
    for (const std::string script : {"ls -la", "true", "touch f"}) {
        CAPTURE(script);
        ProcessResult raw;
        const json set = dry_run(w, w.host + "/proj", script, raw);
        INFO("stderr: " << raw.err);
        CHECK(set["run"]["capture"] == "complete");
        CHECK(set["decision"]["verdict"] == "allow");
        for (const auto& f : set["files"]) CHECK(f["change"] != "metadata");
    }
}

TEST_CASE("foreign owners: apply commits what was written beneath stand-ins, not the stand-ins") {
    const char* fixtures = foreign_fixtures();
    if (fixtures == nullptr) return;
    World w;
    const std::string project = std::string(fixtures) + "/setgid/proj";
    const std::string made = project + "/applied-" + std::to_string(getpid());
    struct stat before {};
    REQUIRE(stat(project.c_str(), &before) == 0);
    ProcessResult raw;
    const json set = dry_run(w, project, "echo applied > " + whatif::util::base_name(made), raw);
    CHECK(refused_gap(set) == nullptr);
    REQUIRE(dry_effects(set, project) == Effects{{whatif::util::base_name(made), "created"}});
    const auto applied = w.whatif({"apply"});
    INFO(applied.out << applied.err);
    CHECK(applied.exit_code == 0);
    CHECK(read_text(made) == "applied\n");
    struct stat after {};
    REQUIRE(stat(project.c_str(), &after) == 0);
    CHECK(after.st_mode == before.st_mode);  // the host dir is as it was: root's, setgid
    CHECK(after.st_uid == before.st_uid);
    CHECK(after.st_gid == before.st_gid);
    unlink(made.c_str());
}
