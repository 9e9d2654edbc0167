#include "whatif/creds/leaks.hpp"

#include <algorithm>
#include <cctype>

namespace whatif::creds {

namespace {

std::string decode_base64(std::string_view in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+' || c == '-') return 62;
        if (c == '/' || c == '_') return 63;
        return -1;
    };
    std::string out;
    int bits = 0, buffer = 0;
    for (char c : in) {
        const int v = value(c);
        if (v < 0) break;
        buffer = (buffer << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::vector<const Canary*> canaries_in(std::string_view bytes,
                                       const std::vector<Canary>& canaries) {
    // What the bytes say, plus the credentials HTTP Basic auth hides in base64.
    std::string decoded;
    for (size_t at = bytes.find("Basic "); at != std::string_view::npos;
         at = bytes.find("Basic ", at + 6)) {
        size_t end = at + 6;
        while (end < bytes.size() && !std::isspace(static_cast<unsigned char>(bytes[end]))) ++end;
        decoded += decode_base64(bytes.substr(at + 6, end - at - 6)) + "\n";
    }
    const std::string folded = lower(bytes);  // DNS names are case-insensitive
    std::vector<const Canary*> found;
    for (const auto& c : canaries) {
        if (c.value.size() < 8) continue;
        if (bytes.find(c.value) != std::string_view::npos ||
            decoded.find(c.value) != std::string::npos ||
            folded.find(lower(c.value)) != std::string::npos)
            found.push_back(&c);
    }
    return found;
}

}  // namespace whatif::creds
