// kill() of a process outside the sandbox (its host pid is argv[1]).
#include <signal.h>

#include <cstdlib>

#include "probe.hpp"

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    const pid_t host_pid = std::atoi(argv[1]);
    expect_blocked("kill(host pid, SIGKILL)", kill(host_pid, SIGKILL));
    return g_escaped;
}
