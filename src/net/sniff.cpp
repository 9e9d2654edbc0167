#include "whatif/net/sniff.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace whatif::net {

namespace {

uint32_t be(std::string_view p, size_t at, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(p[at + i]);
    return v;
}

uint32_t le(std::string_view p, size_t at, size_t n) {
    uint32_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(p[at + i]);
    return v;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// A bounds-checked cursor over bytes.
struct Reader {
    std::string_view p;
    size_t at = 0;
    bool ok = true;
    bool has(size_t n) const { return ok && at + n <= p.size(); }
    uint32_t u(size_t n) {
        if (!has(n)) {
            ok = false;
            return 0;
        }
        const uint32_t v = be(p, at, n);
        at += n;
        return v;
    }
    std::string_view take(size_t n) {
        if (!has(n)) {
            ok = false;
            return {};
        }
        const auto s = p.substr(at, n);
        at += n;
        return s;
    }
};

}  // namespace

bool looks_like_tls(std::string_view b) {
    return b.size() >= 3 && static_cast<uint8_t>(b[0]) == 0x16 &&
           static_cast<uint8_t>(b[1]) == 0x03;
}

std::optional<TlsClientHello> parse_tls_client_hello(std::string_view bytes) {
    Reader r{bytes};
    if (r.u(1) != 0x16) return std::nullopt;  // handshake record
    r.u(2);                                   // record version
    const uint32_t record_len = r.u(2);
    if (!r.ok || !r.has(record_len)) return std::nullopt;  // wait for the whole first record
    Reader h{r.take(record_len)};
    if (h.u(1) != 0x01) return std::nullopt;  // ClientHello
    const uint32_t hello_len = h.u(3);
    if (!h.ok || !h.has(hello_len)) return std::nullopt;  // split over records: ignore the rest
    Reader c{h.take(hello_len)};
    c.take(2 + 32);  // version, random
    c.take(c.u(1));  // session id
    c.take(c.u(2));  // cipher suites
    c.take(c.u(1));  // compression methods
    TlsClientHello hello;
    if (!c.ok) return std::nullopt;
    if (!c.has(2)) return hello;  // no extensions
    Reader ext{c.take(c.u(2))};
    while (ext.ok && ext.has(4)) {
        const uint32_t type = ext.u(2);
        Reader data{ext.take(ext.u(2))};
        if (!ext.ok) break;
        if (type == 0) {  // server_name
            Reader list{data.take(data.u(2))};
            while (list.ok && list.has(3)) {
                const uint32_t name_type = list.u(1);
                const auto name = list.take(list.u(2));
                if (list.ok && name_type == 0) hello.sni = std::string(name);
            }
        } else if (type == 16) {  // application_layer_protocol_negotiation
            Reader list{data.take(data.u(2))};
            while (list.ok && list.has(1)) {
                const auto proto = list.take(list.u(1));
                if (list.ok) hello.alpn.emplace_back(proto);
            }
        }
    }
    return hello;
}

bool looks_like_http(std::string_view b) {
    static constexpr std::string_view methods[] = {
        "GET ", "POST ", "PUT ", "DELETE ", "HEAD ", "OPTIONS ", "PATCH ", "TRACE ", "CONNECT "};
    if (b.empty()) return false;
    for (auto m : methods)
        if (b.size() >= m.size() ? b.starts_with(m) : m.starts_with(b)) return true;
    return false;
}

std::optional<HttpRequest> parse_http_request(std::string_view b) {
    const size_t end = b.find("\r\n\r\n");
    if (end == std::string_view::npos) return std::nullopt;
    HttpRequest req;
    req.header_bytes = end + 4;
    const std::string_view head = b.substr(0, end);
    size_t line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return std::nullopt;
    req.method = std::string(request_line.substr(0, sp1));
    req.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    req.version = std::string(request_line.substr(sp2 + 1));
    while (line_end != std::string_view::npos) {
        const size_t start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string_view line = head.substr(
            start, line_end == std::string_view::npos ? head.size() - start : line_end - start);
        const size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name = lower(line.substr(0, colon));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
            value.remove_prefix(1);
        if (name == "host") req.host = std::string(value);
        if (name == "content-length") {
            uint64_t n = 0;
            bool digits = !value.empty();
            for (char c : value) {
                if (c < '0' || c > '9' || n > (UINT64_MAX - 9) / 10) {
                    digits = false;
                    break;
                }
                n = n * 10 + static_cast<uint64_t>(c - '0');
            }
            if (digits) req.content_length = n;
        }
        if (req.header_names.size() < 64) req.header_names.push_back(std::move(name));
    }
    return req;
}

std::optional<PgStartup> parse_pg_startup(std::string_view b) {
    if (b.size() < 8) return std::nullopt;
    const uint32_t len = be(b, 0, 4);
    if (len < 8 || len > 10000 || b.size() < len) return std::nullopt;
    PgStartup s;
    s.length = len;
    s.code = be(b, 4, 4);
    if (s.code != kPgProtocol3) return s;
    size_t at = 8;
    while (at < len) {
        const size_t key_end = b.find('\0', at);
        if (key_end == std::string_view::npos || key_end >= len) break;
        const std::string key(b.substr(at, key_end - at));
        if (key.empty()) break;
        const size_t value_end = b.find('\0', key_end + 1);
        if (value_end == std::string_view::npos || value_end >= len) break;
        const std::string value(b.substr(key_end + 1, value_end - key_end - 1));
        if (key == "user") s.user = value;
        if (key == "database") s.database = value;
        if (key == "application_name") s.application = value;
        at = value_end + 1;
    }
    if (s.database.empty()) s.database = s.user;  // PostgreSQL's default
    return s;
}

std::optional<PgMessage> parse_pg_message(std::string_view b) {
    if (b.size() < 5) return std::nullopt;
    const uint32_t len = be(b, 1, 4);
    if (len < 4 || len > (1u << 24)) return PgMessage{b[0], {}, b.size()};  // nonsense: swallow it
    if (b.size() < 1 + static_cast<size_t>(len)) return std::nullopt;
    PgMessage m;
    m.type = b[0];
    m.body = std::string(b.substr(5, len - 4));
    while (!m.body.empty() && m.body.back() == '\0') m.body.pop_back();
    m.length = 1 + len;
    return m;
}

bool looks_like_redis(std::string_view b) {
    if (b.empty()) return false;
    if (b[0] == '*') return true;
    // Inline commands (redis-cli over a raw socket, telnet).
    const std::string first = lower(b.substr(0, b.find_first_of(" \r\n")));
    static constexpr std::string_view known[] = {"ping",  "flushall", "flushdb", "get",
                                                 "set",   "del",      "keys",    "auth",
                                                 "hello", "info",     "config",  "quit"};
    return std::find(std::begin(known), std::end(known), first) != std::end(known);
}

std::vector<std::vector<std::string>> parse_redis_commands(std::string_view b, size_t& consumed) {
    std::vector<std::vector<std::string>> commands;
    consumed = 0;
    size_t at = 0;
    auto read_line = [&](size_t& pos, std::string_view& line) {
        const size_t end = b.find("\r\n", pos);
        if (end == std::string_view::npos) return false;
        line = b.substr(pos, end - pos);
        pos = end + 2;
        return true;
    };
    auto number = [](std::string_view s, long long& out) {
        if (s.empty() || s.size() > 18) return false;
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    };
    while (at < b.size() && commands.size() < 64) {
        size_t pos = at;
        std::string_view line;
        if (b[pos] != '*') {
            if (!read_line(pos, line)) break;
            std::vector<std::string> words;
            size_t w = 0;
            while (w < line.size()) {
                const size_t sp = line.find(' ', w);
                const auto word =
                    line.substr(w, sp == std::string_view::npos ? line.size() - w : sp - w);
                if (!word.empty()) words.emplace_back(word);
                if (sp == std::string_view::npos) break;
                w = sp + 1;
            }
            if (!words.empty()) commands.push_back(std::move(words));
            at = consumed = pos;
            continue;
        }
        ++pos;
        if (!read_line(pos, line)) break;
        long long count = 0;
        if (!number(line, count) || count > 1024) {
            consumed = b.size();  // not RESP we will follow: drop it
            break;
        }
        std::vector<std::string> words;
        bool complete = true;
        for (long long i = 0; i < count; ++i) {
            if (pos >= b.size()) {  // the rest has not arrived yet
                complete = false;
                break;
            }
            if (b[pos] != '$') {  // not a bulk string: not RESP we will follow
                consumed = b.size();
                return commands;
            }
            ++pos;
            long long len = 0;
            if (!read_line(pos, line)) {
                complete = false;
                break;
            }
            if (!number(line, len) || len > (1 << 20)) {
                consumed = b.size();
                return commands;
            }
            if (pos + static_cast<size_t>(len) + 2 > b.size()) {
                complete = false;
                break;
            }
            words.emplace_back(b.substr(pos, static_cast<size_t>(len)));
            pos += static_cast<size_t>(len) + 2;
        }
        if (!complete) break;
        commands.push_back(std::move(words));
        at = consumed = pos;
    }
    return commands;
}

std::string mysql_server_greeting() {
    // Protocol::HandshakeV10, sequence 0.
    std::string body;
    body += '\x0a';
    body += "8.0.0-whatif-stub";
    body += '\0';
    body.append("\x01\x00\x00\x00", 4);  // connection id
    body.append("abcdefgh", 8);          // auth data part 1
    body += '\0';
    body.append("\xff\xf7", 2);  // capabilities (lower): everything but CLIENT_SSL
    body += '\x21';              // charset utf8
    body.append("\x02\x00", 2);  // status
    body.append("\xff\x81", 2);  // capabilities (upper): CLIENT_PLUGIN_AUTH etc.
    body += '\x15';              // auth data length
    body.append(10, '\0');
    body.append("ijklmnopqrst", 12);
    body += '\0';
    body += "mysql_native_password";
    body += '\0';
    std::string packet;
    packet += static_cast<char>(body.size() & 0xff);
    packet += static_cast<char>((body.size() >> 8) & 0xff);
    packet += static_cast<char>((body.size() >> 16) & 0xff);
    packet += '\0';
    return packet + body;
}

std::optional<MysqlLogin> parse_mysql_handshake_response(std::string_view b) {
    if (b.size() < 4) return std::nullopt;
    const uint32_t len = le(b, 0, 3);
    if (b.size() < 4 + static_cast<size_t>(len) || len < 32) return std::nullopt;
    const std::string_view p = b.substr(4, len);
    const uint32_t caps = le(p, 0, 4);
    if ((caps & 0x200) == 0) return std::nullopt;  // not CLIENT_PROTOCOL_41
    size_t at = 32;
    const size_t user_end = p.find('\0', at);
    if (user_end == std::string_view::npos) return std::nullopt;
    MysqlLogin login;
    login.user = std::string(p.substr(at, user_end - at));
    at = user_end + 1;
    if (at >= p.size()) return login;
    // Auth response: length-encoded (PLUGIN_AUTH_LENENC_CLIENT_DATA), 1-byte length
    // (SECURE_CONNECTION), or NUL-terminated.
    if ((caps & 0x200000) != 0 || (caps & 0x8000) != 0) {
        const size_t n = static_cast<uint8_t>(p[at]);
        if (n >= 0xfb) return login;
        at += 1 + n;
    } else {
        const size_t end = p.find('\0', at);
        if (end == std::string_view::npos) return login;
        at = end + 1;
    }
    if ((caps & 0x8) != 0 && at < p.size()) {  // CLIENT_CONNECT_WITH_DB
        const size_t end = p.find('\0', at);
        login.database =
            std::string(p.substr(at, end == std::string_view::npos ? p.size() - at : end - at));
    }
    return login;
}

std::optional<std::string> parse_ssh_banner(std::string_view b) {
    if (!b.starts_with("SSH-")) return std::nullopt;
    const size_t end = b.find_first_of("\r\n");
    if (end == std::string_view::npos)
        return b.size() > 255 ? std::optional(std::string(b.substr(0, 255))) : std::nullopt;
    return std::string(b.substr(0, std::min<size_t>(end, 255)));
}

std::string preview(std::string_view b, size_t max) {
    const std::string_view head = b.substr(0, max);
    const bool printable = std::all_of(head.begin(), head.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u >= 0x20 && u < 0x7f) || c == '\r' || c == '\n' || c == '\t';
    });
    std::string out;
    if (printable) {
        for (char c : head) {
            if (c == '\r')
                out += "\\r";
            else if (c == '\n')
                out += "\\n";
            else if (c == '\t')
                out += "\\t";
            else
                out += c;
        }
    } else {
        static constexpr char digits[] = "0123456789abcdef";
        for (char c : head) {
            const auto u = static_cast<unsigned char>(c);
            out += digits[u >> 4];
            out += digits[u & 15];
        }
    }
    if (b.size() > max) out += "...";
    return out;
}

}  // namespace whatif::net
