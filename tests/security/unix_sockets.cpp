// Connects to host unix sockets: filesystem paths (argv) and an abstract name.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "probe.hpp"

static long try_connect(const std::string& path, bool abstract) {
    const int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = sizeof(sa_family_t);
    if (abstract) {
        std::memcpy(addr.sun_path + 1, path.data(), path.size());
        len += static_cast<socklen_t>(path.size() + 1);
    } else {
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        len += static_cast<socklen_t>(path.size() + 1);
    }
    const long rc = connect(s, reinterpret_cast<sockaddr*>(&addr), len);
    close(s);
    return rc;
}

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        const bool abstract = a.front() == '@';
        if (abstract) a.erase(0, 1);
        expect_blocked(("connect(" + std::string(argv[i]) + ")").c_str(), try_connect(a, abstract));
    }
    return g_escaped;
}
