// Only fds 0-2 reach the command; whatif's own executable cannot be written.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "probe.hpp"

int main() {
    DIR* dir = opendir("/proc/self/fd");
    const int listing = dirfd(dir);
    while (dirent* e = readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        const int fd = std::atoi(e->d_name);
        if (fd > 2 && fd != listing) {
            std::printf("ESCAPED: inherited fd %d\n", fd);
            g_escaped = 1;
        }
    }
    closedir(dir);
    std::printf("fds: only 0-2\n");
    expect_blocked("open(/proc/1/exe, O_WRONLY)", open("/proc/1/exe", O_WRONLY));
    expect_blocked("open(/proc/self/exe, O_WRONLY)", open("/proc/self/exe", O_WRONLY));
    expect_blocked("open(/proc/1/exe, O_RDWR)", open("/proc/1/exe", O_RDWR));
    return g_escaped;
}
