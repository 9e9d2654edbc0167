#include "support/overlay_model.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dirent.h>

#include <fstream>
#include <optional>
#include <vector>

namespace whatif::test {

namespace {

constexpr int64_t kHostTime = 1'000;
const char* const kContents[] = {"", "a", "b", "ab", "ba"};
const char* const kTargets[] = {"a", "b", "../x", "/abs"};
const mode_t kModes[] = {0644, 0600, 0755, 0700};

void set_mtime(const std::string& path, int64_t seconds) {
    const timespec times[2] = {{seconds, 0}, {seconds, 0}};
    utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

void write_file(const std::string& path, const std::string& content, mode_t mode, int64_t mtime) {
    std::ofstream(path, std::ios::binary) << content;
    chmod(path.c_str(), mode);
    set_mtime(path, mtime);
}

std::vector<std::string> names_in(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") out.push_back(n);
        }
        closedir(d);
    }
    return out;
}

std::string pick_name(Choices& c) {
    return std::string(1, static_cast<char>('a' + c.next(5)));
}

void generate_host(const std::string& dir, Choices& c, const GeneratorOptions& o, int depth) {
    const uint32_t entries = c.next(static_cast<uint32_t>(o.max_entries_per_dir) + 1);
    for (uint32_t k = 0; k < entries; ++k) {
        const std::string path = dir + "/" + pick_name(c);
        struct stat st {};
        if (lstat(path.c_str(), &st) == 0) continue;
        switch (c.next(depth < o.max_depth ? 4 : 3)) {
            case 0:
                write_file(path, kContents[c.next(5)], kModes[c.next(4)], kHostTime);
                break;
            case 1:
                symlink(kTargets[c.next(4)], path.c_str());
                break;
            case 2:
                mkfifo(path.c_str(), kModes[c.next(4)]);
                break;
            default:
                mkdir(path.c_str(), kModes[c.next(2) * 2]);  // 0644 or 0755: listable by root
                chmod(path.c_str(), 0755);
                generate_host(path, c, o, depth + 1);
                break;
        }
    }
}

void make_whiteout(const std::string& dir, const std::string& path, Choices& c,
                   const GeneratorOptions& o) {
    if (o.device_whiteouts && c.next(2) == 0 &&
        mknod(path.c_str(), S_IFCHR | 0, makedev(0, 0)) == 0)
        return;
    write_file(path, "", 0644, kHostTime);
    setxattr(path.c_str(), "user.overlay.whiteout", "", 0, 0);
    setxattr(dir.c_str(), "user.overlay.whiteouts", "", 0, 0);
}

// `host_dir` is the host directory at the same place, or empty when there is none.
void generate_upper(const std::string& dir, const std::string& host_dir, Choices& c,
                    const GeneratorOptions& o, int depth) {
    const std::vector<std::string> host_names =
        host_dir.empty() ? std::vector<std::string>{} : names_in(host_dir);
    const uint32_t entries = c.next(static_cast<uint32_t>(o.max_entries_per_dir) + 2);
    for (uint32_t k = 0; k < entries; ++k) {
        // Mostly names the host has here: that is where the interesting cases are.
        const std::string name = !host_names.empty() && c.next(3) != 0
                                     ? host_names[c.next(static_cast<uint32_t>(host_names.size()))]
                                     : pick_name(c);
        const std::string path = dir + "/" + name;
        struct stat st {};
        if (lstat(path.c_str(), &st) == 0) continue;
        const std::string host_path = host_dir.empty() ? "" : host_dir + "/" + name;
        struct stat hst {};
        const bool on_host = !host_path.empty() && lstat(host_path.c_str(), &hst) == 0;
        // Where the host has a directory, often one in the upper layer too (merged,
        // opaque, or beneath an opaque one): that is where overlay rules get subtle.
        const bool host_dir_here = on_host && S_ISDIR(hst.st_mode);
        const uint32_t action = host_dir_here && depth < o.max_depth && c.next(2) == 0
                                    ? 6
                                    : c.next(depth < o.max_depth ? 7 : 6);
        switch (action) {
            case 0:
                make_whiteout(dir, path, c, o);
                break;
            case 1:  // a copy-up left unchanged, or changed in one way
                if (on_host && S_ISREG(hst.st_mode)) {
                    std::ifstream in(host_path, std::ios::binary);
                    std::string content((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
                    mode_t mode = hst.st_mode & 07777;
                    int64_t mtime = kHostTime;
                    switch (c.next(4)) {
                        case 1:
                            content = kContents[c.next(5)];
                            break;
                        case 2:
                            mode = kModes[c.next(4)];
                            break;
                        case 3:
                            mtime = kHostTime + 1;
                            break;
                        default:
                            break;
                    }
                    write_file(path, content, mode, mtime);
                    break;
                }
                [[fallthrough]];
            case 2:
                write_file(path, kContents[c.next(5)], kModes[c.next(4)],
                           c.next(2) == 0 ? kHostTime : kHostTime + 1);
                break;
            case 3:
                symlink(kTargets[c.next(4)], path.c_str());
                break;
            case 4:
                mkfifo(path.c_str(), kModes[c.next(4)]);
                break;
            case 5:  // a whiteout, then something new in its place
                if (on_host) {
                    write_file(path, kContents[c.next(5)], kModes[c.next(4)], kHostTime + 1);
                    break;
                }
                make_whiteout(dir, path, c, o);
                break;
            default: {  // a directory: copied up (merged) or new, sometimes opaque
                mkdir(path.c_str(), 0755);
                if (c.next(4) == 0) chmod(path.c_str(), 0700);
                if (c.next(3) == 0) setxattr(path.c_str(), "user.overlay.opaque", "y", 1, 0);
                generate_upper(path, on_host && S_ISDIR(hst.st_mode) ? host_path : "", c, o,
                               depth + 1);
                break;
            }
        }
    }
}

// --- the model ----------------------------------------------------------------------

struct Node {
    char type = 'f';  // f d l p c
    std::string content, target;
    mode_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    int64_t mtime_ns = 0;
    dev_t rdev = 0;
    bool whiteout = false, opaque = false;
    std::map<std::string, Node> kids;
};

bool has_xattr(const std::string& path, const char* key) {
    return lgetxattr(path.c_str(), key, nullptr, 0) >= 0;
}

std::string xattr_value(const std::string& path, const char* key) {
    char buf[16] = {};
    const ssize_t n = lgetxattr(path.c_str(), key, buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

std::optional<Node> read_tree(const std::string& path, bool as_upper, bool parent_marked) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return std::nullopt;
    Node n;
    n.mode = st.st_mode & 07777;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (S_ISDIR(st.st_mode)) {
        n.type = 'd';
        const bool marked = as_upper && (has_xattr(path, "user.overlay.whiteouts") ||
                                         has_xattr(path, "trusted.overlay.whiteouts"));
        if (as_upper)
            n.opaque = xattr_value(path, "user.overlay.opaque") == "y" ||
                       xattr_value(path, "trusted.overlay.opaque") == "y";
        for (const auto& name : names_in(path))
            if (auto kid = read_tree(path + "/" + name, as_upper, marked))
                n.kids.emplace(name, std::move(*kid));
    } else if (S_ISLNK(st.st_mode)) {
        n.type = 'l';
        char buf[4096];
        const ssize_t len = readlink(path.c_str(), buf, sizeof buf);
        n.target.assign(buf, len > 0 ? static_cast<size_t>(len) : 0);
    } else if (S_ISFIFO(st.st_mode)) {
        n.type = 'p';
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        n.type = 'c';
        n.rdev = st.st_rdev;
        n.whiteout = as_upper && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
    } else {
        std::ifstream in(path, std::ios::binary);
        n.content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        n.whiteout = as_upper && parent_marked && st.st_size == 0 &&
                     (has_xattr(path, "user.overlay.whiteout") ||
                      has_xattr(path, "trusted.overlay.whiteout"));
    }
    return n;
}

// The merged view of an upper entry over a lower one. lower_visible: the lower
// entry is reachable at all (no opaque directory above it).
std::optional<Node> merge(const Node* upper, const Node* lower, bool lower_visible) {
    if (upper == nullptr) {
        if (lower == nullptr || !lower_visible) return std::nullopt;
        return *lower;
    }
    if (upper->whiteout) return std::nullopt;
    if (upper->type != 'd') return *upper;
    Node out = *upper;
    out.kids.clear();
    const bool visible = lower_visible && lower != nullptr && lower->type == 'd' && !upper->opaque;
    for (const auto& [name, kid] : upper->kids) {
        const Node* lower_kid = nullptr;
        if (visible)
            if (auto it = lower->kids.find(name); it != lower->kids.end()) lower_kid = &it->second;
        if (auto m = merge(&kid, lower_kid, visible)) out.kids.emplace(name, std::move(*m));
    }
    if (visible)
        for (const auto& [name, kid] : lower->kids)
            if (!upper->kids.contains(name)) out.kids.emplace(name, kid);
    return out;
}

void all_below(const Node& n, const std::string& path, const char* change,
               std::map<std::string, std::string>& out) {
    for (const auto& [name, kid] : n.kids) {
        out[path + "/" + name] = change;
        all_below(kid, path + "/" + name, change, out);
    }
}

void diff(const Node* host, const Node* merged, const std::string& path,
          std::map<std::string, std::string>& out);

void diff_children(const Node& host, const Node& merged, const std::string& path,
                   std::map<std::string, std::string>& out) {
    for (const auto& [name, kid] : host.kids) {
        auto it = merged.kids.find(name);
        diff(&kid, it == merged.kids.end() ? nullptr : &it->second, path + "/" + name, out);
    }
    for (const auto& [name, kid] : merged.kids)
        if (!host.kids.contains(name)) diff(nullptr, &kid, path + "/" + name, out);
}

void diff(const Node* host, const Node* merged, const std::string& path,
          std::map<std::string, std::string>& out) {
    if (host == nullptr && merged == nullptr) return;
    if (host == nullptr) {
        out[path] = "created";
        all_below(*merged, path, "created", out);
        return;
    }
    if (merged == nullptr) {
        out[path] = "deleted";
        all_below(*host, path, "deleted", out);
        return;
    }
    if (host->type != merged->type) {
        out[path] = "replaced";
        all_below(*host, path, "deleted", out);
        all_below(*merged, path, "created", out);
        return;
    }
    const bool owner_or_mode =
        host->mode != merged->mode || host->uid != merged->uid || host->gid != merged->gid;
    switch (host->type) {
        case 'd':
            if (owner_or_mode) out[path] = "metadata";
            diff_children(*host, *merged, path, out);
            break;
        case 'f':
            if (host->content != merged->content)
                out[path] = "modified";
            else if (owner_or_mode || host->mtime_ns != merged->mtime_ns)
                out[path] = "metadata";
            break;
        case 'l':
            if (host->target != merged->target)
                out[path] = "modified";
            else if (owner_or_mode)
                out[path] = "metadata";
            break;
        case 'c':
            if (host->rdev != merged->rdev)
                out[path] = "modified";
            else if (owner_or_mode)
                out[path] = "metadata";
            break;
        default:
            if (owner_or_mode) out[path] = "metadata";
            break;
    }
}

}  // namespace

void generate_layers(const std::string& host, const std::string& upper, Choices& choices,
                     const GeneratorOptions& options) {
    generate_host(host, choices, options, 0);
    generate_upper(upper, host, choices, options, 0);
}

std::map<std::string, std::string> expected_effects(const std::string& host,
                                                    const std::string& upper) {
    std::map<std::string, std::string> out;
    const auto host_tree = read_tree(host, false, false);
    const auto upper_tree = read_tree(upper, true, false);
    if (!host_tree || !upper_tree) return out;
    const auto merged = merge(&*upper_tree, &*host_tree, true);
    if (!merged) return out;
    // The layer's root itself is never an effect: only what is beneath it.
    diff_children(*host_tree, *merged, "", out);
    return out;
}

}  // namespace whatif::test
