#include "whatif/creds/canary.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <random>

#include "whatif/util/random.hpp"

namespace whatif::creds {

namespace {

constexpr std::array<std::string_view, 18> kPrefixes = {
    "github_pat_", "sk-ant-api03-", "sk-ant-", "sk-proj-", "ghp_",  "gho_", "ghs_", "ghu_", "ghr_",
    "glpat-",      "npm_",          "pypi-",   "xoxb-",    "xoxp-", "AKIA", "ASIA", "sk-",  "AIza"};

}  // namespace

bool looks_like_token(std::string_view value) {
    if (value.size() < 16 || value.size() > 4096) return false;
    const bool token_chars = std::all_of(value.begin(), value.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
               c == '/' || c == '+' || c == '=';
    });
    if (!token_chars) return false;
    return std::any_of(kPrefixes.begin(), kPrefixes.end(), [&](std::string_view p) {
        // "sk-" alone is too short a mark for a long value; the others name their issuer.
        return value.starts_with(p) && value.size() >= p.size() + 16;
    });
}

std::string CanaryRegistry::make(std::string_view real, const std::string& source) {
    static std::mt19937_64 rng(util::random_u64());
    std::string prefix;
    for (auto p : kPrefixes)
        if (real.starts_with(p)) {
            prefix = std::string(p);
            break;
        }
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::string out = prefix;
        for (size_t i = prefix.size(); i < real.size(); ++i) {
            const char c = real[i];
            if (c >= 'A' && c <= 'Z')
                out += static_cast<char>('A' + rng() % 26);
            else if (c >= 'a' && c <= 'z')
                out += static_cast<char>('a' + rng() % 26);
            else if (c >= '0' && c <= '9')
                out += static_cast<char>('0' + rng() % 10);
            else
                out += c;  // separators keep the format
        }
        // Too short to recognise later: lengthen with the same class as the last character.
        while (out.size() < 12) out += static_cast<char>('a' + rng() % 26);
        if (out != real) {
            canaries_.push_back({out, source});
            return out;
        }
    }
    canaries_.push_back({prefix + "whatif-canary", source});
    return canaries_.back().value;
}

std::string replace_url_password(std::string_view value, CanaryRegistry& registry,
                                 const std::string& source) {
    const size_t scheme = value.find("://");
    if (scheme == std::string_view::npos) return {};
    const size_t at = value.find('@', scheme + 3);
    const size_t slash = value.find('/', scheme + 3);
    if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return {};
    const size_t colon = value.find(':', scheme + 3);
    if (colon == std::string_view::npos || colon > at || colon + 1 == at) return {};
    const std::string_view password = value.substr(colon + 1, at - colon - 1);
    return std::string(value.substr(0, colon + 1)) + registry.make(password, source) +
           std::string(value.substr(at));
}

}  // namespace whatif::creds
