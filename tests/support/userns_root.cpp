// userns_root COMMAND [ARG...]: runs COMMAND as root of a user namespace of its own
// (ids 0-65535 mapped to themselves) in the caller's mount namespace, as root in a
// container is. whatif's mounts are locked there (mount_plan.hpp: split levels);
// the integration tests' root pass runs whatif through this to cover that path.
// Needs root: it writes the maps from the parent namespace.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <initializer_list>

int main(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: userns_root COMMAND [ARG...]\n");
        return 2;
    }
    int unshared[2], mapped[2];
    if (pipe(unshared) != 0 || pipe(mapped) != 0) return 125;
    const pid_t child = fork();
    if (child < 0) return 125;
    char byte = 0;
    if (child == 0) {
        if (unshare(CLONE_NEWUSER) != 0 || write(unshared[1], "u", 1) != 1 ||
            read(mapped[0], &byte, 1) != 1)
            _exit(125);
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    if (read(unshared[0], &byte, 1) != 1) return 125;
    for (const char* file : {"uid_map", "gid_map"}) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(child), file);
        const char map[] = "0 0 65536\n";
        const int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, map, sizeof map - 1) != static_cast<ssize_t>(sizeof map - 1)) {
            perror(path);
            kill(child, SIGKILL);
            return 125;
        }
        close(fd);
    }
    if (write(mapped[1], "m", 1) != 1) return 125;
    int status = 0;
    if (waitpid(child, &status, 0) != child) return 125;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
