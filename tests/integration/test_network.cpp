// The stub network with real clients inside whatif: each test checks the intent
// recorded, that the client gave up quickly (no timeout), and that nothing reached
// a listener on the host's own loopback on the same port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <set>

#include "integration/network_support.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

std::vector<json> entries(const json& set, const std::string& kind, const std::string& proto = "") {
    std::vector<json> out;
    for (const auto& n : set["network"])
        if (n["kind"] == kind && (proto.empty() || n["proto"] == proto)) out.push_back(n);
    return out;
}

// The entry for `port` (copied: the list is often a temporary), or null.
json find_port(const std::vector<json>& list, int port) {
    for (const auto& n : list)
        if (n["port"] == port) return n;
    return nullptr;
}

}  // namespace

TEST_CASE("curl over HTTP: method, host and path recorded; 503 from the stub") {
    World w;
    HostListener host(80);
    const auto set = dry_run(w, "curl -sS -m 10 -X DELETE http://example.com/x/y?z=1");
    const json c = find_port(entries(set, "connect", "tcp"), 80);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["host"] == "example.com");
    CHECK(c["protocol"] == "http");
    CHECK(c["http"]["method"] == "DELETE");
    CHECK(c["http"]["target"] == "/x/y?z=1");
    CHECK(c["http"]["host"] == "example.com");
    CHECK(c["outcome"] == "stubbed");
    CHECK(c["address"].get<std::string>().starts_with("198.18."));
    host.check_untouched();
}

TEST_CASE("curl over HTTPS and git clone: the TLS server name") {
    World w;
    HostListener host(443);
    const auto set = dry_run(
        w, "curl -sS -m 10 https://api.github.com/user; git clone -q https://github.com/o/r");
    std::set<std::string> snis;
    for (const auto& n : entries(set, "connect", "tcp"))
        if (const auto tls = n.value("tls", nlohmann::json()); tls.is_object())
            snis.insert(tls.value("sni", ""));
    CHECK(snis.contains("api.github.com"));
    CHECK(snis.contains("github.com"));
    CHECK_FALSE(w.exists(w.host + "/r/.git/HEAD"));  // the clone failed, and nothing is on the host
    host.check_untouched();
}

TEST_CASE("psql: user, database and the query; redis-cli: the command; ssh: the banner") {
    World w;
    HostListener pg(5432), redis(6379), ssh(22);
    const auto set =
        dry_run(w,
                "psql -h db.internal -U admin prod -c 'DROP DATABASE prod'; "
                "redis-cli -h cache.internal FLUSHALL; "
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=no git@github.com true");
    const auto tcp = entries(set, "connect", "tcp");
    const json p = find_port(tcp, 5432);
    REQUIRE_FALSE(p.is_null());
    CHECK(p["protocol"] == "postgresql");
    CHECK(p["host"] == "db.internal");
    CHECK(p["detail"].get<std::string>().find("user=admin database=prod") != std::string::npos);
    CHECK(p["detail"].get<std::string>().find("DROP DATABASE prod") != std::string::npos);
    const json r = find_port(tcp, 6379);
    REQUIRE_FALSE(r.is_null());
    CHECK(r["protocol"] == "redis");
    CHECK(r["detail"] == "FLUSHALL");
    const json s = find_port(tcp, 22);
    REQUIRE_FALSE(s.is_null());
    CHECK(s["protocol"] == "ssh");
    CHECK(s["detail"].get<std::string>().find("SSH-2.0-") != std::string::npos);
    pg.check_untouched();
    redis.check_untouched();
    ssh.check_untouched();
}

TEST_CASE("name lookups: getent and dig get synthetic answers, every query is recorded") {
    World w;
    ProcessResult raw;
    const auto set = w.dry_run_sh(
        "getent hosts db.internal && dig +short +tries=1 +time=3 A api.example.org", &raw);
    INFO(raw.err);
    CHECK(set["run"]["exit_status"] == 0);
    CHECK(raw.err.find("db.internal") != std::string::npos);  // getent printed an address
    CHECK(raw.err.find("198.18.") != std::string::npos);      // dig printed the A record
    std::set<std::string> names;
    for (const auto& n : entries(set, "dns")) names.insert(n["host"].get<std::string>());
    CHECK(names.contains("db.internal"));
    CHECK(names.contains("api.example.org"));
}

TEST_CASE("a direct connect to an IP literal, and a UDP datagram") {
    World w;
    HostListener host(8081);
    const auto set = dry_run(w,
                             "python3 -c \"import socket\n"
                             "s = socket.create_connection(('203.0.113.5', 8081), timeout=10)\n"
                             "s.sendall(b'PING raw bytes')\n"
                             "s.recv(10)\n"
                             "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                             "u.sendto(b'datagram', ('203.0.113.6', 9999))\"");
    const json c = find_port(entries(set, "connect", "tcp"), 8081);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["address"] == "203.0.113.5");
    CHECK(c["host"].is_null());
    CHECK(c["detail"].get<std::string>().find("PING raw bytes") != std::string::npos);
    const json u = find_port(entries(set, "send", "udp"), 9999);
    REQUIRE_FALSE(u.is_null());
    CHECK(u["address"] == "203.0.113.6");
    host.check_untouched();
}

TEST_CASE("--net none: loopback only, every connection refused, attempts still recorded") {
    World w;
    ProcessResult raw;
    const auto set = w.dry_run_sh(
        "python3 -c \"import socket\ntry:\n socket.create_connection(('203.0.113.5', 8081), "
        "timeout=5)\n"
        "except OSError as e: print('refused', e.errno)\"",
        &raw, {"--net", "none"});
    CHECK(set["run"]["net"] == "none");
    CHECK(raw.err.find("refused 111") != std::string::npos);  // ECONNREFUSED
    const json c = find_port(entries(set, "connect", "tcp"), 8081);
    REQUIRE_FALSE(c.is_null());
    CHECK(c["outcome"] == "blocked");
}

TEST_CASE("--net host is the real network, said loudly") {
    World w;
    const auto r = w.whatif({"--net", "host", "-n", "--", "true"});
    CHECK(r.out.find("THE REAL NETWORK") != std::string::npos);
    const auto j = json::parse(w.whatif({"show", "--format", "json"}).out);
    CHECK(j["run"]["net"] == "host");
}

TEST_CASE(
    "hostile bytes never block or bloat whatif: huge headers, truncated hello, endless RESP") {
    World w;
    const auto set = dry_run(w,
                             "python3 -c \"import socket\n"
                             "def send(port, data):\n"
                             "  s = socket.create_connection(('203.0.113.7', port), timeout=10)\n"
                             "  try:\n"
                             "    for _ in range(2000): s.sendall(data)\n"
                             "  except OSError: pass\n"
                             "send(80, b'GET / HTTP/1.1\\r\\nX: ' + b'a' * 65536)\n"
                             "send(443, b'\\x16\\x03\\x01\\x40\\x00\\x01')\n"
                             "send(6379, b'*999999999\\r\\n$5\\r\\nhello\\r\\n')\"");
    const auto tcp = entries(set, "connect", "tcp");
    REQUIRE_FALSE(find_port(tcp, 80).is_null());
    CHECK(find_port(tcp, 80)["protocol"] == "http");
    CHECK(find_port(tcp, 80)["bytes"].get<uint64_t>() <= 64 * 1024 + 16384);
    REQUIRE_FALSE(find_port(tcp, 443).is_null());
    REQUIRE_FALSE(find_port(tcp, 6379).is_null());
}
