// A full snapshot of a directory tree: path, type, mode, owner, size, mtime,
// content hash and symlink target of every entry. Two snapshots compare equal
// only if nothing in the tree changed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace whatif::test {

struct EntrySnapshot {
    char type = '?';  // f d l p s c b
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    uint64_t content_hash = 0;
    std::string target;
    bool operator==(const EntrySnapshot&) const = default;
};

using TreeSnapshot = std::map<std::string, EntrySnapshot>;  // relative path -> entry

TreeSnapshot snapshot_tree(const std::string& root);
// "" when equal, else a readable list of the differences.
std::string describe_differences(const TreeSnapshot& before, const TreeSnapshot& after);

}  // namespace whatif::test
