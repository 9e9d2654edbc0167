// The supervisor's side of the stub network: a thread serving the sockets that
// init creates inside the sandbox's network namespace and passes out (DNS on port
// 53, a TCP listener per port the command connects to, UDP receivers). It answers
// so that clients fail fast with a clear error, and records what they asked for.
// Every read is bounded in bytes and time.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "whatif/net/dns.hpp"
#include "whatif/net/sniff.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::net {

// init -> supervisor on the fd channel: one byte of kind, the port, and the fd.
inline constexpr char kChannelDns = 'D';
inline constexpr char kChannelTcpListener = 'L';
inline constexpr char kChannelUdpReceiver = 'U';
// A connection already made (the stub's end of a socket pair standing in for a
// host unix socket): kind, two zero bytes, then the path the command connected to.
inline constexpr char kChannelUnixConnection = 'A';
inline constexpr size_t kChannelMaxPath = 108;

struct DnsEvent {
    std::string name;
    uint16_t qtype = 0;
};

struct SinkEvent {
    std::string proto = "tcp";  // tcp | udp | unix
    std::string address;        // the destination the client used (unix: the socket's path)
    uint16_t port = 0;
    std::string protocol;  // https, http, postgresql, redis, mysql, ssh, tls, unknown
    std::string detail;
    std::optional<TlsClientHello> tls;
    std::optional<HttpRequest> http;
    uint64_t bytes = 0;
    std::string captured;  // the client's first bytes (at most 64 kB): where leaks are looked for
};

class StubServer {
  public:
    StubServer(UniqueFd channel, bool request_pg_password);
    ~StubServer();
    void start();
    // Asks the thread to finish: it reads what the sockets still hold, then ends.
    // For when nothing in the sandbox can send any more; returns at once.
    void request_stop();
    // Stops serving and returns when the thread is gone; events are final then.
    void stop();

    std::vector<DnsEvent> dns_events;
    std::vector<SinkEvent> sink_events;
    SyntheticAddresses addresses;

  private:
    void loop();
    UniqueFd channel_;
    UniqueFd stop_event_;
    bool request_pg_password_ = false;
    bool stop_requested_ = false;
    std::thread thread_;
};

}  // namespace whatif::net
