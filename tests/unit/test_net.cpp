#include <doctest/doctest.h>

#include "whatif/net/dns.hpp"
#include "whatif/net/sniff.hpp"

using namespace whatif::net;

namespace {

std::string dns_query(const std::string& name, uint16_t type) {
    std::string q = {'\x12', '\x34', '\x01', '\x00', '\x00', '\x01', 0, 0, 0, 0, 0, 0};
    size_t start = 0;
    while (start <= name.size()) {
        size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q += static_cast<char>(dot - start);
        q += name.substr(start, dot - start);
        start = dot + 1;
    }
    q += '\0';
    q += static_cast<char>(type >> 8);
    q += static_cast<char>(type & 0xff);
    q += '\0';
    q += '\1';
    return q;
}

std::string u16(size_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

// A TLS 1.2 record holding a ClientHello with SNI and ALPN, as curl sends it.
std::string client_hello(const std::string& sni, const std::vector<std::string>& alpn) {
    std::string sni_ext = u16(sni.size() + 3) + '\0' + u16(sni.size()) + sni;
    std::string alpn_list;
    for (const auto& a : alpn) alpn_list += static_cast<char>(a.size()) + a;
    std::string alpn_ext = u16(alpn_list.size()) + alpn_list;
    std::string ext =
        u16(0) + u16(sni_ext.size()) + sni_ext + u16(16) + u16(alpn_ext.size()) + alpn_ext;
    std::string body = "\x03\x03" + std::string(32, 'r') + '\0' + u16(2) + "\x13\x01" + '\1' +
                       '\0' + u16(ext.size()) + ext;
    std::string hs = "\x01" + std::string(1, '\0') + u16(body.size()) + body;
    return "\x16\x03\x01" + u16(hs.size()) + hs;
}

}  // namespace

TEST_CASE("DNS: queries parsed, answers built, malformed packets refused") {
    SyntheticAddresses addresses;
    const std::string q = dns_query("API.GitHub.com", kTypeA);
    auto parsed = parse_dns_query(q);
    REQUIRE(parsed.has_value());
    CHECK(parsed->name == "api.github.com");
    CHECK(parsed->qtype == kTypeA);
    const std::string answer = build_dns_answer(q, *parsed, addresses);
    CHECK(answer.substr(0, 2) == q.substr(0, 2));          // same id
    CHECK((static_cast<uint8_t>(answer[2]) & 0x80) != 0);  // a response
    const auto a = addresses.v4_for("api.github.com");
    CHECK(answer.substr(answer.size() - 4) ==
          std::string(reinterpret_cast<const char*>(a.data()), 4));
    CHECK(addresses.name_of("198.18.0.1") == std::optional<std::string>("api.github.com"));
    CHECK(addresses.v4_for("other.example") != a);
    CHECK(addresses.name_of("fd00:7768:6174::2") == std::optional<std::string>("other.example"));

    CHECK_FALSE(parse_dns_query("").has_value());
    CHECK_FALSE(parse_dns_query(q.substr(0, 15)).has_value());  // truncated name
    std::string pointer = q.substr(0, 12) + "\xc0\x0c" + u16(1) + u16(1);
    CHECK_FALSE(parse_dns_query(pointer).has_value());  // no compression in a question
    std::string response = q;
    response[2] = '\x81';
    CHECK_FALSE(parse_dns_query(response).has_value());
}

TEST_CASE("TLS ClientHello: SNI and ALPN; truncated or foreign bytes are not a hello") {
    const std::string hello = client_hello("api.github.com", {"h2", "http/1.1"});
    CHECK(looks_like_tls(hello));
    auto parsed = parse_tls_client_hello(hello);
    REQUIRE(parsed.has_value());
    CHECK(parsed->sni == "api.github.com");
    CHECK(parsed->alpn == std::vector<std::string>{"h2", "http/1.1"});
    for (size_t cut : {1, 5, 10, 40, 80})
        CHECK_FALSE(parse_tls_client_hello(hello.substr(0, cut)).has_value());
    std::string lying = hello;
    lying[3] = '\x7f';  // a record length far beyond the bytes
    CHECK_FALSE(parse_tls_client_hello(lying).has_value());
    CHECK_FALSE(looks_like_tls("GET / HTTP/1.1\r\n"));
}

TEST_CASE("HTTP requests: method, target, host, header names, body size") {
    const std::string req =
        "DELETE /repos/o/r HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: token "
        "x\r\nContent-Length: 12\r\n\r\n";
    CHECK(looks_like_http(req));
    CHECK(looks_like_http("DEL"));
    auto parsed = parse_http_request(req);
    REQUIRE(parsed.has_value());
    CHECK(parsed->method == "DELETE");
    CHECK(parsed->target == "/repos/o/r");
    CHECK(parsed->host == "api.github.com");
    CHECK(parsed->header_names ==
          std::vector<std::string>{"host", "authorization", "content-length"});
    CHECK(parsed->content_length == 12u);
    CHECK_FALSE(
        parse_http_request("GET / HTTP/1.1\r\nHost: x\r\n").has_value());  // headers not finished
    auto huge =
        parse_http_request("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    REQUIRE(huge.has_value());
    CHECK_FALSE(huge->content_length.has_value());
}

TEST_CASE("PostgreSQL: SSLRequest, startup message, query") {
    const std::string ssl = std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8);
    auto s = parse_pg_startup(ssl);
    REQUIRE(s.has_value());
    CHECK(s->code == kPgSslRequest);
    std::string params = std::string("user\0admin\0database\0prod\0\0", 26);
    std::string startup = std::string("\0\0\0", 3) + static_cast<char>(8 + params.size()) +
                          std::string("\0\x03\0\0", 4) + params;
    s = parse_pg_startup(startup);
    REQUIRE(s.has_value());
    CHECK(s->code == kPgProtocol3);
    CHECK(s->user == "admin");
    CHECK(s->database == "prod");
    const std::string query =
        std::string("Q\0\0\0\x17", 5) + std::string("DROP DATABASE prod\0", 19);
    auto m = parse_pg_message(query);
    REQUIRE(m.has_value());
    CHECK(m->type == 'Q');
    CHECK(m->body == "DROP DATABASE prod");
    CHECK_FALSE(parse_pg_message(query.substr(0, 10)).has_value());
}

TEST_CASE("Redis: RESP arrays and inline commands; a never-ending array stays bounded") {
    size_t consumed = 0;
    auto cmds =
        parse_redis_commands("*1\r\n$8\r\nFLUSHALL\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", consumed);
    REQUIRE(cmds.size() == 2);
    CHECK(cmds[0] == std::vector<std::string>{"FLUSHALL"});
    CHECK(cmds[1] == std::vector<std::string>{"GET", "k"});
    cmds = parse_redis_commands("*2\r\n$3\r\nDEL\r\n", consumed);  // incomplete: wait
    CHECK(cmds.empty());
    CHECK(consumed == 0);
    cmds = parse_redis_commands("*999999999\r\n", consumed);
    CHECK(cmds.empty());
    cmds = parse_redis_commands("FLUSHALL\r\n", consumed);
    REQUIRE(cmds.size() == 1);
    CHECK(looks_like_redis("*1\r\n"));
    CHECK(looks_like_redis("flushall\r\n"));
    CHECK_FALSE(looks_like_redis("good morning"));
}

TEST_CASE("MySQL handshake response and SSH banners") {
    std::string body = std::string("\x8d\xa6\x0f\x00", 4) + std::string(4, '\0') + '\x21' +
                       std::string(23, '\0') + "root" + '\0' + '\x02' + "pw" + "shop" +
                       '\0';  // CLIENT_CONNECT_WITH_DB | PROTOCOL_41 | SECURE
    std::string packet =
        std::string(1, static_cast<char>(body.size())) + std::string("\0\0\x01", 3) + body;
    auto login = parse_mysql_handshake_response(packet);
    REQUIRE(login.has_value());
    CHECK(login->user == "root");
    CHECK(login->database == "shop");
    CHECK_FALSE(parse_mysql_handshake_response(packet.substr(0, 20)).has_value());
    CHECK(mysql_server_greeting().size() > 40);
    CHECK(parse_ssh_banner("SSH-2.0-OpenSSH_9.2p1\r\n") ==
          std::optional<std::string>("SSH-2.0-OpenSSH_9.2p1"));
    CHECK_FALSE(parse_ssh_banner("SSH-2.0-partial").has_value());
    CHECK(preview("hello\n") == "hello\\n");
    CHECK(preview(std::string("\x01\x02", 2)) == "0102");
}
