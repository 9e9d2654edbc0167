// One filesystem effect of a dry run: what a host path was before and after.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace whatif::effects {

enum class FileType { file, dir, symlink, fifo, socket, device };
// About the host: created (did not exist), deleted (existed, gone), modified (same
// type, content differs), metadata (only mode/owner/times differ), replaced (type changed).
enum class Change { created, modified, deleted, metadata, replaced };

std::string_view to_string(FileType t);
std::string_view to_string(Change c);
std::optional<FileType> file_type_from_string(std::string_view s);
std::optional<Change> change_from_string(std::string_view s);

struct FileState {
    FileType type = FileType::file;
    uint64_t size = 0;
    uint32_t mode = 0;  // permission bits and setuid/setgid/sticky (07777)
    uint32_t uid = 0, gid = 0;
    int64_t mtime_ns = 0;
    uint64_t ino = 0;
    uint64_t rdev = 0;                  // devices only
    std::optional<std::string> target;  // symlinks only, raw bytes
    std::optional<uint64_t> hash;       // regular files on the host: XXH3-64 of the content
};

struct FileEffect {
    std::string path;  // absolute host path, raw bytes (may hold newlines, invalid UTF-8)
    Change change = Change::created;
    FileType type = FileType::file;  // after the change; before it for deletions
    std::optional<FileState> before, after;
    bool ignored = false;  // matched the profile's ignore globs: in JSON, not in the text report
};

// Bytes one effect adds to and removes from the host.
std::pair<uint64_t, uint64_t> bytes_added_removed(const FileEffect& e);

}  // namespace whatif::effects
