#pragma once

#include <string>
#include <string_view>

#include "whatif/util/error.hpp"

namespace whatif::util {

// Remove a tree that the caller owns, including directories a command left without
// write or search permission (chmod 000) and overlayfs work dirs (mode 000).
Status remove_tree(const std::string& path);

enum class Durability { rename_only, fsync };
// Readers see the old content or the new, never a mix. fsync is for data the user
// cannot re-create; run-store records are re-created by running again.
Status write_file_atomically(const std::string& path, std::string_view content,
                             unsigned mode = 0600, Durability durability = Durability::rename_only);
Result<std::string> read_file(const std::string& path);

// Reading what whatif does not trust (anything a command left in an upper layer):
// a regular file only, opened non-blocking (a FIFO never hangs whatif) and without
// following a symlink (a link to a host file never brings its bytes into the run
// store), at most max_bytes (past that, an error: /dev/zero is no regular file, and
// a huge file is not read). read_regular_file refuses a symlink as the last
// component; read_file_beneath refuses one anywhere below `dir` (openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS).
Result<std::string> read_regular_file(const std::string& path, uint64_t max_bytes);
Result<std::string> read_file_beneath(const std::string& dir, const std::string& rel,
                                      uint64_t max_bytes);

// The same promise for content produced piece by piece (a large effect set): the
// pieces go to a temporary file beside `path`, which commit() renames over it. A
// writer destroyed without commit() removes its temporary file.
class AtomicFileWriter {
  public:
    static Result<AtomicFileWriter> open(const std::string& path, unsigned mode = 0600);
    AtomicFileWriter(AtomicFileWriter&& other) noexcept;
    AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
    ~AtomicFileWriter();
    // Buffered; the first failure is kept and reported by commit().
    void write(std::string_view piece);
    Status commit(Durability durability = Durability::rename_only);

  private:
    AtomicFileWriter(std::string path, std::string tmp, int fd);
    Status flush();
    Status write_all(std::string_view bytes);
    std::string path_, tmp_, buffer_;
    int fd_ = -1;
    int error_ = 0;
};
Status make_dirs(const std::string& path, unsigned mode = 0700);

// "/a/b" + "c" with exactly one slash; rel may be empty.
std::string join_path(std::string_view base, std::string_view rel);
// True when path is prefix itself or lies beneath it (component-wise).
bool path_is_within(std::string_view path, std::string_view prefix);
std::string parent_path(std::string_view path);
std::string base_name(std::string_view path);

}  // namespace whatif::util
