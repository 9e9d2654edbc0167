#include "whatif/net/stub_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>

namespace whatif::net {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxCapture = 64 * 1024;                        // bytes read from one connection
constexpr auto kIdleDeadline = std::chrono::milliseconds(1500);  // no (more) bytes: give up
constexpr auto kConnectionDeadline = std::chrono::seconds(5);    // whole conversation
constexpr size_t kMaxConnections = 256;

const std::string kStubMessage =
    "whatif: the network is stubbed in this dry run; nothing left the machine";

std::string address_text(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        const auto& a6 = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a6))
            inet_ntop(AF_INET, &a6.s6_addr[12], buf, sizeof buf);
        else
            inet_ntop(AF_INET6, &a6, buf, sizeof buf);
    }
    return buf;
}

void send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0) return;
        data.remove_prefix(static_cast<size_t>(n));
    }
}

std::string be32(uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
            static_cast<char>(v)};
}

std::string pg_message(char type, const std::string& body) {
    return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string pg_hello() {
    std::string out = pg_message('R', be32(0));  // AuthenticationOk
    for (auto [k, v] : {std::pair{"server_version", "15.0 (whatif stub)"},
                        {"server_encoding", "UTF8"},
                        {"client_encoding", "UTF8"},
                        {"DateStyle", "ISO, MDY"},
                        {"integer_datetimes", "on"},
                        {"standard_conforming_strings", "on"}})
        out += pg_message('S', std::string(k) + '\0' + v + '\0');
    out += pg_message('K', be32(4242) + be32(4242));
    out += pg_message('Z', "I");
    return out;
}

std::string pg_error() {
    return pg_message('E',
                      std::string("SERROR\0VERROR\0C08006\0M", 22) + kStubMessage + '\0' + '\0') +
           pg_message('Z', "I");
}

std::string mysql_error() {
    std::string body = "\xff\x15\x04#28000" + kStubMessage;  // ER_ACCESS_DENIED_ERROR 1045
    std::string packet;
    packet += static_cast<char>(body.size() & 0xff);
    packet += static_cast<char>((body.size() >> 8) & 0xff);
    packet += '\0';
    packet += '\x02';
    return packet + body;
}

std::string http_503() {
    const std::string body = kStubMessage + "\n";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\nX-Whatif: stubbed\r\n\r\n" +
           body;
}

std::string http_401() {
    const std::string body = kStubMessage + "\n";
    return "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"whatif "
           "stub\"\r\nContent-Type: text/plain\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string protocol_for_port(uint16_t port) {
    switch (port) {
        case 80:
        case 8080:
            return "http";
        case 443:
        case 8443:
            return "https";
        case 5432:
            return "postgresql";
        case 6379:
            return "redis";
        case 3306:
            return "mysql";
        case 22:
            return "ssh";
        default:
            return "unknown";
    }
}

struct Connection {
    UniqueFd fd;
    uint16_t port = 0;
    std::string local_address;
    std::string buffer;
    enum class State {
        initial,
        pg_startup,
        pg_password,
        pg_session,
        redis,
        mysql_auth,
        done
    } state = State::initial;
    Clock::time_point last_activity, started;
    size_t event = 0;  // index in sink_events
    uint64_t total = 0;
};

}  // namespace

StubServer::StubServer(UniqueFd channel, bool request_pg_password)
    : channel_(std::move(channel)),
      stop_event_(eventfd(0, EFD_CLOEXEC)),
      request_pg_password_(request_pg_password) {}

StubServer::~StubServer() {
    stop();
}

void StubServer::start() {
    thread_ = std::thread([this] { loop(); });
}

void StubServer::request_stop() {
    if (!thread_.joinable() || stop_requested_) return;
    stop_requested_ = true;
    const uint64_t one = 1;
    if (write(stop_event_.get(), &one, sizeof one) != sizeof one)
        spdlog::debug("stub: stop signal failed");
}

void StubServer::stop() {
    request_stop();
    if (thread_.joinable()) thread_.join();
}

void StubServer::loop() {
    std::vector<UniqueFd> dns_sockets, tcp_listeners, udp_receivers;
    std::vector<uint16_t> tcp_ports, udp_ports;
    std::vector<std::unique_ptr<Connection>> connections;
    std::function<void(UniqueFd, const std::string&)> adopt_unix;

    auto receive_channel = [&]() -> bool {
        char kind = 0;
        uint16_t port = 0;
        char data[3 + kChannelMaxPath];
        iovec iov{data, sizeof data};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(channel_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n <= 0) return n < 0 && errno == EAGAIN;
        kind = data[0];
        std::memcpy(&port, data + 1, sizeof port);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (c == nullptr || c->cmsg_type != SCM_RIGHTS) return true;
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (kind == kChannelDns)
            dns_sockets.emplace_back(fd);
        else if (kind == kChannelTcpListener)
            tcp_listeners.emplace_back(fd), tcp_ports.push_back(port);
        else if (kind == kChannelUdpReceiver)
            udp_receivers.emplace_back(fd), udp_ports.push_back(port);
        else if (kind == kChannelUnixConnection)
            adopt_unix(UniqueFd(fd), std::string(data + 3, static_cast<size_t>(n) - 3));
        else
            close(fd);
        return true;
    };

    auto record = [&](Connection& c) -> SinkEvent& { return sink_events[c.event]; };

    // The well-known local services' sockets, by name: MySQL speaks first, the
    // others are recognised by what the client sends (PostgreSQL, RESP, HTTP for
    // Docker's and containerd's APIs).
    adopt_unix = [&](UniqueFd fd, const std::string& path) {
        if (connections.size() >= kMaxConnections) return;  // closing it ends the client's call
        auto c = std::make_unique<Connection>();
        c->fd = std::move(fd);
        c->local_address = path;
        c->started = c->last_activity = Clock::now();
        SinkEvent e;
        e.proto = "unix";
        e.address = path;
        e.protocol = path.find(".s.PGSQL.") != std::string::npos ? "postgresql"
                     : path.find("redis") != std::string::npos   ? "redis"
                     : path.find("docker") != std::string::npos ||
                             path.find("containerd") != std::string::npos
                         ? "http"
                         : "unknown";
        c->event = sink_events.size();
        sink_events.push_back(std::move(e));
        if (path.find("mysql") != std::string::npos) {
            send_all(c->fd.get(), mysql_server_greeting());
            c->state = Connection::State::mysql_auth;
        }
        connections.push_back(std::move(c));
    };

    auto finish = [&](Connection& c) {
        c.state = Connection::State::done;
        shutdown(c.fd.get(), SHUT_RDWR);
    };

    auto handle_dns = [&](int fd) {
        char packet[1500];
        sockaddr_storage from{};
        iovec iov{packet, sizeof packet};
        alignas(cmsghdr) char control[256] = {};
        msghdr msg{};
        msg.msg_name = &from;
        msg.msg_namelen = sizeof from;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
        if (n <= 0) return;
        const std::string_view query(packet, static_cast<size_t>(n));
        auto q = parse_dns_query(query);
        if (!q) return;
        dns_events.push_back({q->name, q->qtype});
        const std::string answer = build_dns_answer(query, *q, addresses);
        // Reply from the address the query went to: resolvers drop answers from
        // anyone but the server they asked (the nameserver in resolv.conf).
        alignas(cmsghdr) char reply_control[256] = {};
        msghdr reply{};
        iovec out{const_cast<char*>(answer.data()), answer.size()};
        reply.msg_name = &from;
        reply.msg_namelen = msg.msg_namelen;
        reply.msg_iov = &out;
        reply.msg_iovlen = 1;
        size_t control_len = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                in_pktinfo info{};
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                info.ipi_spec_dst = info.ipi_addr;
                info.ipi_ifindex = 0;
                cmsghdr* r = reinterpret_cast<cmsghdr*>(reply_control);
                r->cmsg_level = IPPROTO_IP;
                r->cmsg_type = IP_PKTINFO;
                r->cmsg_len = CMSG_LEN(sizeof info);
                std::memcpy(CMSG_DATA(r), &info, sizeof info);
                control_len = CMSG_SPACE(sizeof info);
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                in6_pktinfo info{};
                std::memcpy(&info, CMSG_DATA(c), sizeof info);
                info.ipi6_ifindex = 0;
                cmsghdr* r = reinterpret_cast<cmsghdr*>(reply_control);
                r->cmsg_level = IPPROTO_IPV6;
                r->cmsg_type = IPV6_PKTINFO;
                r->cmsg_len = CMSG_LEN(sizeof info);
                std::memcpy(CMSG_DATA(r), &info, sizeof info);
                control_len = CMSG_SPACE(sizeof info);
            }
        }
        if (control_len > 0) {
            reply.msg_control = reply_control;
            reply.msg_controllen = control_len;
        }
        sendmsg(fd, &reply, MSG_DONTWAIT);
    };

    auto accept_on = [&](int listener, uint16_t port) {
        for (;;) {
            UniqueFd fd(accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!fd) return;
            if (connections.size() >= kMaxConnections) continue;  // dropped: closing refuses it
            auto c = std::make_unique<Connection>();
            sockaddr_storage local{};
            socklen_t len = sizeof local;
            getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len);
            c->local_address = address_text(local);
            c->port = port;
            c->fd = std::move(fd);
            c->started = c->last_activity = Clock::now();
            SinkEvent e;
            e.address = c->local_address;
            e.port = port;
            e.protocol = protocol_for_port(port);
            c->event = sink_events.size();
            sink_events.push_back(std::move(e));
            if (port == 3306) {  // MySQL speaks first
                send_all(c->fd.get(), mysql_server_greeting());
                c->state = Connection::State::mysql_auth;
            }
            connections.push_back(std::move(c));
        }
    };

    // After the startup message: ask for the password when the run holds a
    // database password canary (a leak to detect), else let the client in.
    auto start_pg_session = [&](Connection& c) {
        if (request_pg_password_) {
            send_all(c.fd.get(), pg_message('R', be32(3)));  // AuthenticationCleartextPassword
            c.state = Connection::State::pg_password;
        } else {
            send_all(c.fd.get(), pg_hello());
            c.state = Connection::State::pg_session;
        }
    };

    // What the bytes so far say; answers and finishes the conversation when it can.
    auto sniff = [&](Connection& c) {
        SinkEvent& e = record(c);
        const std::string_view b = c.buffer;
        switch (c.state) {
            case Connection::State::initial:
                if (looks_like_tls(b)) {
                    if (auto hello = parse_tls_client_hello(b)) {
                        e.protocol = c.port == 443 || c.port == 8443 || hello->alpn.empty()
                                         ? "https"
                                         : "tls";
                        if (!hello->alpn.empty() && hello->alpn.front() != "h2" &&
                            hello->alpn.front() != "http/1.1")
                            e.protocol = "tls";
                        e.tls = std::move(hello);
                        send_all(c.fd.get(), std::string("\x15\x03\x03\x00\x02\x02\x28",
                                                         7));  // handshake_failure
                        finish(c);
                    } else if (b.size() >= 16384) {
                        e.protocol = "tls";
                        finish(c);
                    }
                } else if (looks_like_http(b)) {
                    if (auto req = parse_http_request(b)) {
                        e.protocol = "http";
                        // git asks for credentials only when challenged: challenge its
                        // discovery request, so that a credential it would send shows up.
                        const bool git_discovery =
                            req->target.find("/info/refs?service=git-") != std::string::npos;
                        const bool has_auth =
                            std::find(req->header_names.begin(), req->header_names.end(),
                                      "authorization") != req->header_names.end();
                        e.http = std::move(req);
                        send_all(c.fd.get(), git_discovery && !has_auth ? http_401() : http_503());
                        finish(c);
                    } else if (b.size() >= kMaxCapture) {
                        e.protocol = "http";
                        e.detail =
                            "request headers larger than " + std::to_string(kMaxCapture) + " bytes";
                        send_all(c.fd.get(), http_503());
                        finish(c);
                    }
                } else if (b.starts_with("SSH-") ||
                           (b.size() < 4 && std::string_view("SSH-").starts_with(b))) {
                    if (auto banner = parse_ssh_banner(b)) {
                        e.protocol = "ssh";
                        e.detail = "client " + *banner;
                        send_all(c.fd.get(), "SSH-2.0-whatif-stub\r\n");
                        finish(c);
                    }
                } else if (auto pg = parse_pg_startup(b);
                           pg && (pg->code == kPgSslRequest || pg->code == kPgGssEncRequest ||
                                  pg->code == kPgProtocol3)) {
                    e.protocol = "postgresql";
                    c.buffer.erase(0, pg->length);
                    if (pg->code != kPgProtocol3) {
                        send_all(c.fd.get(), "N");  // no TLS, no GSSAPI: speak plainly
                        c.state = Connection::State::pg_startup;
                    } else {
                        e.detail = "user=" + pg->user + " database=" + pg->database;
                        start_pg_session(c);
                    }
                } else if (looks_like_redis(b)) {
                    e.protocol = "redis";
                    c.state = Connection::State::redis;
                }
                break;
            case Connection::State::pg_startup:
                if (auto pg = parse_pg_startup(b)) {
                    c.buffer.erase(0, pg->length);
                    if (pg->code == kPgSslRequest || pg->code == kPgGssEncRequest) {
                        send_all(c.fd.get(), "N");
                    } else {
                        e.detail = "user=" + pg->user + " database=" + pg->database;
                        start_pg_session(c);
                    }
                }
                break;
            case Connection::State::pg_password:
                if (auto m = parse_pg_message(c.buffer)) {
                    c.buffer.erase(0, m->length);
                    if (m->type == 'p') e.detail += " (password sent)";
                    send_all(c.fd.get(), pg_hello());
                    c.state = Connection::State::pg_session;
                }
                break;
            case Connection::State::pg_session:
                while (auto m = parse_pg_message(c.buffer)) {
                    c.buffer.erase(0, m->length);
                    if (m->type == 'Q') {
                        e.detail += (e.detail.empty() ? "" : ": ") + m->body.substr(0, 1024);
                        send_all(c.fd.get(), pg_error());
                        finish(c);
                        return;
                    }
                    if (m->type == 'X') {
                        finish(c);
                        return;
                    }
                    if (m->type == 'P') {  // extended protocol: the statement is in Parse
                        const size_t name_end = m->body.find('\0');
                        if (name_end != std::string::npos)
                            e.detail +=
                                (e.detail.empty() ? "" : ": ") + m->body.substr(name_end + 1, 1024);
                        send_all(c.fd.get(), pg_error());
                        finish(c);
                        return;
                    }
                }
                break;
            case Connection::State::redis:
                break;
            case Connection::State::mysql_auth:
                if (auto login = parse_mysql_handshake_response(b)) {
                    e.protocol = "mysql";
                    e.detail = "user=" + login->user +
                               (login->database.empty() ? "" : " database=" + login->database);
                    send_all(c.fd.get(), mysql_error());
                    finish(c);
                }
                break;
            case Connection::State::done:
                break;
        }
        if (c.state == Connection::State::redis) {
            size_t consumed = 0;
            const auto commands = parse_redis_commands(c.buffer, consumed);
            c.buffer.erase(0, consumed);
            for (const auto& words : commands) {
                std::string line;
                for (const auto& w : words) line += (line.empty() ? "" : " ") + w.substr(0, 256);
                if (e.detail.size() < 2048) e.detail += (e.detail.empty() ? "" : "; ") + line;
                send_all(c.fd.get(), "-ERR " + kStubMessage + "\r\n");
            }
        }
    };

    auto expire = [&](Connection& c) {
        SinkEvent& e = record(c);
        if (e.detail.empty() && !e.tls && !e.http)
            e.detail =
                c.total == 0 ? "the client sent nothing" : "first bytes: " + preview(c.buffer);
        finish(c);
    };

    // After the stop signal, a few more passes without waiting: what the command
    // sent just before it ended is still in the sockets.
    int passes_left = -1;
    while (passes_left != 0) {
        if (passes_left > 0) --passes_left;
        std::vector<pollfd> fds;
        fds.push_back({stop_event_.get(), POLLIN, 0});
        fds.push_back({channel_.get(), POLLIN, 0});
        for (auto& s : dns_sockets) fds.push_back({s.get(), POLLIN, 0});
        for (auto& s : tcp_listeners) fds.push_back({s.get(), POLLIN, 0});
        for (auto& s : udp_receivers) fds.push_back({s.get(), POLLIN, 0});
        for (auto& c : connections) fds.push_back({c->fd.get(), POLLIN, 0});
        int timeout_ms = passes_left >= 0 ? 0 : connections.empty() ? -1 : 100;
        if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) break;
        size_t i = 0;
        if (fds[i++].revents != 0 && passes_left < 0) passes_left = 3;
        if (fds[i++].revents != 0)
            while (receive_channel()) {
                // Several fds may be queued.
                if (fds.size() > 4096) break;
                pollfd more{channel_.get(), POLLIN, 0};
                if (poll(&more, 1, 0) <= 0) break;
            }
        for (auto& s : dns_sockets)
            if (i < fds.size() && fds[i++].revents != 0) handle_dns(s.get());
        for (size_t k = 0; k < tcp_listeners.size(); ++k)
            if (i < fds.size() && fds[i++].revents != 0)
                accept_on(tcp_listeners[k].get(), tcp_ports[k]);
        for (size_t k = 0; k < udp_receivers.size(); ++k) {
            if (i >= fds.size() || fds[i++].revents == 0) continue;
            char datagram[65536];
            sockaddr_storage from{};
            socklen_t len = sizeof from;
            const ssize_t n = recvfrom(udp_receivers[k].get(), datagram, sizeof datagram,
                                       MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0) continue;
            SinkEvent e;
            e.proto = "udp";
            e.port = udp_ports[k];
            e.protocol = "unknown";
            e.bytes = static_cast<uint64_t>(n);
            e.detail = std::to_string(n) +
                       " bytes: " + preview(std::string_view(datagram, static_cast<size_t>(n)));
            e.captured.assign(datagram, std::min(static_cast<size_t>(n), kMaxCapture));
            if (sink_events.size() < 10000) sink_events.push_back(std::move(e));
        }
        const auto now = Clock::now();
        for (auto& c : connections) {
            if (i < fds.size() && fds[i++].revents != 0 && c->state != Connection::State::done) {
                char buf[16384];
                const ssize_t n = recv(c->fd.get(), buf, sizeof buf, MSG_DONTWAIT);
                if (n > 0) {
                    c->total += static_cast<uint64_t>(n);
                    record(*c).bytes = c->total;
                    std::string& captured = record(*c).captured;
                    if (captured.size() < kMaxCapture)
                        captured.append(
                            buf, std::min(static_cast<size_t>(n), kMaxCapture - captured.size()));
                    c->last_activity = now;
                    if (c->buffer.size() < kMaxCapture)
                        c->buffer.append(
                            buf, std::min(static_cast<size_t>(n), kMaxCapture - c->buffer.size()));
                    sniff(*c);
                    if (c->buffer.size() >= kMaxCapture && c->state != Connection::State::done)
                        expire(*c);
                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                    if (c->state != Connection::State::done) expire(*c);
                }
            }
            if (c->state != Connection::State::done &&
                (now - c->last_activity > kIdleDeadline || now - c->started > kConnectionDeadline))
                expire(*c);
        }
        std::erase_if(connections,
                      [](const auto& c) { return c->state == Connection::State::done; });
    }
    for (auto& c : connections)
        if (c->state != Connection::State::done) expire(*c);
}

}  // namespace whatif::net
