// Host paths opened the only safe way: relative to the root directory fd with
// openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH), so that a
// symlink swapped into a path at any moment makes the operation fail instead of
// writing somewhere else. Every operation then works on (parent fd, final name).
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>

#include "whatif/util/error.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::apply {

struct HostEntry {
    UniqueFd parent;   // O_PATH | O_DIRECTORY fd of the parent directory
    std::string name;  // final component
};

class HostRoot {
  public:
    static Result<HostRoot> open();
    // The parent directory of absolute `path`, resolved without following any symlink.
    Result<HostEntry> entry(const std::string& path) const;
    // lstat of the entry; nullopt when it (or its parent) does not exist.
    Result<std::optional<struct stat>> lstat(const std::string& path) const;

  private:
    explicit HostRoot(UniqueFd root) : root_(std::move(root)) {}
    // The parent's fd, or -1 with errno set.
    int open_parent(const std::string& path) const;
    UniqueFd root_;
};

}  // namespace whatif::apply
