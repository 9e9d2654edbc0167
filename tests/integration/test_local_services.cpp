// Local services (issue 16, parts 5 and 6): the sandbox's loopback gets the stub
// network too, so that a DROP DATABASE to the developer's own PostgreSQL is seen and
// denied, while a server the command runs itself on loopback keeps working and is
// no effect; and under --net host, real traffic is an effect that rules judge.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "integration/network_support.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

// The TCP connect entry to `port`, or null.
json connect_to(const json& set, int port) {
    for (const auto& n : set["network"])
        if (n["kind"] == "connect" && n["proto"] == "tcp" && n["port"] == port) return n;
    return nullptr;
}

bool has_reason(const json& set, const std::string& rule, const std::string& text = "") {
    for (const auto& r : set["decision"]["reasons"])
        if (r["rule"] == rule && r["message"].get<std::string>().find(text) != std::string::npos)
            return true;
    return false;
}

std::string reasons_of(const json& set) {
    return set["decision"]["reasons"].dump();
}

}  // namespace

TEST_CASE("psql DROP DATABASE to 127.0.0.1:5432 is stubbed, recorded and denied under agent") {
    World w;
    HostListener pg(5432);
    const auto set =
        dry_run(w, "psql -h 127.0.0.1 -U admin prod -c 'DROP DATABASE prod'", {"-p", "agent"});
    const json c = connect_to(set, 5432);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["address"] == "127.0.0.1");
    CHECK(c["outcome"] == "stubbed");
    CHECK(c["protocol"] == "postgresql");
    CHECK(c["detail"].get<std::string>().find("user=admin database=prod") != std::string::npos);
    CHECK(c["detail"].get<std::string>().find("DROP DATABASE prod") != std::string::npos);
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "deny");
    CHECK(has_reason(set, "destructive-query", "127.0.0.1:5432"));
    CHECK(has_reason(set, "destructive-query", "DROP DATABASE prod"));
    pg.check_untouched();
}

TEST_CASE("redis-cli FLUSHALL to localhost, and over IPv6 ::1: recorded, denied under agent") {
    World w;
    HostListener redis(6379);
    const auto set =
        dry_run(w, "redis-cli -h localhost FLUSHALL; redis-cli -h ::1 FLUSHDB", {"-p", "agent"});
    std::string details;
    for (const auto& n : set["network"])
        if (n["port"] == 6379 && n["detail"].is_string()) {
            CHECK(n["outcome"] == "stubbed");
            details += n["detail"].get<std::string>() + "\n";
        }
    CHECK(details.find("FLUSHALL") != std::string::npos);
    CHECK(details.find("FLUSHDB") != std::string::npos);
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "deny");
    CHECK(has_reason(set, "destructive-query", "FLUSHALL"));
    redis.check_untouched();
}

TEST_CASE("a plain HTTP GET to localhost:9200 asks under agent, naming host, port and request") {
    World w;
    HostListener search(9200);
    const auto set =
        dry_run(w, "curl -sS -m 10 http://localhost:9200/_cat/indices", {"-p", "agent"});
    const json c = connect_to(set, 9200);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["outcome"] == "stubbed");
    CHECK(c["protocol"] == "http");
    CHECK(c["http"]["method"] == "GET");
    CHECK(c["http"]["target"] == "/_cat/indices");
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "ask");
    CHECK(has_reason(set, "network", ":9200 GET /_cat/indices"));
    search.check_untouched();
}

TEST_CASE("an HTTP DELETE to a local service is destructive-intent") {
    World w;
    const auto set =
        dry_run(w, "curl -sS -m 10 -X DELETE http://127.0.0.1:9200/index", {"-p", "agent"});
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "deny");
    CHECK(has_reason(set, "destructive-query", "127.0.0.1:9200: DELETE /index"));
}

TEST_CASE("the command's own server on loopback keeps working and is no effect") {
    World w;
    w.write("index.html", "served by the command itself\n");
    // The server is up before the client (the wait below polls /proc, not the port:
    // a client that tries the port before the server has bound it gets the stub).
    const auto set = dry_run(w,
                             "python3 -m http.server 18737 --bind 127.0.0.1 >/dev/null 2>&1 & "
                             "while ! grep -q ':4931 .* 0A ' /proc/net/tcp; do sleep 0.05; done; "
                             "curl -sS -m 10 http://127.0.0.1:18737/index.html >&2; "
                             "python3 -c \"import urllib.request, sys\n"
                             "sys.stderr.write(urllib.request.urlopen("
                             "'http://localhost:18737/index.html').read().decode())\"; "
                             "s=$?; kill $!; wait; exit $s",
                             {"-p", "agent"});
    CHECK(set["run"]["exit_status"] == 0);
    const json c = connect_to(set, 18737);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["outcome"] == "allowed");
    CHECK(c["sandbox_internal"] == true);
    INFO(reasons_of(set));
    for (const auto& r : set["decision"]["reasons"]) CHECK(r["rule"] != "network");
    CHECK(set["decision"]["verdict"] == "allow");
}

TEST_CASE("--net host: a real connection is an effect; strict and ci deny, agent asks") {
    World w;
    HostListener real(0);  // any free port on the host's loopback
    REQUIRE(real.fd >= 0);
    const std::string port = std::to_string(real.port);
    const auto set = dry_run(w,
                             "python3 -c \"import socket\n"
                             "s = socket.create_connection(('127.0.0.1', " +
                                 port +
                                 "), timeout=10)\n"
                                 "s.sendall(b'hello')\"",
                             {"--net", "host", "-p", "agent"});
    const json c = connect_to(set, real.port);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["outcome"] == "allowed");
    CHECK_FALSE(c.contains("sandbox_internal"));
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "ask");
    CHECK(has_reason(set, "real-network", "127.0.0.1:" + port));
    // It really went out: the host's listener has the connection.
    pollfd p{real.fd, POLLIN, 0};
    CHECK(poll(&p, 1, 1000) == 1);
    for (const char* profile : {"strict", "ci"}) {
        const auto checked = w.whatif({"check", "last", "-p", profile, "--format", "json"});
        INFO(profile << ": " << checked.err);
        const auto j = json::parse(checked.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        CHECK(j["decision"]["verdict"] == "deny");
        CHECK(has_reason(j, "real-network", "127.0.0.1:" + port));
    }
}

TEST_CASE(
    "a host PostgreSQL unix socket is stood in for: the query recorded, the host sees nothing") {
    World w;
    // psql -h DIR connects to DIR/.s.PGSQL.5432, as to /var/run/postgresql's.
    const std::string dir = w.root + "/pgrun";
    REQUIRE(mkdir(dir.c_str(), 0755) == 0);
    HostUnixListener pg(dir + "/.s.PGSQL.5432");
    const auto set =
        dry_run(w, "psql -h " + dir + " -U admin prod -c 'DROP DATABASE prod'", {"-p", "agent"});
    json c;
    for (const auto& n : set["network"])
        if (n["proto"] == "unix" && n["path"] == dir + "/.s.PGSQL.5432") c = n;
    REQUIRE_FALSE(c.is_null());
    CHECK(c["outcome"] == "stubbed");
    CHECK(c["protocol"] == "postgresql");
    CHECK(c["detail"].get<std::string>().find("user=admin database=prod") != std::string::npos);
    CHECK(c["detail"].get<std::string>().find("DROP DATABASE prod") != std::string::npos);
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "deny");
    CHECK(has_reason(set, "destructive-query", "DROP DATABASE prod"));
    pg.check_untouched();
}

TEST_CASE("host Redis and Docker unix sockets: FLUSHALL denied, an API call over HTTP asks") {
    World w;
    HostUnixListener redis(w.root + "/redis-server.sock"), docker(w.root + "/docker.sock");
    const auto set = dry_run(w,
                             "redis-cli -s " + w.root +
                                 "/redis-server.sock FLUSHALL; "
                                 "curl -sS -m 10 --unix-socket " +
                                 w.root + "/docker.sock http://localhost/v1.43/containers/json",
                             {"-p", "agent"});
    bool saw_flush = false, saw_docker = false;
    for (const auto& n : set["network"]) {
        if (n["proto"] != "unix" || n["protocol"] == "nss") continue;  // the C library's
        CHECK(n["outcome"] == "stubbed");
        if (n["detail"].is_string() && n["detail"].get<std::string>().find("FLUSHALL") == 0)
            saw_flush = true;
        if (n["http"].is_object() && n["http"]["target"] == "/v1.43/containers/json")
            saw_docker = true;
    }
    CHECK(saw_flush);
    CHECK(saw_docker);
    INFO(reasons_of(set));
    CHECK(set["decision"]["verdict"] == "deny");
    CHECK(has_reason(set, "destructive-query", "FLUSHALL"));
    CHECK(has_reason(set, "network", "GET /v1.43/containers/json"));
    redis.check_untouched();
    docker.check_untouched();
}

TEST_CASE("the command's own unix-socket server keeps working and is no effect") {
    World w;
    const auto set = dry_run(w,
                             "python3 -c \"import socket, os\n"
                             "path = os.path.join(os.getcwd(), 'own.sock')\n"
                             "server = socket.socket(socket.AF_UNIX)\n"
                             "server.bind(path); server.listen(1)\n"
                             "client = socket.socket(socket.AF_UNIX)\n"
                             "client.connect('own.sock')\n"
                             "peer, _ = server.accept()\n"
                             "client.sendall(b'ping'); assert peer.recv(4) == b'ping'\n"
                             "os.unlink(path)\"",
                             {"-p", "agent"});
    CHECK(set["run"]["exit_status"] == 0);
    for (const auto& n : set["network"]) CHECK(n["outcome"] != "stubbed");
    INFO(reasons_of(set));
    for (const auto& r : set["decision"]["reasons"]) CHECK(r["rule"] != "network");
}
