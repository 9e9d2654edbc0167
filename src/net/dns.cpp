#include "whatif/net/dns.hpp"

#include <arpa/inet.h>

#include <cctype>

namespace whatif::net {

namespace {

uint16_t be16(std::string_view p, size_t at) {
    return static_cast<uint16_t>((static_cast<uint8_t>(p[at]) << 8) |
                                 static_cast<uint8_t>(p[at + 1]));
}

void put16(std::string& out, uint16_t v) {
    out += static_cast<char>(v >> 8);
    out += static_cast<char>(v & 0xff);
}

}  // namespace

std::optional<DnsQuery> parse_dns_query(std::string_view p) {
    if (p.size() < 12) return std::nullopt;
    DnsQuery q;
    q.id = be16(p, 0);
    q.flags = be16(p, 2);
    if ((q.flags & 0x8000) != 0) return std::nullopt;  // a response, not a query
    if (be16(p, 4) < 1) return std::nullopt;           // no question
    size_t at = 12;
    std::string name;
    for (int labels = 0;; ++labels) {
        if (at >= p.size() || labels > 127) return std::nullopt;
        const uint8_t len = static_cast<uint8_t>(p[at]);
        if (len == 0) {
            ++at;
            break;
        }
        if ((len & 0xC0) != 0 || len > 63) return std::nullopt;  // no compression in a question
        if (at + 1 + len > p.size() || name.size() + len + 1 > 253) return std::nullopt;
        if (!name.empty()) name += '.';
        for (size_t i = 0; i < len; ++i)
            name += static_cast<char>(std::tolower(static_cast<unsigned char>(p[at + 1 + i])));
        at += 1 + len;
    }
    if (at + 4 > p.size()) return std::nullopt;
    q.name = std::move(name);
    q.qtype = be16(p, at);
    q.qclass = be16(p, at + 2);
    q.question_end = at + 4;
    return q;
}

uint32_t SyntheticAddresses::index_for(const std::string& name) {
    auto [it, inserted] = index_.emplace(name, static_cast<uint32_t>(index_.size() + 1));
    if (inserted) {
        const uint32_t i = it->second;
        char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
        const uint8_t a4[4] = {198, static_cast<uint8_t>(18 + ((i >> 16) & 1)),
                               static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
        inet_ntop(AF_INET, a4, v4, sizeof v4);
        uint8_t a6[16] = {0xfd, 0x00, 0x77, 0x68, 0x61, 0x74};
        a6[12] = static_cast<uint8_t>(i >> 24);
        a6[13] = static_cast<uint8_t>(i >> 16);
        a6[14] = static_cast<uint8_t>(i >> 8);
        a6[15] = static_cast<uint8_t>(i);
        inet_ntop(AF_INET6, a6, v6, sizeof v6);
        names_[v4] = name;
        names_[v6] = name;
    }
    return it->second;
}

std::array<uint8_t, 4> SyntheticAddresses::v4_for(const std::string& name) {
    const uint32_t i = index_for(name);
    return {198, static_cast<uint8_t>(18 + ((i >> 16) & 1)), static_cast<uint8_t>(i >> 8),
            static_cast<uint8_t>(i)};
}

std::array<uint8_t, 16> SyntheticAddresses::v6_for(const std::string& name) {
    const uint32_t i = index_for(name);
    return {0xfd,
            0x00,
            0x77,
            0x68,
            0x61,
            0x74,
            0,
            0,
            0,
            0,
            0,
            0,
            static_cast<uint8_t>(i >> 24),
            static_cast<uint8_t>(i >> 16),
            static_cast<uint8_t>(i >> 8),
            static_cast<uint8_t>(i)};
}

std::optional<std::string> SyntheticAddresses::name_of(const std::string& address_text) const {
    auto it = names_.find(address_text);
    if (it == names_.end()) return std::nullopt;
    return it->second;
}

std::string build_dns_answer(std::string_view packet, const DnsQuery& q,
                             SyntheticAddresses& addresses) {
    const bool answer_a = q.qtype == kTypeA && q.qclass == 1;
    const bool answer_aaaa = q.qtype == kTypeAAAA && q.qclass == 1;
    std::string out;
    put16(out, q.id);
    // QR, opcode copied, AA, RD copied, RA; rcode 0.
    put16(out, static_cast<uint16_t>(0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) |
                                     0x0080));
    put16(out, 1);
    put16(out, answer_a || answer_aaaa ? 1 : 0);
    put16(out, 0);
    put16(out, 0);
    out.append(packet.substr(12, q.question_end - 12));
    if (answer_a || answer_aaaa) {
        put16(out, 0xC00C);  // the name: a pointer to the question
        put16(out, q.qtype);
        put16(out, 1);
        put16(out, 0);
        put16(out, 1);  // TTL 1 s: nothing outlives the dry run
        if (answer_a) {
            const auto a = addresses.v4_for(q.name);
            put16(out, 4);
            out.append(reinterpret_cast<const char*>(a.data()), a.size());
        } else {
            const auto a = addresses.v6_for(q.name);
            put16(out, 16);
            out.append(reinterpret_cast<const char*>(a.data()), a.size());
        }
    }
    return out;
}

}  // namespace whatif::net
