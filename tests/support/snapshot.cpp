#include "support/snapshot.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_INLINE_ALL  // no shared library to load at start-up
#include <xxhash.h>

#include <cstring>

namespace whatif::test {

namespace {

char type_char(mode_t m) {
    if (S_ISREG(m)) return 'f';
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    if (S_ISFIFO(m)) return 'p';
    if (S_ISSOCK(m)) return 's';
    if (S_ISCHR(m)) return 'c';
    return 'b';
}

void walk(const std::string& root, const std::string& rel, TreeSnapshot& out) {
    const std::string dir_path = rel.empty() ? root : root + "/" + rel;
    DIR* dir = opendir(dir_path.c_str());
    if (dir == nullptr) return;
    while (dirent* e = readdir(dir)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        const std::string child_rel = rel.empty() ? e->d_name : rel + "/" + e->d_name;
        const std::string path = root + "/" + child_rel;
        struct stat st {};
        if (lstat(path.c_str(), &st) != 0) continue;
        EntrySnapshot s;
        s.type = type_char(st.st_mode);
        s.mode = st.st_mode & 07777;
        s.uid = st.st_uid;
        s.gid = st.st_gid;
        s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        if (S_ISREG(st.st_mode)) {
            s.size = static_cast<uint64_t>(st.st_size);
            XXH3_state_t* state = XXH3_createState();
            XXH3_64bits_reset(state);
            const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                char buf[65536];
                ssize_t n;
                while ((n = read(fd, buf, sizeof buf)) > 0)
                    XXH3_64bits_update(state, buf, static_cast<size_t>(n));
                close(fd);
            }
            s.content_hash = XXH3_64bits_digest(state);
            XXH3_freeState(state);
        } else if (S_ISLNK(st.st_mode)) {
            char buf[4096];
            const ssize_t n = readlink(path.c_str(), buf, sizeof buf);
            if (n > 0) s.target.assign(buf, static_cast<size_t>(n));
        }
        out[child_rel] = s;
        if (S_ISDIR(st.st_mode)) walk(root, child_rel, out);
    }
    closedir(dir);
}

}  // namespace

TreeSnapshot snapshot_tree(const std::string& root) {
    TreeSnapshot out;
    walk(root, "", out);
    return out;
}

std::string describe_differences(const TreeSnapshot& before, const TreeSnapshot& after) {
    std::string out;
    for (const auto& [path, b] : before) {
        auto it = after.find(path);
        if (it == after.end())
            out += "removed: " + path + "\n";
        else if (!(it->second == b))
            out += "changed: " + path + "\n";
    }
    for (const auto& [path, a] : after)
        if (!before.contains(path)) out += "added: " + path + "\n";
    return out;
}

}  // namespace whatif::test
