// A temporary world for one integration test: a host tree, a run store and a
// $HOME, all under one temporary directory, and helpers to drive whatif in it.
#pragma once

#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "support/process.hpp"
#include "support/snapshot.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::test {

// A helper of tests/support (userns_root, deny_userns), built beside the security
// probes.
inline std::string helper_binary(const char* name) {
    const char* dir = std::getenv("WHATIF_PROBES_DIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : WHATIF_PROBES_DIR) + "/" + name;
}

struct World {
    std::string root, host, store, home;
    // Root only: whatif runs as root of a user namespace of its own, as in a
    // container, where its mounts are locked (mount_plan.hpp).
    bool in_user_namespace = false;

    World() {
        char tmpl[] = "/tmp/whatif-it-XXXXXX";
        root = mkdtemp(tmpl);
        chmod(root.c_str(), 0755);
        host = root + "/host";
        store = root + "/store";
        home = root + "/home";
        mkdir(host.c_str(), 0755);
        mkdir(home.c_str(), 0755);
    }
    ~World() { util::remove_tree(root); }

    ProcessResult whatif(const std::vector<std::string>& args,
                         const std::string& stdin_data = "") const {
        ProcessOptions options;
        options.cwd = host;
        options.env = {
            {"WHATIF_HOME", store}, {"HOME", home}, {"NO_COLOR", "1"}, {"WHATIF_LOG", "warn"}};
        options.stdin_data = stdin_data;
        if (in_user_namespace) {
            std::vector<std::string> wrapped = {whatif_binary()};
            wrapped.insert(wrapped.end(), args.begin(), args.end());
            return run_process(helper_binary("userns_root"), wrapped, options);
        }
        return run_process(whatif_binary(), args, options);
    }

    // `whatif run --format json -n -- sh -c SCRIPT`, the effect set parsed.
    nlohmann::json dry_run_sh(const std::string& script, ProcessResult* raw = nullptr,
                              const std::vector<std::string>& extra = {}) const {
        std::vector<std::string> args = {"run", "--format", "json", "-n"};
        args.insert(args.end(), extra.begin(), extra.end());
        for (const char* a : {"--", "sh", "-c"}) args.push_back(a);
        args.push_back(script);
        ProcessResult r = whatif(args);
        if (raw != nullptr) *raw = r;
        INFO("stderr: " << r.err);
        auto j = nlohmann::json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }

    // change of every file effect, keyed by path relative to the host tree.
    std::map<std::string, std::string> host_effects(const nlohmann::json& set) const {
        std::map<std::string, std::string> out;
        for (const auto& f : set["files"]) {
            std::string path = f.contains("path_hex")
                                   ? util::from_hex(f["path_hex"].get<std::string>())
                                   : f["path"].get<std::string>();
            if (util::path_is_within(path, host)) out[path.substr(host.size() + 1)] = f["change"];
        }
        return out;
    }

    void write(const std::string& rel, const std::string& content) const {
        std::ofstream(host + "/" + rel, std::ios::binary) << content;
    }
    void mkdirs(const std::string& rel) const {
        REQUIRE(util::make_dirs(host + "/" + rel, 0755).has_value());
    }
    bool exists(const std::string& path) const {
        struct stat st {};
        return lstat(path.c_str(), &st) == 0;
    }
};

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Processes on the host whose command line contains `marker`.
inline int processes_with(const std::string& marker) {
    int count = 0;
    DIR* proc = opendir("/proc");
    while (dirent* e = readdir(proc)) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        std::string cmdline = read_text(std::string("/proc/") + e->d_name + "/cmdline");
        if (cmdline.find(marker) != std::string::npos) ++count;
    }
    closedir(proc);
    return count;
}

// The host's mount table (this test runs on the host) mentions `path`.
inline bool mounts_mention(const std::string& path) {
    return read_text("/proc/self/mountinfo").find(path) != std::string::npos;
}

// Starts whatif in the background in World `w`; the caller waits or kills.
inline boost::process::child start_whatif(const World& w, const std::vector<std::string>& args,
                                          std::map<std::string, std::string> env = {}) {
    namespace bp = boost::process;
    env.emplace("WHATIF_HOME", w.store);
    env.emplace("HOME", w.home);
    return bp::child("/usr/bin/env", bp::args(env_launch(whatif_binary(), args, env)),
                     bp::start_dir(w.host), bp::std_out > bp::null, bp::std_err > bp::null,
                     bp::std_in < bp::null);
}

// Polls `done` every 50 ms for up to `seconds`.
inline bool wait_until(const std::function<bool()>& done, int seconds = 5) {
    for (int i = 0; i < seconds * 20; ++i) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
}

}  // namespace whatif::test
