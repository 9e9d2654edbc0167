// Terminal injection on stdin (a real terminal in the test): TIOCSTI, TIOCLINUX,
// and TIOCSTI with high bits set in the request (CVE-2019-10063).
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "probe.hpp"

int main() {
    if (!isatty(0)) {
        std::printf("stdin is not a terminal\n");
        return 2;
    }
    char c = 'X';
    expect_blocked("ioctl(TIOCSTI)", ioctl(0, TIOCSTI, &c));
    expect_blocked("ioctl(TIOCSTI | 1 << 32)",
                   syscall(SYS_ioctl, 0, static_cast<unsigned long>(TIOCSTI) | (1UL << 32), &c));
    char sel[2] = {2, 0};  // TIOCL_SETSEL
    expect_blocked("ioctl(TIOCLINUX)", ioctl(0, TIOCLINUX, sel));
    expect_blocked("ioctl(TIOCLINUX | 1 << 32)",
                   syscall(SYS_ioctl, 0, static_cast<unsigned long>(TIOCLINUX) | (1UL << 32), sel));
    return g_escaped;
}
