#include "whatif/util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

#include "whatif/util/random.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::util {

namespace {

// Empties the directory open as dir_fd; `shown` names it in errors.
// Below this depth, remove_children recurses (two fds and a frame a level); deeper
// trees (a command's 6,000 nested dirs) are removed by remove_deep, which holds one.
constexpr size_t kRecursionDepth = 128;

// Everything beneath dir_fd, without recursion: down to a non-empty leaf, empty it,
// back up through "..", and again. Only for trees whatif owns and nothing else
// changes any more (a finished run): ".." is then where we came from.
Status remove_deep(int dir_fd, const std::string& shown) {
    UniqueFd fd(fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
    if (!fd) return fail_errno("dup(" + shown + ")");
    size_t depth = 0;
    for (;;) {
        fchmod(fd.get(), S_IRWXU);
        const int list_fd = openat(fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR* dir = list_fd >= 0 ? fdopendir(list_fd) : nullptr;
        if (dir == nullptr) {
            if (list_fd >= 0) close(list_fd);
            return fail_errno("opendir(" + shown + "/...)");
        }
        std::string descend_into;
        Status result;
        while (dirent* entry = readdir(dir)) {
            const std::string name = entry->d_name;
            if (name == "." || name == "..") continue;
            if (unlinkat(fd.get(), name.c_str(), 0) == 0 || errno == ENOENT) continue;
            if (errno != EISDIR && errno != EPERM) {
                result = fail_errno("unlink(" + shown + "/.../" + name + ")");
                break;
            }
            if (unlinkat(fd.get(), name.c_str(), AT_REMOVEDIR) == 0) continue;
            descend_into = name;  // not empty (or not ours to list yet): go down
            break;
        }
        closedir(dir);
        if (!result) return result;
        if (!descend_into.empty()) {
            fchmodat(fd.get(), descend_into.c_str(), S_IRWXU, 0);
            UniqueFd child(openat(fd.get(), descend_into.c_str(),
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!child) return fail_errno("open(" + shown + "/.../" + descend_into + ")");
            fd = std::move(child);
            ++depth;
            continue;
        }
        if (depth == 0) return {};
        UniqueFd parent(openat(fd.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!parent) return fail_errno("open(" + shown + "/.../..)");
        fd = std::move(parent);
        --depth;
    }
}

Status remove_children(int dir_fd, const std::string& shown, size_t depth = 0) {
    if (depth >= kRecursionDepth) return remove_deep(dir_fd, shown);
    // Make sure we may list and unlink entries even if a command chmod'ed the dir.
    fchmod(dir_fd, S_IRWXU);
    const int dup_fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return fail_errno("dup(" + shown + ")");
    DIR* dir = fdopendir(dup_fd);
    if (dir == nullptr) {
        close(dup_fd);
        return fail_errno("opendir(" + shown + ")");
    }
    Status result;
    while (dirent* entry = readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        if (unlinkat(dir_fd, name.c_str(), 0) == 0) continue;
        if (errno != EISDIR && errno != EPERM) {
            if (errno == ENOENT) continue;
            result = fail_errno("unlink(" + join_path(shown, name) + ")");
            break;
        }
        UniqueFd child(
            openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child) {
            // Mode 000 directories cannot be opened until we give ourselves access.
            fchmodat(dir_fd, name.c_str(), S_IRWXU, 0);
            child.reset(
                openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        if (!child) {
            result = fail_errno("open(" + join_path(shown, name) + ")");
            break;
        }
        if (auto st = remove_children(child.get(), join_path(shown, name), depth + 1); !st) {
            result = st;
            break;
        }
        if (unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) != 0) {
            result = fail_errno("rmdir(" + join_path(shown, name) + ")");
            break;
        }
    }
    closedir(dir);
    return result;
}

}  // namespace

Status remove_tree(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return fail_errno("lstat(" + path + ")");
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path.c_str()) != 0) return fail_errno("unlink(" + path + ")");
        return {};
    }
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
        chmod(path.c_str(), S_IRWXU);
        fd.reset(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!fd) return fail_errno("open(" + path + ")");
    if (auto r = remove_children(fd.get(), path); !r) return r;
    if (rmdir(path.c_str()) != 0) return fail_errno("rmdir(" + path + ")");
    return {};
}

Result<AtomicFileWriter> AtomicFileWriter::open(const std::string& path, unsigned mode) {
    std::string tmp =
        path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(random_u64() >> 32);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return fail_errno("open(" + tmp + ")");
    return AtomicFileWriter(path, std::move(tmp), fd);
}

AtomicFileWriter::AtomicFileWriter(std::string path, std::string tmp, int fd)
    : path_(std::move(path)), tmp_(std::move(tmp)), fd_(fd) {}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_(std::move(other.tmp_)),
      buffer_(std::move(other.buffer_)),
      fd_(std::exchange(other.fd_, -1)),
      error_(other.error_) {}

AtomicFileWriter::~AtomicFileWriter() {
    if (fd_ >= 0) {
        ::close(fd_);
        unlink(tmp_.c_str());
    }
}

Status AtomicFileWriter::write_all(std::string_view bytes) {
    size_t done = 0;
    while (error_ == 0 && done < bytes.size()) {
        const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            error_ = n < 0 ? errno : EIO;
        else
            done += static_cast<size_t>(n);
    }
    if (error_ != 0) return fail_errno("write(" + tmp_ + ")", error_);
    return {};
}

Status AtomicFileWriter::flush() {
    auto st = write_all(buffer_);
    buffer_.clear();
    return st;
}

void AtomicFileWriter::write(std::string_view piece) {
    constexpr size_t kBuffered = 1 << 20;
    if (error_ != 0) return;
    if (buffer_.size() + piece.size() < kBuffered) {
        buffer_ += piece;
        return;
    }
    // A large piece goes out as it is, not through a copy in the buffer.
    if (flush()) (void)write_all(piece);
}

Status AtomicFileWriter::commit(Durability durability) {
    if (fd_ < 0) return fail("commit of " + path_ + " twice");
    if (auto st = flush(); !st) return st;
    if (durability == Durability::fsync && fsync(fd_) != 0)
        return fail_errno("fsync(" + tmp_ + ")");
    if (::close(std::exchange(fd_, -1)) != 0) {
        const int err = errno;
        unlink(tmp_.c_str());
        return fail_errno("close(" + tmp_ + ")", err);
    }
    if (rename(tmp_.c_str(), path_.c_str()) != 0) {
        const int err = errno;
        unlink(tmp_.c_str());
        return fail_errno("rename(" + tmp_ + ", " + path_ + ")", err);
    }
    return {};
}

Status write_file_atomically(const std::string& path, std::string_view content, unsigned mode,
                             Durability durability) {
    auto writer = AtomicFileWriter::open(path, mode);
    if (!writer) return std::unexpected(writer.error());
    writer->write(content);
    return writer->commit(durability);
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open(" + path + ")");
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read(" + path + ")");
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

namespace {

Result<std::string> read_open_regular_file(UniqueFd fd, const std::string& path,
                                           uint64_t max_bytes) {
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return fail_errno("fstat(" + path + ")");
    if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > max_bytes)
        return fail(path + " is larger than " + std::to_string(max_bytes) + " bytes: not read");
    std::string out(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = read(fd.get(), out.data() + done, out.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read(" + path + ")");
        if (n == 0) break;
        done += static_cast<size_t>(n);
    }
    out.resize(done);  // it shrank meanwhile; never read past the size it had
    return out;
}

}  // namespace

Result<std::string> read_regular_file(const std::string& path, uint64_t max_bytes) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail_errno("open(" + path + ", O_NOFOLLOW)");
    return read_open_regular_file(std::move(fd), path, max_bytes);
}

Result<std::string> read_file_beneath(const std::string& dir, const std::string& rel,
                                      uint64_t max_bytes) {
    UniqueFd dir_fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd) return fail_errno("open(" + dir + ")");
    open_how how{};
    how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    std::string_view relative = rel;
    while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
    const std::string name(relative.empty() ? "." : relative);
    UniqueFd fd(
        static_cast<int>(syscall(SYS_openat2, dir_fd.get(), name.c_str(), &how, sizeof how)));
    const std::string path = join_path(dir, name);
    if (!fd) return fail_errno("openat2(" + path + ", RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)");
    return read_open_regular_file(std::move(fd), path, max_bytes);
}

Status make_dirs(const std::string& path, unsigned mode) {
    if (path.empty()) return {};
    if (mkdir(path.c_str(), mode) == 0) return {};
    if (errno == ENOENT) {
        // Create the missing parents first, then this one.
        const std::string parent = parent_path(path);
        if (parent != path && parent != "/" && parent != ".")
            if (auto st = make_dirs(parent, mode); !st) return st;
        if (mkdir(path.c_str(), mode) == 0) return {};
    }
    if (errno != EEXIST) return fail_errno("mkdir(" + path + ")");
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(path + " exists and is not a directory");
    return {};
}

std::string join_path(std::string_view base, std::string_view rel) {
    std::string out(base);
    if (rel.empty()) return out;
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    if (out.empty() || out.back() != '/') out += '/';
    out.append(rel);
    return out;
}

bool path_is_within(std::string_view path, std::string_view prefix) {
    if (prefix == "/") return !path.empty() && path.front() == '/';
    if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string parent_path(std::string_view path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return ".";
    if (slash == 0) return "/";
    return std::string(path.substr(0, slash));
}

std::string base_name(std::string_view path) {
    const size_t slash = path.rfind('/');
    if (slash == std::string_view::npos) return std::string(path);
    return std::string(path.substr(slash + 1));
}

}  // namespace whatif::util
