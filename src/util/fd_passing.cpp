#include "whatif/util/fd_passing.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

namespace whatif::util {

bool send_with_fd(int socket_fd, const void* data, size_t size, int fd) {
    iovec iov{const_cast<void*>(data), size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    return sendmsg(socket_fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

}  // namespace whatif::util
