// Hardening: each escape class is tried by a small program inside whatif
// (tests/security/), and each case checks that the attempt failed *and* that the
// host saw nothing. Then the process log.
#include <signal.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/process.hpp>
#include <chrono>
#include <thread>

#include <dirent.h>

#include <set>

#include "integration/harness.hpp"
#include "support/pty.hpp"
#include "whatif/effects/effect_set.hpp"

using namespace whatif::test;
namespace bp = boost::process;

namespace {

std::string probe(const std::string& name) {
    const char* dir = std::getenv("WHATIF_PROBES_DIR");
    return std::string(dir != nullptr && *dir != '\0' ? dir : WHATIF_PROBES_DIR) + "/" + name;
}

// Runs a probe inside whatif; its own exit status comes back.
ProcessResult run_probe(const World& w, const std::string& name,
                        const std::vector<std::string>& args = {}) {
    std::vector<std::string> argv = {"run", "-n", "--exit-status", "command", "--", probe(name)};
    argv.insert(argv.end(), args.begin(), args.end());
    return w.whatif(argv);
}

void check_all_blocked(const ProcessResult& r, size_t at_least) {
    INFO("output:\n" << r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("ESCAPED") == std::string::npos);
    size_t blocked = 0;
    for (size_t pos = 0; (pos = r.out.find("blocked:", pos)) != std::string::npos; ++pos) ++blocked;
    CHECK(blocked >= at_least);
}

std::map<std::string, std::string> status_fields(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = value;
    }
    return out;
}

int listener(const std::string& path, bool abstract) {
    const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = sizeof(sa_family_t) + static_cast<socklen_t>(path.size() + 1);
    std::memcpy(addr.sun_path + (abstract ? 1 : 0), path.data(), path.size());
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(listen(s, 8) == 0);
    return s;
}

}  // namespace

TEST_CASE("escape classes fail inside the sandbox") {
    World w;
    const auto before = snapshot_tree(w.host);
    SUBCASE("ptrace") {
        check_all_blocked(run_probe(w, "ptrace_attach"), 3);
    }
    SUBCASE("writes to /proc/sys and /proc/sysrq-trigger") {
        check_all_blocked(run_probe(w, "proc_writes"), 3);
    }
    SUBCASE("mount, umount2, pivot_root, chroot, the new mount API") {
        check_all_blocked(run_probe(w, "mount_calls"), 13);
    }
    SUBCASE("unshare, clone with namespace flags, clone3, setns") {
        check_all_blocked(run_probe(w, "namespaces"), 6);
    }
    SUBCASE("keyrings, bpf, perf_event_open, userfaultfd, io_uring, process_vm_readv") {
        check_all_blocked(run_probe(w, "kernel_surfaces"), 8);
    }
    SUBCASE("int 0x80 and the x32 bit") {
        check_all_blocked(run_probe(w, "abi_bypass"), 3);
    }
    SUBCASE("only fds 0-2; whatif's executable cannot be written") {
        const auto r = run_probe(w, "fds_and_exe");
        check_all_blocked(r, 3);
        CHECK(r.out.find("fds: only 0-2") != std::string::npos);
    }
    CHECK(describe_differences(before, snapshot_tree(w.host)) == "");
}

TEST_CASE("kill() cannot reach a host process") {
    World w;
    bp::child host_sleep("/bin/sleep", "300");
    const auto r = run_probe(w, "kill_host_pid", {std::to_string(host_sleep.id())});
    check_all_blocked(r, 1);
    CHECK(host_sleep.running());
    host_sleep.terminate();
}

TEST_CASE("once the command runs, init keeps kill, dac_override, net_bind_service, sys_ptrace") {
    // For a root caller init is root of the host's user namespace (its mounts are
    // overlaid whole): it must not keep what mounts, enters namespaces or opens
    // files by handle (dac_read_search).
    World w;
    ProcessResult raw;
    w.dry_run_sh("grep -E '^Cap(Prm|Eff)' /proc/1/status >&2", &raw);
    INFO(raw.err);
    auto caps = status_fields(raw.err);
    // bits 1 (dac_override), 5 (kill), 10 (net_bind_service), 19 (sys_ptrace)
    CHECK(caps["CapPrm"] == "0000000000080422");
    CHECK(caps["CapEff"] == "0000000000080422");
}

TEST_CASE(
    "capabilities: none for a non-root caller, root's short list for root, nothing gained by "
    "setuid or file caps") {
    World w;
    const auto r = run_probe(w, "caps_report");
    REQUIRE(r.exit_code == 0);
    auto caps = status_fields(r.out);
    CHECK(caps["NoNewPrivs"] == "1");
    CHECK(caps["CapAmb"] == "0000000000000000");
    CHECK(caps["CapInh"] == "0000000000000000");
    if (geteuid() == 0) {
        // chown dac_override dac_read_search fowner fsetid kill setgid setuid
        // net_bind_service audit_write; never sys_admin (21), sys_module, ...
        CHECK(caps["CapEff"] == "00000000200004ff");
        CHECK(caps["CapBnd"] == "00000000200004ff");
    } else {
        CHECK(caps["CapEff"] == "0000000000000000");
        CHECK(caps["CapPrm"] == "0000000000000000");
        CHECK(caps["CapBnd"] == "0000000000000000");
    }
    // A setuid-root copy and a file-capability copy of the reporter, made by root:
    // by this test in the root pass, by scripts/test.sh for the unprivileged one.
    std::string fixtures;
    if (geteuid() == 0) {
        fixtures = w.root + "/fixtures";
        mkdir(fixtures.c_str(), 0755);
        for (const char* name : {"setuid_report", "filecap_report"}) {
            const std::string dst = fixtures + "/" + name;
            std::ifstream in(probe("caps_report"), std::ios::binary);
            std::ofstream(dst, std::ios::binary) << in.rdbuf();
            REQUIRE(chown(dst.c_str(), 0, 0) == 0);
            REQUIRE(chmod(dst.c_str(), std::string(name) == "setuid_report" ? 04755 : 0755) == 0);
        }
        cap_t fcaps = cap_from_text("cap_sys_admin,cap_dac_override,cap_sys_module+ep");
        REQUIRE(cap_set_file((fixtures + "/filecap_report").c_str(), fcaps) == 0);
        cap_free(fcaps);
    } else if (const char* env = std::getenv("WHATIF_PRIV_FIXTURES")) {
        fixtures = env;
    }
    REQUIRE_FALSE(fixtures.empty());
    for (const char* name : {"setuid_report", "filecap_report"}) {
        const auto out =
            w.whatif({"run", "-n", "--exit-status", "command", "--", fixtures + "/" + name});
        INFO(name << ":\n" << out.out << out.err);
        if (out.exit_code == 126) {
            // The kernel refuses to start a file-capability binary whose capabilities
            // cannot all be granted: it gains nothing, it does not run.
            CHECK(std::string(name) == "filecap_report");
            CHECK(out.err.find("Operation not permitted") != std::string::npos);
            continue;
        }
        REQUIRE(out.exit_code == 0);
        auto gained = status_fields(out.out);
        if (geteuid() == 0) {
            CHECK(gained["CapEff"] == "00000000200004ff");  // no sys_admin, no sys_module
        } else {
            CHECK(gained["CapEff"] == "0000000000000000");
            CHECK(gained["euid"] == std::to_string(geteuid()));
        }
    }
}

TEST_CASE("host unix sockets are unreachable and every attempt is recorded") {
    World w;
    const std::string docker = w.root + "/docker.sock", pg = w.root + "/.s.PGSQL.5432";
    const std::string abstract = "whatif-test-" + std::to_string(getpid());
    const int l1 = listener(docker, false), l2 = listener(pg, false), l3 = listener(abstract, true);
    const std::string report = w.root + "/report.json";
    // --net none: refused. (In stub mode a stand-in of the stub network takes a
    // filesystem socket's connection instead, the host's listener still seeing
    // nothing: test_local_services.cpp.)
    const auto r = w.whatif({"run", "-n", "--net", "none", "--report", report, "--exit-status",
                             "command", "--", probe("unix_sockets"), docker, pg, "@" + abstract});
    check_all_blocked(r, 3);
    for (int l : {l1, l2, l3}) {
        CHECK(accept(l, nullptr, nullptr) == -1);  // nothing ever arrived
        CHECK(errno == EAGAIN);
        close(l);
    }
    const auto set = nlohmann::json::parse(read_text(report));
    std::set<std::string> recorded;
    for (const auto& n : set["network"]) {
        CHECK(n["proto"] == "unix");
        CHECK(n["outcome"] == "blocked");
        recorded.insert(n["path"].get<std::string>());
    }
    CHECK(recorded == std::set<std::string>{docker, pg, "@" + abstract});
}

TEST_CASE("TIOCSTI and TIOCLINUX on a real terminal inject nothing, high bits included") {
    World w;
    PtySession s(whatif_binary(),
                 {"run", "-n", "--exit-status", "command", "--", probe("tty_inject")}, w.host,
                 {{"WHATIF_HOME", w.store}, {"HOME", w.home}, {"NO_COLOR", "1"}});
    const int status = s.wait_exit();
    INFO(s.output());
    CHECK(status == 0);
    CHECK(s.output().find("ESCAPED") == std::string::npos);
    size_t blocked = 0;
    for (size_t pos = 0; (pos = s.output().find("blocked:", pos)) != std::string::npos; ++pos)
        ++blocked;
    CHECK(blocked == 4);
}

TEST_CASE("a fork bomb, a memory bomb and a double-forked daemon are contained and gone") {
    World w;
    const std::string marker = "whatif-bomb-" + std::to_string(getpid());
    SUBCASE("fork bomb") {
        const auto r = w.whatif({"run", "-n", "--timeout", "5s", "--", "sh", "-c",
                                 "b() { b | b & }; b; wait # " + marker});
        CHECK((r.exit_code == 0 || r.exit_code == 3));
    }
    SUBCASE("processes are counted: at most 1024 at once, root included") {
        // Root is exempt from RLIMIT_NPROC: a root caller's limit is the pids cgroup.
        const auto r = w.whatif(
            {"run", "-n", "--timeout", "60s", "--exit-status", "command", "--", "python3", "-c",
             "import os  # " + marker +
                 "\nr, w = os.pipe()\nn = 0\nfor i in range(1500):\n"
                 "    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
                 "    if pid == 0:\n        os.close(w); os.read(r, 1); os._exit(0)\n"
                 "    n += 1\nprint('forked', n, flush=True)\nos.close(w)\n"});
        INFO(r.err);
        CHECK(r.exit_code == 0);
        const auto at = r.out.find("forked ");
        REQUIRE(at != std::string::npos);
        const int forked = std::stoi(r.out.substr(at + 7));
        CHECK(forked > 100);
        CHECK(forked < 1024);
    }
    SUBCASE("memory bomb") {
        const auto r = w.whatif(
            {"run", "-n", "--timeout", "30s", "--exit-status", "command", "--", "python3", "-c",
             "import mmap  # " + marker +
                 "\nkeep = []\nwhile True: keep.append(mmap.mmap(-1, 1 << 30))"});
        CHECK(r.exit_code == 1);  // MemoryError / ENOMEM: the data limit held
        CHECK(r.err.find("rror") != std::string::npos);
    }
    SUBCASE("double-forked daemon") {
        const auto r = w.whatif({"run", "-n", "--background-grace", "500ms", "--", "sh", "-c",
                                 "(sh -c 'sleep 300; : " + marker + "' &) &"});
        // Still running after the grace: killed, reported, and never an allow.
        CHECK(r.exit_code == 3);
        CHECK(r.out.find("still running") != std::string::npos);
    }
    for (int i = 0; i < 100 && processes_with(marker) > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(processes_with(marker) == 0);
}

TEST_CASE("a root caller's pids cgroup is gone by the next run") {
    if (geteuid() != 0) return;  // ordinary callers get RLIMIT_NPROC, not a cgroup
    World w;
    auto run_id = [&] {
        const auto r = w.whatif({"run", "-n", "--format", "json", "--", "true"});
        REQUIRE(r.exit_code == 0);
        return nlohmann::json::parse(r.out)["run"]["id"].get<std::string>();
    };
    const std::string first = run_id();
    std::string parent;
    for (const char* candidate : {"/sys/fs/cgroup/whatif", "/sys/fs/cgroup/pids/whatif"})
        if (access(candidate, F_OK) == 0) parent = candidate;
    if (parent.empty()) return;  // no writable pids controller on this machine
    // Right after its run, the cgroup is removed or marked as ended, never left as
    // if a run still used it.
    CHECK(access((parent + "/" + first).c_str(), F_OK) != 0);
    const std::string second = run_id();
    CHECK(access((parent + "/" + first).c_str(), F_OK) != 0);
    CHECK(access((parent + "/ended-" + first).c_str(), F_OK) != 0);
    CHECK(access((parent + "/" + second).c_str(), F_OK) != 0);
}

TEST_CASE("the process log: every program, its argv and its parent") {
    World w;
    w.mkdirs("fixture");
    w.write("fixture/Makefile", "all:\n\techo built > out.txt\n\ttrue\n");
    const std::string report = w.root + "/report.json";
    const auto r = w.whatif(
        {"run", "-n", "--report", report, "--", "sh", "-c", "ls >/dev/null; make -s -C fixture"});
    INFO(r.err);
    const auto set = nlohmann::json::parse(read_text(report));
    std::map<std::string, nlohmann::json> by_name;
    for (const auto& p : set["processes"])  // the first program of each name
        by_name.emplace(whatif::util::base_name(p["argv"][0].get<std::string>()), p);
    REQUIRE(by_name.contains("sh"));
    REQUIRE(by_name.contains("ls"));
    REQUIRE(by_name.contains("make"));
    CHECK(by_name["sh"]["ppid"] == 1);
    CHECK(by_name["sh"]["argv"] ==
          nlohmann::json({"sh", "-c", "ls >/dev/null; make -s -C fixture"}));
    CHECK(by_name["sh"]["exit_status"] == 0);
    CHECK(by_name["ls"]["ppid"] == by_name["sh"]["pid"]);
    CHECK(by_name["make"]["ppid"] == by_name["sh"]["pid"]);
    CHECK(by_name["make"]["argv"] == nlohmann::json({"make", "-s", "-C", "fixture"}));
    CHECK(by_name["make"]["cwd"] == w.host);
    // make's recipe ran as its children, in the fixture directory.
    bool recipe_seen = false;
    for (const auto& p : set["processes"])
        if (p["ppid"] == by_name["make"]["pid"]) {
            recipe_seen = true;
            CHECK(p["cwd"] == w.host + "/fixture");
        }
    CHECK(recipe_seen);
    CHECK(r.out.find("processes") != std::string::npos);
    CHECK(r.out.find("sh \u2192 make") != std::string::npos);
}

TEST_CASE(
    "unusual argv is recorded exactly: empty strings, newlines, invalid UTF-8, 1,000 arguments") {
    World w;
    const std::string report = w.root + "/report.json";
    w.whatif({"run", "-n", "--report", report, "--", probe("exec_weird_argv")});
    const auto set = nlohmann::json::parse(read_text(report));
    auto parsed = whatif::effects::effect_set_from_json(set);
    REQUIRE(parsed.has_value());
    const whatif::effects::ProcessRecord* weird = nullptr;
    for (const auto& p : parsed->processes)
        if (!p.argv.empty() && p.argv[0] == "true") weird = &p;
    REQUIRE(weird != nullptr);
    REQUIRE(weird->argv.size() == 1005);
    CHECK(weird->argv[1] == "");
    CHECK(weird->argv[2] == "a\nb");
    CHECK(weird->argv[3] == "tab\there");
    CHECK(weird->argv[4] == "not utf-8: \xff\xfe");
    CHECK(weird->argv[1004] == "arg999");
    CHECK(weird->exe == "/bin/true");
}
