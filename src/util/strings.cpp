#include "whatif/util/strings.hpp"

#include <string.h>
#include <cstdio>
#include <cstring>

namespace whatif::util {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and out-of-range code points are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

// A valid multi-byte sequence that a terminal acts on instead of showing: C1
// controls (U+0080..U+009F, CSI and OSC among them) and the bidirectional
// overrides and isolates (U+202A..U+202E, U+2066..U+2069), which reorder what
// follows them on screen.
bool is_terminal_control(std::string_view s, size_t i, size_t n) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
    if (n == 2) return b(0) == 0xC2 && b(1) >= 0x80 && b(1) <= 0x9F;
    if (n == 3 && b(0) == 0xE2 && b(1) == 0x80) return b(2) >= 0xAA && b(2) <= 0xAE;
    if (n == 3 && b(0) == 0xE2 && b(1) == 0x81) return b(2) >= 0xA6 && b(2) <= 0xA9;
    return false;
}

// One byte a terminal must not get as is: \n, \r, \t by name, others as \xNN.
void append_escaped_byte(std::string& out, unsigned char byte) {
    switch (byte) {
        case '\n':
            out += "\\n";
            return;
        case '\r':
            out += "\\r";
            return;
        case '\t':
            out += "\\t";
            return;
        default: {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", byte);
            out += buf;
        }
    }
}

// The display units of `s` in turn: a valid UTF-8 sequence that shows as itself
// (`shown`), or bytes that must be escaped (an invalid byte, a control, a C1
// control or bidi override: all their bytes).
template <typename Each>
void for_each_display_unit(std::string_view s, Each&& each) {
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = utf8_sequence_length(s, i);
        const bool shown = n > 1 ? !is_terminal_control(s, i, n) : n == 1 && c >= 0x20 && c != 0x7F;
        const size_t bytes = n == 0 ? 1 : n;
        each(s.substr(i, bytes), shown);
        i += bytes;
    }
}

}  // namespace

std::string printable(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for_each_display_unit(s, [&](std::string_view unit, bool shown) {
        if (shown) {
            out.append(unit);
            return;
        }
        for (char b : unit) append_escaped_byte(out, static_cast<unsigned char>(b));
    });
    return out;
}

bool is_valid_utf8(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_sequence_length(s, i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

std::string to_valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const size_t n = utf8_sequence_length(s, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
        } else {
            out.append(s.substr(i, n));
            i += n;
        }
    }
    return out;
}

std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string from_hex(std::string_view hex) {
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (hex.size() % 2 != 0) return {};
    std::string out;
    out.reserve(hex.size() / 2);
    for (size_t i = 0; i < hex.size(); i += 2) {
        const int hi = value(hex[i]);
        const int lo = value(hex[i + 1]);
        if (hi < 0 || lo < 0) return {};
        out += static_cast<char>(hi * 16 + lo);
    }
    return out;
}

std::string shell_quote_for_display(std::string_view s) {
    bool plain = !s.empty();
    for (unsigned char c : s) {
        if (!(isalnum(c) || std::strchr("/._-+,:@%=~", c) != nullptr)) {
            plain = false;
            break;
        }
    }
    if (plain) return std::string(s);

    bool needs_ansi_c = false;
    for_each_display_unit(s, [&](std::string_view, bool shown) { needs_ansi_c |= !shown; });
    if (!needs_ansi_c) {
        // Single quotes keep everything literal except the quote itself.
        std::string out = "'";
        for (char c : s) {
            if (c == '\'')
                out += "'\\''";
            else
                out += c;
        }
        return out + "'";
    }
    std::string out = "$'";
    for_each_display_unit(s, [&](std::string_view unit, bool shown) {
        if (unit == "\\")
            out += "\\\\";
        else if (unit == "'")
            out += "\\'";
        else if (shown)
            out.append(unit);
        else
            for (char b : unit) append_escaped_byte(out, static_cast<unsigned char>(b));
    });
    return out + "'";
}

std::string join_argv_for_display(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += shell_quote_for_display(a);
    }
    return out;
}

std::string with_thousands(uint64_t n) {
    std::string digits = std::to_string(n);
    std::string out;
    const size_t first = digits.size() % 3;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (i + 3 - first) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string human_bytes(uint64_t n) {
    static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    double value = static_cast<double>(n);
    size_t unit = 0;
    while (value >= 1000.0 && unit + 1 < std::size(units)) {
        value /= 1000.0;
        ++unit;
    }
    char buf[32];
    if (unit == 0)
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
    else if (value < 10)
        std::snprintf(buf, sizeof buf, "%.1f %s", value, units[unit]);
    else
        std::snprintf(buf, sizeof buf, "%.0f %s", value, units[unit]);
    return buf;
}

std::string human_duration_ms(uint64_t ms) {
    char buf[32];
    if (ms < 60'000)
        std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(ms) / 1000.0);
    else
        std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(ms / 60'000),
                      static_cast<unsigned long long>(ms / 1000 % 60));
    return buf;
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev == nullptr) return "signal " + std::to_string(sig);
    return std::string("SIG") + abbrev;
}

std::string plural(uint64_t n, std::string_view one, std::string_view many) {
    return with_thousands(n) + " " + std::string(n == 1 ? one : many);
}

void split_nul_terminated(std::string_view text, std::vector<std::string>& out) {
    for (size_t start = 0, nul; (nul = text.find('\0', start)) != std::string_view::npos;
         start = nul + 1)
        out.emplace_back(text.substr(start, nul - start));
}

}  // namespace whatif::util
