// The DNS stub's wire format: parse a query, build the answer. Hand-written
// because no DNS library is among the project's dependencies, and a stub that
// answers A/AAAA with made-up addresses needs only this much of RFC 1035; every
// read is bounds-checked (fuzzed in tests/fuzz).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace whatif::net {

struct DnsQuery {
    uint16_t id = 0;
    uint16_t flags = 0;
    std::string name;  // lower-cased, no trailing dot
    uint16_t qtype = 0, qclass = 0;
    size_t question_end = 0;  // offset just after the question
};

inline constexpr uint16_t kTypeA = 1, kTypeAAAA = 28;

std::optional<DnsQuery> parse_dns_query(std::string_view packet);

// A distinct synthetic address per name (198.18.0.0/15 and fd00:7768:6174::/48),
// so that a later connection maps back to the name it was made for.
class SyntheticAddresses {
  public:
    std::array<uint8_t, 4> v4_for(const std::string& name);
    std::array<uint8_t, 16> v6_for(const std::string& name);
    // The name an address was given out for, if any ("198.18.0.7" or "fd00:...").
    std::optional<std::string> name_of(const std::string& address_text) const;
    const std::map<std::string, std::string>& names() const { return names_; }

  private:
    uint32_t index_for(const std::string& name);
    std::map<std::string, uint32_t> index_;
    std::map<std::string, std::string> names_;  // address text -> name
};

// The answer to `q`: one A or AAAA record for the name (TTL 1 s), an empty answer
// for other types. The question is echoed from `packet`.
std::string build_dns_answer(std::string_view packet, const DnsQuery& q,
                             SyntheticAddresses& addresses);

}  // namespace whatif::net
