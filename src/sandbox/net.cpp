#include "whatif/sandbox/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "whatif/net/stub_server.hpp"
#include "whatif/util/fd_passing.hpp"
#include "whatif/util/log.hpp"

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

namespace {

// RTM_NEWROUTE: local <family> default (0/0) dev lo table local.
bool add_local_default_route(int family, ChildError& err) {
    const int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) {
        err.syscall_failed("socket", "AF_NETLINK");
        return false;
    }
    struct {
        nlmsghdr header;
        rtmsg route;
        char attrs[64];
    } req{};
    req.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
    req.header.nlmsg_type = RTM_NEWROUTE;
    req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    req.route.rtm_family = static_cast<unsigned char>(family);
    req.route.rtm_dst_len = 0;
    req.route.rtm_table = RT_TABLE_LOCAL;
    req.route.rtm_protocol = RTPROT_BOOT;
    req.route.rtm_scope = RT_SCOPE_HOST;
    req.route.rtm_type = RTN_LOCAL;
    const int lo = static_cast<int>(if_nametoindex("lo"));
    rtattr* attr = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) +
                                             NLMSG_ALIGN(req.header.nlmsg_len));
    attr->rta_type = RTA_OIF;
    attr->rta_len = RTA_LENGTH(sizeof(int));
    memcpy(RTA_DATA(attr), &lo, sizeof lo);
    req.header.nlmsg_len = NLMSG_ALIGN(req.header.nlmsg_len) + RTA_ALIGN(attr->rta_len);
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    bool ok = sendto(nl, &req, req.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
                     sizeof kernel) >= 0;
    char reply[512];
    if (ok) {
        const ssize_t n = recv(nl, reply, sizeof reply, 0);
        const auto* h = reinterpret_cast<const nlmsghdr*>(reply);
        ok = n >= static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr))) &&
             h->nlmsg_type == NLMSG_ERROR &&
             reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error == 0;
        if (!ok && n > 0 && h->nlmsg_type == NLMSG_ERROR)
            errno = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
    }
    if (!ok)
        err.syscall_failed("RTM_NEWROUTE",
                           family == AF_INET ? "local 0.0.0.0/0 dev lo" : "local ::/0 dev lo");
    close(nl);
    return ok;
}

int bound_socket(int family, int type, uint16_t port) {
    const int s = socket(family, type | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    const int one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET6) {
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, type == SOCK_DGRAM && port == 53 ? &one : &zero,
                   sizeof one);
        auto& a = reinterpret_cast<sockaddr_in6&>(addr);
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_any;
        len = sizeof a;
    } else {
        auto& a = reinterpret_cast<sockaddr_in&>(addr);
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof a;
    }
    if (bind(s, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        (type == SOCK_STREAM && listen(s, 128) != 0)) {
        close(s);
        return -1;
    }
    return s;
}

}  // namespace

bool route_everything_locally(ChildError& err) {
    return add_local_default_route(AF_INET, err) && add_local_default_route(AF_INET6, err);
}

bool send_to_supervisor(int channel_fd, char kind, uint16_t port, int fd) {
    char data[3] = {kind};
    memcpy(data + 1, &port, sizeof port);
    return util::send_with_fd(channel_fd, data, sizeof data, fd);
}

bool send_unix_connection(int channel_fd, const std::string& path, int fd) {
    std::string data(1, whatif::net::kChannelUnixConnection);
    data.append(2, '\0');  // no port
    data += path.substr(0, whatif::net::kChannelMaxPath);
    return util::send_with_fd(channel_fd, data.data(), data.size(), fd);
}

bool open_dns_sockets(const ChildPlan& plan, ChildError& err) {
    const int one = 1;
    const int v4 = bound_socket(AF_INET, SOCK_DGRAM, 53);
    const int v6 = bound_socket(AF_INET6, SOCK_DGRAM, 53);
    if (v4 < 0 || v6 < 0) {
        err.syscall_failed("bind", "DNS stub, port 53");
        return false;
    }
    setsockopt(v4, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    setsockopt(v6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
    const bool ok = send_to_supervisor(plan.net_channel_fd, whatif::net::kChannelDns, 53, v4) &&
                    send_to_supervisor(plan.net_channel_fd, whatif::net::kChannelDns, 53, v6);
    close(v4);
    close(v6);
    if (!ok) err.syscall_failed("sendmsg", "DNS sockets");
    return ok;
}

namespace {

// In this thread's network namespace (/proc/sys/net is the opener's).
bool no_privileged_ports(ChildError& err) {
    return write_whole_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0", 1, err);
}

}  // namespace

void prepare_namespace(const ChildPlan& plan, PreparedNamespace& out) {
    // This thread alone moves (CLONE_NEWNET may be unshared by one thread of many).
    if (unshare(CLONE_NEWNET) != 0) {
        out.err.syscall_failed("unshare", "CLONE_NEWNET");
        return;
    }
    // Only stub and none come here: host mode keeps the host's namespace.
    if (!bring_loopback_up(out.err) || !route_everything_locally(out.err)) return;
    // The command's user namespace does not own this one (ChildPlan::command_user_ns),
    // so its root could not bind ports below 1024 with the capability it keeps: no
    // port is privileged here instead.
    if (plan.command_user_ns && !no_privileged_ports(out.err)) return;
    if (plan.net_mode == ChildPlan::NetMode::stub && !open_dns_sockets(plan, out.err)) return;
    out.netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    out.ready_at = util::micros_since_start();
    if (out.netns_fd < 0) out.err.syscall_failed("open", "/proc/thread-self/ns/net");
}

bool enter_namespace(PreparedNamespace& prepared, ChildError& err) {
    if (prepared.netns_fd < 0) {
        err = prepared.err;
        return false;
    }
    const bool entered = setns(prepared.netns_fd, CLONE_NEWNET) == 0;
    if (!entered) err.syscall_failed("setns", "CLONE_NEWNET");
    close(prepared.netns_fd);
    prepared.netns_fd = -1;
    return entered;
}

bool open_sink(int channel_fd, int type, uint16_t port) {
    // One dual-stack socket takes both IPv4 and IPv6 connections on the port.
    const int s = bound_socket(AF_INET6, type, port);
    if (s < 0) return false;  // in use: the sandbox's own server answers
    const bool ok = send_to_supervisor(
        channel_fd,
        type == SOCK_STREAM ? whatif::net::kChannelTcpListener : whatif::net::kChannelUdpReceiver,
        port, s);
    close(s);
    return ok;
}

}  // namespace whatif::sandbox::net
