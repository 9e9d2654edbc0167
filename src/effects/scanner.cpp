#include "whatif/effects/scanner.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#define XXH_INLINE_ALL  // no shared library to load at start-up
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::effects {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

FileType type_of(mode_t mode) {
    if (S_ISDIR(mode)) return FileType::dir;
    if (S_ISLNK(mode)) return FileType::symlink;
    if (S_ISFIFO(mode)) return FileType::fifo;
    if (S_ISSOCK(mode)) return FileType::socket;
    if (S_ISCHR(mode) || S_ISBLK(mode)) return FileType::device;
    return FileType::file;
}

std::string read_link_at(int dir_fd, const char* name, size_t size_hint) {
    std::string target(std::max<size_t>(size_hint, 64) + 1, '\0');
    for (;;) {
        const ssize_t n = readlinkat(dir_fd, name, target.data(), target.size());
        if (n < 0) return {};
        if (static_cast<size_t>(n) < target.size()) {
            target.resize(static_cast<size_t>(n));
            return target;
        }
        target.resize(target.size() * 2);
    }
}

FileState state_of(const struct stat& st, int dir_fd, const char* name) {
    FileState s;
    s.type = type_of(st.st_mode);
    s.size = s.type == FileType::file ? static_cast<uint64_t>(st.st_size) : 0;
    s.mode = st.st_mode & 07777;
    s.uid = st.st_uid;
    s.gid = st.st_gid;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    s.ino = st.st_ino;
    if (s.type == FileType::device) s.rdev = st.st_rdev;
    if (s.type == FileType::symlink)
        s.target = read_link_at(dir_fd, name, static_cast<size_t>(st.st_size));
    return s;
}

// overlayfs in a user namespace (userxattr) uses "user.overlay.*"; a privileged
// overlay uses "trusted.overlay.*". Read either.
std::string overlay_xattr_fd(int fd, const char* suffix) {
    char value[8] = {};
    for (const char* ns : {"user.overlay.", "trusted.overlay."}) {
        const std::string key = std::string(ns) + suffix;
        const ssize_t n = fgetxattr(fd, key.c_str(), value, sizeof value - 1);
        if (n >= 0) return std::string(value, static_cast<size_t>(n));
    }
    return {};
}

bool has_overlay_xattr_at(int dir_fd, const char* name, const char* suffix) {
    const std::string path = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
    for (const char* ns : {"user.overlay.", "trusted.overlay."}) {
        const std::string key = std::string(ns) + suffix;
        if (lgetxattr(path.c_str(), key.c_str(), nullptr, 0) >= 0) return true;
    }
    return false;
}

// The marks of a directory holding xattr whiteouts: overlay.whiteouts (6.8+) or
// overlay.opaque = "x" (6.7).
bool has_xattr_whiteouts(int upper_dir_fd) {
    for (const char* key : {"user.overlay.whiteouts", "trusted.overlay.whiteouts"})
        if (fgetxattr(upper_dir_fd, key, nullptr, 0) >= 0) return true;
    return overlay_xattr_fd(upper_dir_fd, "opaque") == "x";
}

// A whiteout hides the lower entry of the same name: a 0:0 character device, or
// (overlayfs >= 6.7 "xattr whiteouts") an empty file carrying overlay.whiteout,
// which the kernel honours only in a directory marked as holding such whiteouts.
// dir_marks caches that mark for dir_fd: read at the first empty file, so a
// directory without one costs no xattr reads.
bool is_whiteout(const struct stat& st, int dir_fd, const char* name,
                 std::optional<bool>& dir_marks) {
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) return true;
    if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
    if (!dir_marks) dir_marks = has_xattr_whiteouts(dir_fd);
    return *dir_marks && has_overlay_xattr_at(dir_fd, name, "whiteout");
}

// The names in a directory, sorted, in one buffer: a directory of a million
// entries costs ~12 bytes a name here, not a std::string each.
class SortedNames {
  public:
    static SortedNames of(int dir_fd) {
        SortedNames out;
        const int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
        if (dup_fd < 0) return out;
        DIR* dir = fdopendir(dup_fd);
        if (dir == nullptr) {
            close(dup_fd);
            return out;
        }
        rewinddir(dir);
        std::vector<uint32_t> starts;
        while (dirent* entry = readdir(dir)) {
            if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0)
                continue;
            starts.push_back(static_cast<uint32_t>(out.bytes_.size()));
            out.bytes_.append(entry->d_name, std::strlen(entry->d_name) + 1);  // with its NUL
        }
        closedir(dir);
        std::sort(starts.begin(), starts.end(), [&out](uint32_t a, uint32_t b) {
            return std::strcmp(out.bytes_.data() + a, out.bytes_.data() + b) < 0;
        });
        out.starts_ = std::move(starts);
        return out;
    }
    size_t size() const { return starts_.size(); }
    // NUL-terminated.
    const char* operator[](size_t i) const { return bytes_.data() + starts_[i]; }
    bool contains(const char* name) const {
        const char* base = bytes_.data();
        const auto it = std::lower_bound(
            starts_.begin(), starts_.end(), name,
            [base](uint32_t start, const char* n) { return std::strcmp(base + start, n) < 0; });
        return it != starts_.end() && std::strcmp(base + *it, name) == 0;
    }

  private:
    std::string bytes_;
    std::vector<uint32_t> starts_;
};

// Read with getdents64 on the fd itself: a third of the calls of opendir/readdir,
// which matters for the dozen empty layers of a typical run.
bool is_empty_dir(int dir_fd) {
    alignas(8) char buf[4096];
    for (;;) {
        const long n = syscall(SYS_getdents64, dir_fd, buf, sizeof buf);
        if (n <= 0) return n == 0;  // an error: not known to be empty, so scanned
        for (long at = 0; at < n;) {
            const auto* entry = reinterpret_cast<const struct dirent64*>(buf + at);
            if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
                return false;
            at += entry->d_reclen;
        }
    }
}

enum class ContentCompare { same, different, unreadable };

ContentCompare compare_contents(int upper_dir, const char* name, int host_dir) {
    UniqueFd a(openat(upper_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    UniqueFd b(openat(host_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!a || !b) return ContentCompare::unreadable;
    constexpr size_t kChunk = 256 * 1024;
    auto buf_a = std::make_unique<char[]>(kChunk);
    auto buf_b = std::make_unique<char[]>(kChunk);
    for (;;) {
        const ssize_t na = read(a.get(), buf_a.get(), kChunk);
        if (na < 0) return ContentCompare::unreadable;
        size_t got_b = 0;
        while (got_b < static_cast<size_t>(na)) {
            const ssize_t nb = read(b.get(), buf_b.get() + got_b, static_cast<size_t>(na) - got_b);
            if (nb < 0) return ContentCompare::unreadable;
            if (nb == 0) return ContentCompare::different;
            got_b += static_cast<size_t>(nb);
        }
        if (na == 0) {
            char extra;
            return read(b.get(), &extra, 1) == 0 ? ContentCompare::same : ContentCompare::different;
        }
        if (std::memcmp(buf_a.get(), buf_b.get(), static_cast<size_t>(na)) != 0)
            return ContentCompare::different;
    }
}

bool same_owner_and_mode(const struct stat& a, const struct stat& b) {
    return (a.st_mode & 07777) == (b.st_mode & 07777) && a.st_uid == b.st_uid &&
           a.st_gid == b.st_gid;
}

bool same_mtime(const struct stat& a, const struct stat& b) {
    return a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// The host side of an effect, with the content hash `apply` checks for conflicts.
FileState host_state_of(const struct stat& st, int dir_fd, const char* name) {
    FileState s = state_of(st, dir_fd, name);
    if (s.type == FileType::file) s.hash = hash_file_at(dir_fd, name);
    return s;
}

class Scanner {
  public:
    ScanResult result;
    const std::vector<SeededDir>* seeded = nullptr;
    const std::vector<SeededFile>* seeded_files = nullptr;

    void scan_layer(const ScanLayer& layer) {
        UniqueFd upper(open(layer.upper_dir.c_str(), kDirFlags));
        if (!upper) {
            not_seen(layer.host_root,
                     "cannot open upper layer " + layer.upper_dir + ": " + std::strerror(errno));
            return;
        }
        // Most layers of a run stay empty (a dozen or more overlays per run, a few
        // written to): those cost a listing, not xattr reads and a host lookup. An
        // overlay's root is never opaque (overlayfs marks only directories it made
        // in place of a removed one), so an empty root hides nothing.
        if (is_empty_dir(upper.get())) return;
        UniqueFd host(open(layer.host_root.c_str(), kDirFlags));
        // The layer's root itself is never an effect (whatif set its mode); only what is beneath.
        const std::string root = layer.host_root == "/" ? "" : layer.host_root;
        scan_dir(upper.get(), host ? host.get() : -1, root, opaque_of(upper.get()));
    }

  private:
    void warn(std::string message) { result.warnings.push_back(std::move(message)); }
    // What the command did at `path` is not (all) known: a warning, and a capture gap.
    void not_seen(const std::string& path, std::string message) {
        if (result.unseen.size() < 100) result.unseen.push_back(path.empty() ? "/" : path);
        warn(std::move(message));
    }

    // Directory levels the scan descends, at most: each holds an fd and a stack
    // frame, and a command that nests 6,000 directories must not crash whatif.
    // Below that, the tree is not seen (a gap), never silently.
    static constexpr size_t kMaxDepth = 512;
    size_t depth_ = 0;
    struct Descent {
        size_t& depth;
        explicit Descent(size_t& d) : depth(++d) {}
        ~Descent() { --depth; }
        Descent(const Descent&) = delete;
        Descent& operator=(const Descent&) = delete;
    };
    bool too_deep(const std::string& path) {
        if (depth_ < kMaxDepth) return false;
        not_seen(path, util::shell_quote_for_display(path) + " is more than " +
                           std::to_string(kMaxDepth) +
                           " directories deep: what lies beneath it is not reported");
        return true;
    }

    // A handful at most (the ancestors of a few paths): a linear search.
    const SeededDir* seeded_dir(const std::string& path) const {
        if (seeded == nullptr) return nullptr;
        for (const SeededDir& s : *seeded)
            if (s.path == path) return &s;
        return nullptr;
    }

    const SeededFile* seeded_file(const std::string& path) const {
        if (seeded_files == nullptr) return nullptr;
        for (const SeededFile& s : *seeded_files)
            if (s.path == path) return &s;
        return nullptr;
    }

    static bool opaque_of(int upper_dir_fd) {
        // "y": opaque. "x" (overlayfs >= 6.7) only marks a dir holding xattr whiteouts.
        return overlay_xattr_fd(upper_dir_fd, "opaque") == "y";
    }

    void emit(std::string path, Change change, FileType type, std::optional<FileState> before,
              std::optional<FileState> after) {
        result.files.push_back(
            {std::move(path), change, type, std::move(before), std::move(after)});
    }

    // `path` existed on the host and is gone, with everything beneath it.
    void emit_deleted(int host_dir, const char* name, const std::string& path,
                      const struct stat& st) {
        emit(path, Change::deleted, type_of(st.st_mode), host_state_of(st, host_dir, name),
             std::nullopt);
        if (!S_ISDIR(st.st_mode)) return;
        UniqueFd dir(openat(host_dir, name, kDirFlags));
        if (!dir) {
            not_seen(path, "cannot list deleted directory " + util::shell_quote_for_display(path) +
                               ": " + std::strerror(errno));
            return;
        }
        emit_children_deleted(dir.get(), path, nullptr);
    }

    // Every host entry of `host_dir` not in `kept` (all of them if null) is deleted.
    void emit_children_deleted(int host_dir, const std::string& path, const SortedNames* kept) {
        if (too_deep(path)) return;
        const Descent level(depth_);
        const SortedNames names = SortedNames::of(host_dir);
        for (size_t i = 0; i < names.size(); ++i) {
            const char* name = names[i];
            if (kept != nullptr && kept->contains(name)) continue;
            struct stat st {};
            if (fstatat(host_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            ++result.entries_scanned;
            emit_deleted(host_dir, name, path + "/" + name, st);
        }
    }

    // host_dir: the host directory at `path`, or -1 when there is none (new or
    // replaced directory). hides_host: the host's entries here are hidden from the
    // merged view (opaque dir), so those the upper layer lacks are deleted.
    void scan_dir(int upper_dir, int host_dir, const std::string& path, bool hides_host) {
        if (too_deep(path)) return;
        const Descent level(depth_);
        const SortedNames names = SortedNames::of(upper_dir);
        std::optional<bool> xattr_whiteout_marks;  // see is_whiteout
        for (size_t n = 0; n < names.size(); ++n) {
            const std::string name = names[n];
            ++result.entries_scanned;
            const std::string child = path + "/" + name;
            struct stat ust {};
            if (fstatat(upper_dir, name.c_str(), &ust, AT_SYMLINK_NOFOLLOW) != 0) {
                not_seen(child, "cannot stat " + util::shell_quote_for_display(child) +
                                    " in the upper layer");
                continue;
            }
            struct stat hst {};
            const bool on_host =
                host_dir >= 0 && fstatat(host_dir, name.c_str(), &hst, AT_SYMLINK_NOFOLLOW) == 0;

            if (is_whiteout(ust, upper_dir, name.c_str(), xattr_whiteout_marks)) {
                if (on_host) emit_deleted(host_dir, name.c_str(), child, hst);
                continue;
            }
            if (S_ISDIR(ust.st_mode)) {
                scan_upper_dir(upper_dir, host_dir, name, child, ust, on_host ? &hst : nullptr,
                               hides_host);
                continue;
            }
            const FileState after = state_of(ust, upper_dir, name.c_str());
            if (!on_host) {
                emit(child, Change::created, after.type, std::nullopt, after);
                continue;
            }
            const FileState before = host_state_of(hst, host_dir, name.c_str());
            if (before.type != after.type || (S_ISCHR(ust.st_mode) != S_ISCHR(hst.st_mode))) {
                emit(child, Change::replaced, after.type, before, after);
                if (S_ISDIR(hst.st_mode)) {
                    UniqueFd gone(openat(host_dir, name.c_str(), kDirFlags));
                    if (gone) emit_children_deleted(gone.get(), child, nullptr);
                }
                continue;
            }
            // A decoy is compared with what it was given, never with the real file.
            if (const SeededFile* seed =
                    after.type == FileType::file ? seeded_file(child) : nullptr) {
                const auto hash = hash_file_at(upper_dir, name.c_str());
                if (!hash)
                    warn("cannot read " + util::shell_quote_for_display(child) +
                         " in the upper layer: reported as modified");
                if (!hash || *hash != seed->hash)
                    emit(child, Change::modified, after.type, before, after);
                else if ((ust.st_mode & 07777) != seed->mode || ust.st_uid != seed->uid ||
                         ust.st_gid != seed->gid || !same_mtime(ust, hst))
                    emit(child, Change::metadata, after.type, before, after);
                continue;
            }
            bool content_differs = false;
            switch (after.type) {
                case FileType::file:
                    if (before.size != after.size) {
                        content_differs = true;
                    } else {
                        const auto cmp = compare_contents(upper_dir, name.c_str(), host_dir);
                        if (cmp == ContentCompare::unreadable)
                            warn("cannot compare " + util::shell_quote_for_display(child) +
                                 " with the host: reported as modified");
                        content_differs = cmp != ContentCompare::same;
                    }
                    break;
                case FileType::symlink:
                    content_differs = before.target != after.target;
                    break;
                case FileType::device:
                    content_differs = before.rdev != after.rdev;
                    break;
                default:
                    break;
            }
            if (content_differs)
                emit(child, Change::modified, after.type, before, after);
            else if (!same_owner_and_mode(ust, hst) ||
                     (after.type == FileType::file && !same_mtime(ust, hst)))
                emit(child, Change::metadata, after.type, before, after);
            // else: copied up and left unchanged: no effect.
        }
        if (hides_host && host_dir >= 0) emit_children_deleted(host_dir, path, &names);
    }

    // parent_hides: the parent is opaque, or beneath an opaque directory. overlayfs
    // then never looks below: a directory re-created there (`rm -rf d && mkdir -p
    // d/s`) carries no opaque mark of its own, yet hides the host's d/s entirely.
    void scan_upper_dir(int upper_parent, int host_parent, const std::string& name,
                        const std::string& path, const struct stat& ust, const struct stat* hst,
                        bool parent_hides) {
        UniqueFd upper(openat(upper_parent, name.c_str(), kDirFlags));
        if (!upper) {
            not_seen(path, "cannot read " + util::shell_quote_for_display(path) +
                               " in the upper layer (" + std::strerror(errno) +
                               "): its contents are not reported");
        }
        const FileState after = state_of(ust, upper_parent, name.c_str());
        if (hst == nullptr) {
            emit(path, Change::created, FileType::dir, std::nullopt, after);
            if (upper) scan_dir(upper.get(), -1, path, false);
            return;
        }
        const FileState before = host_state_of(*hst, host_parent, name.c_str());
        if (!S_ISDIR(hst->st_mode)) {
            emit(path, Change::replaced, FileType::dir, before, after);
            if (upper) scan_dir(upper.get(), -1, path, false);
            return;
        }
        // A directory's mtime changes with every entry added or removed beneath it:
        // only owner and mode count as its own metadata. A stand-in's are whatif's:
        // only what the command changed of them is an effect.
        if (const SeededDir* seed = seeded_dir(path)) {
            if ((ust.st_mode & 07777) != seed->mode || ust.st_uid != seed->uid ||
                ust.st_gid != seed->gid)
                emit(path, Change::metadata, FileType::dir, before, after);
        } else if (!same_owner_and_mode(ust, *hst))
            emit(path, Change::metadata, FileType::dir, before, after);
        if (!upper) return;
        UniqueFd host(openat(host_parent, name.c_str(), kDirFlags));
        if (!host) {
            not_seen(path, "cannot read host directory " + util::shell_quote_for_display(path) +
                               " (" + std::strerror(errno) +
                               "): deletions beneath it may be missing");
        }
        scan_dir(upper.get(), host ? host.get() : -1, path, parent_hides || opaque_of(upper.get()));
    }
};

}  // namespace

std::optional<uint64_t> hash_file_at(int dir_fd, const char* name) {
    UniqueFd fd(openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                   XXH3_freeState);
    XXH3_64bits_reset(state.get());
    constexpr size_t kChunk = 256 * 1024;
    auto buf = std::make_unique<char[]>(kChunk);
    for (;;) {
        const ssize_t n = read(fd.get(), buf.get(), kChunk);
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        XXH3_64bits_update(state.get(), buf.get(), static_cast<size_t>(n));
    }
    return XXH3_64bits_digest(state.get());
}

uint64_t hash_bytes(std::string_view bytes) {
    return XXH3_64bits(bytes.data(), bytes.size());
}

Result<ScanResult> scan_upper_layers(const std::vector<ScanLayer>& layers,
                                     const std::string& spill_dir,
                                     const std::vector<SeededDir>& seeded,
                                     const std::vector<SeededFile>& seeded_files) {
    Scanner scanner;
    scanner.seeded = &seeded;
    scanner.seeded_files = &seeded_files;
    if (!spill_dir.empty()) scanner.result.files.set_spill_dir(spill_dir);
    for (const auto& layer : layers) scanner.scan_layer(layer);
    if (const auto& err = scanner.result.files.error())
        return fail("the scan could not keep its findings: " + err->message);
    return std::move(scanner.result);
}

std::string upper_path_of(const std::vector<ScanLayer>& layers, const std::string& path) {
    const ScanLayer* best = nullptr;
    for (const auto& layer : layers)
        if (util::path_is_within(path, layer.host_root) &&
            (best == nullptr || layer.host_root.size() > best->host_root.size()))
            best = &layer;
    if (best == nullptr) return {};
    const std::string rel = best->host_root == "/" ? path : path.substr(best->host_root.size());
    return util::join_path(best->upper_dir, rel);
}

}  // namespace whatif::effects
