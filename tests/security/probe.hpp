// Shared by the escape probes: each prints one line per attempt, "blocked: ..." or
// "ESCAPED: ...", and exits 1 if anything escaped.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>

inline int g_escaped = 0;

// `rc` is the attempt's return value; anything but -1 means the kernel let it through.
inline void expect_blocked(const char* what, long rc) {
    if (rc == -1) {
        std::printf("blocked: %s (%s)\n", what, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
    } else {
        std::printf("ESCAPED: %s returned %ld\n", what, rc);
        g_escaped = 1;
    }
}
