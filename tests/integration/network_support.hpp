// Host-side witnesses for the network tests: listeners on the host's loopback and
// on a unix socket of the host, which a dry run in stub mode must never reach, and
// the dry run the network tests share.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "integration/harness.hpp"

namespace whatif::test {

// A listener on the host's 127.0.0.1:port (0: any free one), if the port can be had
// (80, 443 and 22 need root); a dry run in stub mode must never reach it.
struct HostListener {
    int fd = -1;
    uint16_t port = 0;
    explicit HostListener(uint16_t wanted) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(wanted);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 8) != 0 ||
            getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
            close(fd);
            fd = -1;
            return;
        }
        port = ntohs(a.sin_port);
    }
    ~HostListener() {
        if (fd >= 0) close(fd);
    }
    void check_untouched() const {
        if (fd < 0) return;  // the port was not ours to watch
        CHECK(accept(fd, nullptr, nullptr) == -1);
        CHECK(errno == EAGAIN);
    }
};

// A listener on a unix socket of the host (in the test's temporary directory);
// a dry run must never reach it.
struct HostUnixListener {
    int fd = -1;
    explicit HostUnixListener(const std::string& path) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        REQUIRE(path.size() < sizeof a.sun_path);
        memcpy(a.sun_path, path.data(), path.size());
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(listen(fd, 8) == 0);
        chmod(path.c_str(), 0777);  // reachable for the unprivileged caller too
    }
    ~HostUnixListener() { close(fd); }
    void check_untouched() const {
        CHECK(accept(fd, nullptr, nullptr) == -1);
        CHECK(errno == EAGAIN);
    }
};

inline nlohmann::json dry_run(const World& w, const std::string& script,
                              const std::vector<std::string>& extra = {}) {
    ProcessResult raw;
    std::vector<std::string> options = {"--timeout", "30s"};
    options.insert(options.end(), extra.begin(), extra.end());
    auto set = w.dry_run_sh(script, &raw, options);
    INFO("stderr: " << raw.err);
    CHECK(set["run"]["timed_out"] == false);
    return set;
}

}  // namespace whatif::test
