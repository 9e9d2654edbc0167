// Reads overlay upper layers against the host and classifies every difference. It
// walks only the upper layers (and host subtrees that were deleted), so its cost
// grows with what the command changed, not with the size of the disk.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/effects/effect_set.hpp"
#include "whatif/util/error.hpp"

namespace whatif::effects {

struct ScanLayer {
    std::string host_root;  // where the layer's lower filesystem is on the host
    std::string upper_dir;  // the overlay upper directory
};

// Where host `path` lives in the upper layers: in the layer of the deepest mount
// holding it ("" if none does). The file exists there only if the run changed it.
std::string upper_path_of(const std::vector<ScanLayer>& layers, const std::string& path);

struct ScanResult {
    FileEffects files;  // DFS pre-order: a directory before what is beneath it; names sorted
    std::vector<std::string> warnings;
    // Host paths where the scan could not see what the command did (an upper dir it
    // could not read, a tree too deep): each is also a warning; together, a capture
    // gap (unreadable-upper).
    std::vector<std::string> unseen;
    uint64_t entries_scanned = 0;
};

// A directory whatif itself put in an upper layer before the run, with this owner
// and mode (sandbox/stand_ins.hpp): its own metadata is compared with these, not
// with the host's; a difference is the command's doing, reported against the host.
struct SeededDir {
    std::string path;  // host path
    uint32_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// A file whatif put in an upper layer before the run in place of the host's (a
// credential decoy, sandbox/stand_ins.hpp): left as it was given, it is no effect;
// with other content it is `modified` against the host file; with another owner,
// mode or mtime (the host's mtime was given), `metadata`.
struct SeededFile {
    std::string path;   // host path
    uint64_t hash = 0;  // XXH3-64 of the content it was given
    uint32_t mode = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};

// spill_dir: where the findings may spill to disk when they are many (the run
// directory); empty: $TMPDIR.
Result<ScanResult> scan_upper_layers(const std::vector<ScanLayer>& layers,
                                     const std::string& spill_dir = {},
                                     const std::vector<SeededDir>& seeded = {},
                                     const std::vector<SeededFile>& seeded_files = {});

// XXH3-64 of bytes in memory (what hash_file_at gives for a file of them).
uint64_t hash_bytes(std::string_view bytes);

// XXH3-64 of a file's content, opened relative to dir_fd without following
// symlinks; nullopt when it cannot be read.
std::optional<uint64_t> hash_file_at(int dir_fd, const char* name);

}  // namespace whatif::effects
