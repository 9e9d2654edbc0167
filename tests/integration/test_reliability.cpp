// Keeping promises when things go wrong: whatif killed in each phase, a million
// files, the run store used by many whatif processes at once.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "integration/harness.hpp"
#include "whatif/effects/effect_set.hpp"

using namespace whatif::test;
namespace bp = boost::process;

namespace {

char process_state(int pid) {
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

int parent_of(int pid) {
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    return std::atoi(stat.c_str() + paren + 4);
}

// whatif `pid` reached its stop point: stopped itself, or (setup) its init has the
// sandbox's root mounted from the store and waits there.
bool at_stop_point(int pid, bool in_init, const std::string& store) {
    if (!in_init) return process_state(pid) == 'T';
    DIR* proc = opendir("/proc");
    bool found = false;
    while (dirent* e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        const int p = std::atoi(e->d_name);
        if (parent_of(p) == pid &&
            read_text("/proc/" + std::to_string(p) + "/mountinfo").find(store) != std::string::npos)
            found = true;
    }
    closedir(proc);
    return found;
}

void project(const World& w) {
    w.mkdirs("data/sub");
    for (int i = 0; i < 50; ++i) w.write("data/f" + std::to_string(i), std::to_string(i));
    w.write("data/sub/deep", "deep");
    w.write("keep.txt", "keep");
}

}  // namespace

TEST_CASE("SIGKILL of whatif in each phase: host untouched, nothing left running or mounted") {
    // setup: init stopped with the sandbox's mounts built; scan: the command done,
    // nothing read yet; report: effects.json written, the run not yet complete.
    // (The running command and apply: test_cli.cpp and test_apply.cpp.)
    for (const char* phase : {"setup", "scan", "report"}) {
        SUBCASE(phase) {
            World w;
            project(w);
            const auto before = snapshot_tree(w.host);
            const std::string marker =
                std::string("whatif-fault-") + phase + "-" + std::to_string(getpid());
            auto child = start_whatif(
                w, {"-n", "--", "sh", "-c", "rm -rf data; echo new > new.txt # " + marker},
                {{"WHATIF_TEST_STOP_AT", phase}});
            const bool in_init = std::string(phase) == "setup";
            REQUIRE(wait_until([&] { return at_stop_point(child.id(), in_init, w.store); }, 30));
            kill(child.id(), SIGKILL);
            child.wait();
            CHECK(wait_until([&] { return processes_with(marker) == 0; }, 10));
            CHECK_FALSE(mounts_mention(w.store));
            CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
            const auto list = w.whatif({"list"});
            INFO("list: " << list.out);
            CHECK(list.out.find("incomplete") != std::string::npos);
            // Nothing half-made is taken for a result.
            const auto show = w.whatif({"show"});
            CHECK(show.exit_code == 2);
            CHECK(show.err.find("incomplete") != std::string::npos);
            CHECK(w.whatif({"apply"}).exit_code == 2);
            CHECK(w.whatif({"discard", "last"}).exit_code == 0);
            CHECK(w.whatif({"list"}).out.empty());
            CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
        }
    }
}

TEST_CASE("list, gc, discard and apply at the same time never corrupt the store") {
    World w;
    // Eight finished runs, each creating its own file.
    std::vector<std::string> ids;
    for (int i = 0; i < 8; ++i) {
        const auto set = w.dry_run_sh("echo " + std::to_string(i) + " > made" + std::to_string(i));
        ids.push_back(set["run"]["id"].get<std::string>());
    }
    // Each run applied twice at once, the even ones discarded at the same time,
    // while new runs start and the store is listed and collected.
    std::vector<bp::child> jobs;
    for (size_t i = 0; i < ids.size(); ++i) {
        jobs.push_back(start_whatif(w, {"apply", ids[i]}));
        jobs.push_back(start_whatif(w, {"apply", ids[i]}));
        if (i % 2 == 0) jobs.push_back(start_whatif(w, {"discard", ids[i]}));
    }
    for (int i = 0; i < 6; ++i)
        jobs.push_back(
            start_whatif(w, {"-n", "--", "sh", "-c", "echo n > fresh" + std::to_string(i)}));
    for (int k = 0; k < 5; ++k) {
        CHECK(w.whatif({"list"}).exit_code == 0);
        CHECK(w.whatif({"gc", "--older-than", "1h"}).exit_code == 0);
    }
    for (auto& j : jobs) j.wait();

    // Every run applied at most once; a run was either applied or discarded whole.
    for (size_t i = 0; i < ids.size(); ++i) {
        const std::string made = w.host + "/made" + std::to_string(i);
        const bool applied = w.exists(made);
        if (applied) CHECK(read_text(made) == std::to_string(i) + "\n");
        const std::string dir = w.store + "/runs/" + ids[i];
        if (i % 2 == 1) {
            CHECK(applied);  // never discarded: one of its two applies won
            CHECK(read_text(dir + "/apply.journal").find("\"complete\"") != std::string::npos);
        }
        if (w.exists(dir)) {
            // Still stored: whole, and readable.
            CHECK(w.whatif({"show", ids[i]}).exit_code != 1);
        }
    }
    // The store lists cleanly: no half-created or half-discarded run shows up.
    const auto list = w.whatif({"list"});
    INFO("list:\n" << list.out);
    CHECK(list.exit_code == 0);
    std::map<std::string, int> states;
    std::istringstream lines(list.out);
    for (std::string id, state, rest; lines >> id >> state && std::getline(lines, rest);)
        ++states[state];
    CHECK(states["applied"] >= 4);   // the odd runs, at least
    CHECK(states["complete"] >= 6);  // the fresh runs, at least
    CHECK(states["applied"] + states["complete"] ==
          static_cast<int>(list.out.size() > 0 ? std::count(list.out.begin(), list.out.end(), '\n')
                                               : 0));
    for (const auto& name : std::filesystem::directory_iterator(w.store + "/runs")) {
        const std::string n = name.path().filename();
        CHECK_FALSE(n.starts_with(".new-"));
        CHECK_FALSE(n.starts_with(".discard-"));
    }
}

TEST_CASE("a million new files: the scan finishes and whatif's memory stays under 64 MB") {
    if (!long_tests_enabled()) {
        MESSAGE("long test: runs with WHATIF_TEST_LONG=1 (scripts/test.sh --long)");
        return;
    }
    World w;
    const auto before = snapshot_tree(w.host);
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"WHATIF_LOG", "warn"}};
    const std::string out = w.root + "/effects-out.json";
    const auto r = run_process_measured(whatif_binary(),
                                        {"run", "-n", "--format", "json", "--", "sh", "-c",
                                         "mkdir d && cd d && seq 1 1000000 | xargs touch"},
                                        o, out);
    INFO("stderr: " << r.err.substr(0, 2000));
    CHECK(r.exit_code == 3);
    MESSAGE("peak memory of whatif and its sandbox for 1,000,000 files: " << r.max_rss_kb << " kB");
    CHECK(r.max_rss_kb > 0);
    CHECK(r.max_rss_kb <= 64 * 1024);
    // The effect set is complete, read back the way whatif reads it.
    std::ifstream in(out);
    auto set = whatif::effects::read_effect_set(in, w.root);
    REQUIRE(set.has_value());
    CHECK(set->files.size() == 1'000'001);
    CHECK(set->files[0].path == w.host + "/d");
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
}
