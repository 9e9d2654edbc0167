// libFuzzer: every protocol sniffer on the same hostile bytes. WHATIF_SNIFFER
// selects one (tls, http, pg, redis, mysql, ssh), so that each has its own target.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whatif/net/sniff.hpp"

#ifndef WHATIF_SNIFFER
#define WHATIF_SNIFFER 0
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view b(reinterpret_cast<const char*>(data), size);
    using namespace whatif::net;
    switch (WHATIF_SNIFFER) {
        case 0:
            looks_like_tls(b);
            parse_tls_client_hello(b);
            break;
        case 1:
            looks_like_http(b);
            parse_http_request(b);
            break;
        case 2:
            parse_pg_startup(b);
            parse_pg_message(b);
            break;
        case 3: {
            size_t consumed = 0;
            looks_like_redis(b);
            parse_redis_commands(b, consumed);
            if (consumed > b.size()) __builtin_trap();
            break;
        }
        case 4:
            parse_mysql_handshake_response(b);
            break;
        case 5:
            parse_ssh_banner(b);
            preview(b);
            break;
    }
    return 0;
}
