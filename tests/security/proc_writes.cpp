// Writes to the kernel's knobs through /proc.
#include <fcntl.h>
#include <unistd.h>

#include "probe.hpp"

static long try_write(const char* path, const char* value) {
    const int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    const long n = write(fd, value, std::strlen(value));
    close(fd);
    return n;
}

int main() {
    expect_blocked("write /proc/sys/kernel/panic", try_write("/proc/sys/kernel/panic", "0\n"));
    expect_blocked("write /proc/sys/vm/drop_caches", try_write("/proc/sys/vm/drop_caches", "3\n"));
    expect_blocked("write /proc/sysrq-trigger", try_write("/proc/sysrq-trigger", "h"));
    return g_escaped;
}
