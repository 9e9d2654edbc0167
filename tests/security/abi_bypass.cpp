// A denied call through the non-native ABIs: int 0x80 (i386) and the x32 bit.
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.hpp"

int main() {
#if defined(__x86_64__)
    // i386 ptrace is 26: PTRACE_TRACEME through int 0x80.
    long rc32 = 0;
    asm volatile("int $0x80" : "=a"(rc32) : "a"(26L), "b"(0L), "c"(0L), "d"(0L) : "memory");
    errno = rc32 < 0 ? static_cast<int>(-rc32) : 0;
    expect_blocked("int 0x80 ptrace(PTRACE_TRACEME)", rc32 < 0 ? -1 : rc32);
    // x32 ptrace is 521 with the x32 bit.
    expect_blocked("x32 ptrace(PTRACE_TRACEME)", syscall(0x40000000L | 521, 0, 0, 0, 0));
    // And an unshare through int 0x80 (i386 unshare is 310).
    asm volatile("int $0x80" : "=a"(rc32) : "a"(310L), "b"(0x10000000L) : "memory");
    errno = rc32 < 0 ? static_cast<int>(-rc32) : 0;
    expect_blocked("int 0x80 unshare(CLONE_NEWUSER)", rc32 < 0 ? -1 : rc32);
#endif
    return g_escaped;
}
