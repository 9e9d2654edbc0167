// The effect set: everything a dry run did, as data (schema whatif/effects/v1).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "whatif/effects/file_effect.hpp"
#include "whatif/effects/file_effects.hpp"
#include "whatif/util/error.hpp"

namespace whatif::effects {

inline constexpr std::string_view kSchema = "whatif/effects/v1";

enum class Verdict { allow, ask, deny };
std::string_view to_string(Verdict v);
std::optional<Verdict> verdict_from_string(std::string_view s);

struct ProcessRecord {
    int pid = 0, ppid = 0;
    std::vector<std::string> argv;
    std::string exe, cwd;
    std::optional<int> exit_status;
    std::optional<int> signal;
    uint64_t argv_truncated = 0;  // arguments past the process log's budget, not kept
};

// Something the dry run could not see, so that what it captured is not all the
// command would do (DESIGN.md: an ALLOW means the dry run saw everything).
// Every stage that notices a gap adds one; policy::decide reads them first and
// never allows a run that has any.
struct CaptureGap {
    // background-processes, timeout, sandbox-refused, store-full, unsupported-mount,
    // unreadable-upper, privileged-exec, hidden-processes, command-failed-early, ...
    std::string kind;
    std::string message;  // one sentence a person understands, said first in the report
    std::vector<std::string> paths;
    std::vector<int> pids;
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
    // Why what was captured is not all the command would do. Empty: the capture
    // is complete. JSON: run.capture, "complete" or the list; stored runs of older
    // versions carry one string, run.capture_incomplete, read as one gap.
    std::vector<CaptureGap> capture;
    void add_gap(CaptureGap gap) { capture.push_back(std::move(gap)); }
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
    FileEffects files;  // in scan order: a directory before what is beneath it
    std::vector<ProcessRecord> processes;
    nlohmann::json network = nlohmann::json::array();
    nlohmann::json secrets = nlohmann::json::array();
    // kill-family calls aimed at processes outside the sandbox: {"signal": 9,
    // "name": "SIGKILL", "target": "-1" (as given: a pid, -PGID, -1), "call": "kill",
    // "pid": sender, "argv": the sender's command line or null}.
    nlohmann::json signals = nlohmann::json::array();
    nlohmann::json vcs = nlohmann::json::array();        // git: refs, history, work trees (vcs.hpp)
    nlohmann::json databases = nlohmann::json::array();  // SQLite and data dirs (databases.hpp)
    std::vector<std::string> warnings;                   // what the scan could not see
};

Totals compute_totals(const EffectSet& set);

// The paths whose content in the run is a decoy's or holds canaries, not what the
// real run would write: a credential file the command changed (secrets[] "file",
// "written") and every file a canary was written to (secrets[] "leak", "written").
// Their bytes are never applied to the host, nor diffed against the real file
// (whose secrets a diff would print).
std::set<std::string> paths_holding_decoy_content(const EffectSet& set);

// A key of a network[], secrets[], signals[], vcs[] or databases[] entry; null when absent.
// (nlohmann's const operator[] on a missing key is undefined behaviour, and these
// entries may come from an effects.json that was edited or damaged.)
const nlohmann::json& field(const nlohmann::json& entry, const char* key);

// The effect set as JSON, written piece by piece to `out`: one top-level key per
// line, one element of each array per line (files[] may hold millions).
void write_json(const EffectSet& set, const std::function<void(std::string_view)>& out);
// Reads an effect set; files[] goes straight into set.files (spilled under
// spill_dir when large), so memory stays bounded. Errors: malformed input.
Result<EffectSet> read_effect_set(std::istream& in, const std::string& spill_dir = {});

// For small documents (tests, fuzzing): the whole set as a DOM, and back.
nlohmann::json to_json(const EffectSet& set);
Result<EffectSet> effect_set_from_json(const nlohmann::json& j);

nlohmann::json file_effect_to_json(const FileEffect& e);
// Throws nlohmann::json exceptions on malformed input.
FileEffect file_effect_from_json(const nlohmann::json& f);

}  // namespace whatif::effects
