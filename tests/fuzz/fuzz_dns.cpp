// libFuzzer: the DNS stub's query parser and answer builder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "whatif/net/dns.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view packet(reinterpret_cast<const char*>(data), size);
    static whatif::net::SyntheticAddresses addresses;
    if (auto q = whatif::net::parse_dns_query(packet)) {
        const std::string answer = whatif::net::build_dns_answer(packet, *q, addresses);
        if (answer.size() < 12) __builtin_trap();
    }
    return 0;
}
