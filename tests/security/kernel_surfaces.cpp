// Kernel interfaces behind most namespace-sandbox escapes: keyrings, BPF, perf
// events, userfaultfd, io_uring.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.hpp"

int main() {
    expect_blocked("keyctl(KEYCTL_GET_KEYRING_ID)", syscall(SYS_keyctl, 0, -3 /* session */, 1));
    expect_blocked("add_key(user)", syscall(SYS_add_key, "user", "whatif", "x", 1, -3));
    expect_blocked("request_key(user)", syscall(SYS_request_key, "user", "whatif", nullptr, 0));
    char attr[128] = {};
    expect_blocked("bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, 5, attr, sizeof attr));
    perf_event_attr pe{};
    pe.size = sizeof pe;
    pe.type = PERF_TYPE_SOFTWARE;
    pe.config = PERF_COUNT_SW_CPU_CLOCK;
    expect_blocked("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    expect_blocked("userfaultfd", syscall(SYS_userfaultfd, 0));
    char params[120] = {};
    expect_blocked("io_uring_setup", syscall(SYS_io_uring_setup, 4, params));
    expect_blocked("process_vm_readv", syscall(SYS_process_vm_readv, 1, nullptr, 0, nullptr, 0, 0));
    return g_escaped;
}
