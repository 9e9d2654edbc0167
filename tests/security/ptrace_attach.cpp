// ptrace of another process (init, our parent).
#include <sys/ptrace.h>
#include <unistd.h>

#include "probe.hpp"

int main() {
    expect_blocked("ptrace(PTRACE_ATTACH, 1)", ptrace(PTRACE_ATTACH, 1, nullptr, nullptr));
    expect_blocked("ptrace(PTRACE_SEIZE, getppid())",
                   ptrace(PTRACE_SEIZE, getppid(), nullptr, nullptr));
    expect_blocked("ptrace(PTRACE_TRACEME)", ptrace(PTRACE_TRACEME, 0, nullptr, nullptr));
    return g_escaped;
}
