// Protocol sniffers: what a client asked for, from the first bytes it sent. Pure
// functions on captured bytes, each bounded and total (fuzzed in tests/fuzz):
// malformed or truncated input gives "not (yet) recognised", never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace whatif::net {

struct TlsClientHello {
    std::string sni;
    std::vector<std::string> alpn;
};
// nullopt while incomplete or when the bytes are not a ClientHello.
std::optional<TlsClientHello> parse_tls_client_hello(std::string_view bytes);
bool looks_like_tls(std::string_view bytes);

struct HttpRequest {
    std::string method, target, version, host;
    std::vector<std::string> header_names;
    std::optional<uint64_t> content_length;
    size_t header_bytes = 0;
};
bool looks_like_http(std::string_view bytes);
// nullopt until the header block is complete (CRLF CRLF).
std::optional<HttpRequest> parse_http_request(std::string_view bytes);

// PostgreSQL frontend messages before authentication.
inline constexpr uint32_t kPgSslRequest = 80877103, kPgGssEncRequest = 80877104,
                          kPgProtocol3 = 196608;
struct PgStartup {
    uint32_t code = 0;  // kPgProtocol3, or one of the requests above
    std::string user, database, application;
    size_t length = 0;
};
std::optional<PgStartup> parse_pg_startup(std::string_view bytes);
struct PgMessage {
    char type = 0;
    std::string body;
    size_t length = 0;  // bytes consumed
};
std::optional<PgMessage> parse_pg_message(std::string_view bytes);

// Redis: RESP arrays of bulk strings, or inline commands. Each command's words;
// `consumed` bytes were whole commands.
std::vector<std::vector<std::string>> parse_redis_commands(std::string_view bytes,
                                                           size_t& consumed);
bool looks_like_redis(std::string_view bytes);

// MySQL HandshakeResponse41 (after our greeting): user and database.
struct MysqlLogin {
    std::string user, database;
};
std::optional<MysqlLogin> parse_mysql_handshake_response(std::string_view bytes);
std::string mysql_server_greeting();

// "SSH-2.0-OpenSSH_9.2p1 Debian-2" from "SSH-2.0-...\r\n".
std::optional<std::string> parse_ssh_banner(std::string_view bytes);

// Printable text, or hex, of the first bytes: for protocols not recognised.
std::string preview(std::string_view bytes, size_t max = 64);

}  // namespace whatif::net
