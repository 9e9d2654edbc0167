#include "whatif/sandbox/net.hpp"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace whatif::sandbox::net {

bool bring_loopback_up(ChildError& err) {
    const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        err.syscall_failed("socket", "AF_INET");
        return false;
    }
    ifreq ifr{};
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
    if (ok) {
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
        ok = ioctl(sock, SIOCSIFFLAGS, &ifr) == 0;
    }
    if (!ok) err.syscall_failed("ioctl(SIOCSIFFLAGS", "lo");
    close(sock);
    return ok;
}

}  // namespace whatif::sandbox::net
