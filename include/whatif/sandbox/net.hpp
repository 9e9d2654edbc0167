#pragma once

#include <string>

#include "whatif/sandbox/child_plan.hpp"

namespace whatif::sandbox::net {

// In the child, inside its new network namespace: loopback up, and (stub and none
// modes) routes that make every IPv4 and IPv6 address local, so that no packet
// can leave and every connection lands on this machine's own sockets.
bool bring_loopback_up(ChildError& err);
bool route_everything_locally(ChildError& err);

// Stub mode: the DNS stub's sockets (UDP, port 53, every address), handed to the
// supervisor over the plan's channel.
bool open_dns_sockets(const ChildPlan& plan, ChildError& err);

// The sandbox's network namespace, made off init's critical path. Creating one
// costs about 0.4 ms in the kernel (more than all other namespaces together), so
// instead of cloning init into it, a thread of init makes it for itself while init
// mounts: unshare(CLONE_NEWNET), loopback, routes, the DNS stub's sockets. Init
// then enters it (setns) before it mounts sysfs, which shows the mounter's
// network namespace.
struct PreparedNamespace {
    int netns_fd = -1;  // /proc/thread-self/ns/net of the thread that made it
    ChildError err;
    long long ready_at = 0;  // for -vv: when it was ready (us since whatif started)
};
void prepare_namespace(const ChildPlan& plan, PreparedNamespace& out);
bool enter_namespace(PreparedNamespace& prepared, ChildError& err);

// A TCP listener or UDP receiver for `port` on every address, handed to the
// supervisor; false when the sandbox's own program already uses the port.
bool open_sink(int channel_fd, int type, uint16_t port);

// Sends `fd` to the supervisor over the channel: kind, port, SCM_RIGHTS.
bool send_to_supervisor(int channel_fd, char kind, uint16_t port, int fd);

// Passes the stub's end of a stood-in unix-socket connection to the supervisor,
// with the path the command connected to (for the protocol guess and the record).
bool send_unix_connection(int channel_fd, const std::string& path, int fd);

}  // namespace whatif::sandbox::net
