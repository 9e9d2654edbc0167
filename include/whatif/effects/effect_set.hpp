// The effect set: everything a dry run did, as data (schema whatif/effects/v1).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/util/error.hpp"

namespace whatif::effects {

inline constexpr std::string_view kSchema = "whatif/effects/v1";

enum class FileType { file, dir, symlink, fifo, socket, device };
// About the host: created (did not exist), deleted (existed, gone), modified (same
// type, content differs), metadata (only mode/owner/times differ), replaced (type changed).
enum class Change { created, modified, deleted, metadata, replaced };
enum class Verdict { allow, ask, deny };

std::string_view to_string(FileType t);
std::string_view to_string(Change c);
std::string_view to_string(Verdict v);
std::optional<FileType> file_type_from_string(std::string_view s);
std::optional<Change> change_from_string(std::string_view s);
std::optional<Verdict> verdict_from_string(std::string_view s);

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

struct ProcessRecord {
    int pid = 0, ppid = 0;
    std::vector<std::string> argv;
    std::string exe, cwd;
    std::optional<int> exit_status;
    std::optional<int> signal;
};

struct RunInfo {
    std::string id;
    std::vector<std::string> argv;
    std::string cwd;
    std::string profile = "default";
    std::string net = "none";
    std::string started_at;  // RFC 3339
    int64_t duration_ms = 0;
    std::optional<int> exit_status;
    std::optional<int> signal;
    bool timed_out = false;
};

struct Reason {
    std::string rule;
    Verdict verdict = Verdict::ask;
    std::string message;
    std::vector<std::string> paths;
};

struct Decision {
    Verdict verdict = Verdict::allow;
    std::vector<Reason> reasons;
};

struct Totals {
    uint64_t created = 0, modified = 0, deleted = 0, metadata = 0, replaced = 0;
    uint64_t bytes_added = 0, bytes_removed = 0;
    uint64_t processes = 0, network = 0, secrets = 0;
};

struct EffectSet {
    RunInfo run;
    Decision decision;
    std::vector<FileEffect> files;  // sorted by path
    std::vector<ProcessRecord> processes;
    nlohmann::json network = nlohmann::json::array();
    nlohmann::json secrets = nlohmann::json::array();
    std::vector<std::string> warnings;  // what the scan could not see
};

Totals compute_totals(const EffectSet& set);
// Bytes one effect adds to and removes from the host.
std::pair<uint64_t, uint64_t> bytes_added_removed(const FileEffect& e);

nlohmann::json to_json(const EffectSet& set);
Result<EffectSet> effect_set_from_json(const nlohmann::json& j);

}  // namespace whatif::effects
