#include "whatif/effects/effect_set.hpp"

#include <algorithm>
#include <array>
#include <istream>
#include <stdexcept>

#include "whatif/util/strings.hpp"

namespace whatif::effects {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 6> kFileTypes = {"file", "dir",    "symlink",
                                                        "fifo", "socket", "device"};
constexpr std::array<std::string_view, 5> kChanges = {"created", "modified", "deleted", "metadata",
                                                      "replaced"};
constexpr std::array<std::string_view, 3> kVerdicts = {"allow", "ask", "deny"};

template <typename E, size_t N>
std::optional<E> from_table(const std::array<std::string_view, N>& table, std::string_view s) {
    for (size_t i = 0; i < N; ++i)
        if (table[i] == s) return static_cast<E>(i);
    return std::nullopt;
}

// JSON strings must be UTF-8; raw names that are not keep their exact bytes in a
// sibling "<key>_hex".
void put_bytes(json& j, const char* key, const std::string& bytes) {
    if (util::is_valid_utf8(bytes)) {
        j[key] = bytes;
    } else {
        j[key] = util::to_valid_utf8(bytes);
        j[std::string(key) + "_hex"] = util::to_hex(bytes);
    }
}

std::string get_bytes(const json& j, const char* key) {
    if (auto hex = j.find(std::string(key) + "_hex"); hex != j.end() && hex->is_string())
        return util::from_hex(hex->get<std::string>());
    return j.at(key).get<std::string>();
}

std::string mode_string(uint32_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

json optional_int(const std::optional<int>& v) {
    return v ? json(*v) : json(nullptr);
}
std::optional<int> get_optional_int(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return it->get<int>();
}

json state_to_json(const std::optional<FileState>& s) {
    if (!s) return nullptr;
    json j;
    j["type"] = to_string(s->type);
    j["size"] = s->size;
    j["mode"] = mode_string(s->mode);
    j["uid"] = s->uid;
    j["gid"] = s->gid;
    j["mtime_ns"] = s->mtime_ns;
    j["ino"] = s->ino;
    if (s->target)
        put_bytes(j, "target", *s->target);
    else
        j["target"] = nullptr;
    if (s->type == FileType::device) j["rdev"] = s->rdev;
    if (s->hash) {
        char hex[17];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(*s->hash));
        j["hash"] = std::string("xxh3:") + hex;
    }
    return j;
}

std::optional<FileState> state_from_json(const json& j) {
    if (j.is_null()) return std::nullopt;
    FileState s;
    s.type = file_type_from_string(j.at("type").get<std::string>()).value_or(FileType::file);
    s.size = j.value("size", uint64_t{0});
    s.mode = static_cast<uint32_t>(std::stoul(j.value("mode", std::string("0")), nullptr, 8));
    s.uid = j.value("uid", 0u);
    s.gid = j.value("gid", 0u);
    s.mtime_ns = j.value("mtime_ns", int64_t{0});
    s.ino = j.value("ino", uint64_t{0});
    s.rdev = j.value("rdev", uint64_t{0});
    if (j.contains("target") && !j.at("target").is_null()) s.target = get_bytes(j, "target");
    if (auto h = j.find("hash");
        h != j.end() && h->is_string() && h->get<std::string>().starts_with("xxh3:"))
        s.hash = std::stoull(h->get<std::string>().substr(5), nullptr, 16);
    return s;
}

json reason_to_json(const Reason& r) {
    json paths = json::array();
    for (const auto& p : r.paths) paths.push_back(util::to_valid_utf8(p));
    return {{"rule", r.rule},
            {"verdict", to_string(r.verdict)},
            {"message", r.message},
            {"paths", paths}};
}

// run.capture: "complete", or one object per gap (paths and pids only when set).
json capture_to_json(const std::vector<CaptureGap>& capture) {
    if (capture.empty()) return "complete";
    json out = json::array();
    for (const auto& gap : capture) {
        json g = {{"kind", gap.kind}, {"message", util::to_valid_utf8(gap.message)}};
        if (!gap.paths.empty()) {
            json paths = json::array();
            for (const auto& p : gap.paths) paths.push_back(util::to_valid_utf8(p));
            g["paths"] = std::move(paths);
        }
        if (!gap.pids.empty()) g["pids"] = gap.pids;
        out.push_back(std::move(g));
    }
    return out;
}

std::vector<CaptureGap> capture_from_json(const json& run) {
    std::vector<CaptureGap> out;
    if (auto c = run.find("capture"); c != run.end() && c->is_array()) {
        for (const auto& g : *c) {
            CaptureGap gap;
            gap.kind = g.at("kind").get<std::string>();
            gap.message = g.at("message").get<std::string>();
            gap.paths = g.value("paths", std::vector<std::string>{});
            gap.pids = g.value("pids", std::vector<int>{});
            out.push_back(std::move(gap));
        }
        return out;
    }
    if (auto c = run.find("capture"); c != run.end() && !(c->is_string() && *c == "complete"))
        throw std::runtime_error("run.capture is neither \"complete\" nor a list");
    // Stored by an older whatif: one sentence, no kind.
    if (const std::string legacy = run.value("capture_incomplete", std::string()); !legacy.empty())
        out.push_back({"incomplete", legacy, {}, {}});
    return out;
}

json argv_to_json(const std::vector<std::string>& argv) {
    json a = json::array();
    for (const auto& s : argv) a.push_back(util::to_valid_utf8(s));
    return a;
}

}  // namespace

std::string_view to_string(FileType t) {
    return kFileTypes[static_cast<size_t>(t)];
}
std::string_view to_string(Change c) {
    return kChanges[static_cast<size_t>(c)];
}
std::string_view to_string(Verdict v) {
    return kVerdicts[static_cast<size_t>(v)];
}
std::optional<FileType> file_type_from_string(std::string_view s) {
    return from_table<FileType>(kFileTypes, s);
}
std::optional<Change> change_from_string(std::string_view s) {
    return from_table<Change>(kChanges, s);
}
std::optional<Verdict> verdict_from_string(std::string_view s) {
    return from_table<Verdict>(kVerdicts, s);
}

std::pair<uint64_t, uint64_t> bytes_added_removed(const FileEffect& e) {
    const uint64_t before = e.before && e.before->type == FileType::file ? e.before->size : 0;
    const uint64_t after = e.after && e.after->type == FileType::file ? e.after->size : 0;
    switch (e.change) {
        case Change::created:
            return {after, 0};
        case Change::deleted:
            return {0, before};
        case Change::replaced:
            return {after, before};
        case Change::modified:
            return {after > before ? after - before : 0, before > after ? before - after : 0};
        case Change::metadata:
            return {0, 0};
    }
    return {0, 0};
}

std::set<std::string> paths_holding_decoy_content(const EffectSet& set) {
    std::set<std::string> out;
    if (!set.secrets.is_array()) return out;
    for (const auto& s : set.secrets) {
        if (!s.is_object() || field(s, "access") != "written") continue;
        const json& where = field(s, "kind") == "file"   ? field(s, "path")
                            : field(s, "kind") == "leak" ? field(s, "destination")
                                                         : field(s, "none");
        if (where.is_string()) out.insert(where.get<std::string>());
    }
    return out;
}

Totals compute_totals(const EffectSet& set) {
    Totals t;
    for (const auto& e : set.files) {
        switch (e.change) {
            case Change::created:
                ++t.created;
                break;
            case Change::modified:
                ++t.modified;
                break;
            case Change::deleted:
                ++t.deleted;
                break;
            case Change::metadata:
                ++t.metadata;
                break;
            case Change::replaced:
                ++t.replaced;
                break;
        }
        const auto [added, removed] = bytes_added_removed(e);
        t.bytes_added += added;
        t.bytes_removed += removed;
    }
    t.processes = set.processes.size();
    t.network = set.network.size();
    t.secrets = set.secrets.size();
    return t;
}

const json& field(const json& entry, const char* key) {
    static const json absent;
    if (!entry.is_object()) return absent;
    const auto it = entry.find(key);
    return it == entry.end() ? absent : *it;
}

json file_effect_to_json(const FileEffect& e) {
    json f;
    put_bytes(f, "path", e.path);
    f["change"] = to_string(e.change);
    f["type"] = to_string(e.type);
    f["before"] = state_to_json(e.before);
    f["after"] = state_to_json(e.after);
    if (e.ignored) f["ignored"] = true;
    return f;
}

FileEffect file_effect_from_json(const json& f) {
    FileEffect e;
    e.path = get_bytes(f, "path");
    e.change = change_from_string(f.at("change").get<std::string>()).value_or(Change::modified);
    e.type = file_type_from_string(f.at("type").get<std::string>()).value_or(FileType::file);
    e.before = state_from_json(f.at("before"));
    e.after = state_from_json(f.at("after"));
    e.ignored = f.value("ignored", false);
    return e;
}

namespace {

json process_to_json(const ProcessRecord& p) {
    json record = {{"pid", p.pid},
                   {"ppid", p.ppid},
                   {"argv", argv_to_json(p.argv)},
                   {"exe", util::to_valid_utf8(p.exe)},
                   {"cwd", util::to_valid_utf8(p.cwd)},
                   {"exit_status", optional_int(p.exit_status)},
                   {"signal", optional_int(p.signal)}};
    if (p.argv_truncated > 0) record["argv_truncated"] = p.argv_truncated;
    // Arguments that are not UTF-8 keep their exact bytes here.
    if (!std::all_of(p.argv.begin(), p.argv.end(),
                     [](const std::string& a) { return util::is_valid_utf8(a); })) {
        json hex = json::array();
        for (const auto& a : p.argv) hex.push_back(util::to_hex(a));
        record["argv_hex"] = std::move(hex);
    }
    return record;
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Everything but files[], as it is read back.
Status fill_from_json(const json& j, EffectSet& set) {
    try {
        if (!j.is_object() || j.value("schema", std::string()) != kSchema)
            return fail("not a whatif/effects/v1 document");
        const json& r = j.at("run");
        set.run.id = r.at("id").get<std::string>();
        set.run.argv = r.at("argv").get<std::vector<std::string>>();
        set.run.cwd = r.at("cwd").get<std::string>();
        set.run.profile = r.value("profile", std::string("default"));
        set.run.net = r.value("net", std::string("none"));
        set.run.started_at = r.value("started_at", std::string());
        set.run.duration_ms = r.value("duration_ms", int64_t{0});
        set.run.exit_status = get_optional_int(r, "exit_status");
        set.run.signal = get_optional_int(r, "signal");
        set.run.timed_out = r.value("timed_out", false);
        set.run.capture = capture_from_json(r);
        const json& d = j.at("decision");
        set.decision.verdict =
            verdict_from_string(d.at("verdict").get<std::string>()).value_or(Verdict::ask);
        for (const auto& reason : d.at("reasons")) {
            Reason out;
            out.rule = reason.at("rule").get<std::string>();
            out.verdict =
                verdict_from_string(reason.at("verdict").get<std::string>()).value_or(Verdict::ask);
            out.message = reason.at("message").get<std::string>();
            out.paths = reason.value("paths", std::vector<std::string>{});
            set.decision.reasons.push_back(std::move(out));
        }
        for (const auto& p : j.at("processes")) {
            ProcessRecord rec;
            rec.pid = p.at("pid").get<int>();
            rec.ppid = p.at("ppid").get<int>();
            rec.argv = p.at("argv").get<std::vector<std::string>>();
            if (auto hex = p.find("argv_hex"); hex != p.end() && hex->is_array()) {
                rec.argv.clear();
                for (const auto& h : *hex) rec.argv.push_back(util::from_hex(h.get<std::string>()));
            }
            rec.exe = p.value("exe", std::string());
            rec.cwd = p.value("cwd", std::string());
            rec.exit_status = get_optional_int(p, "exit_status");
            rec.signal = get_optional_int(p, "signal");
            rec.argv_truncated = p.value("argv_truncated", uint64_t{0});
            set.processes.push_back(std::move(rec));
        }
        set.network = j.value("network", json::array());
        set.secrets = j.value("secrets", json::array());
        set.signals = j.value("signals", json::array());  // absent in runs of older versions
        set.warnings = j.value("warnings", std::vector<std::string>{});
        set.vcs = j.value("vcs", json::array());  // absent in runs of older versions
        set.databases = j.value("databases", json::array());
        for (const json* a : {&set.network, &set.secrets, &set.signals, &set.vcs, &set.databases}) {
            if (!a->is_array())
                return fail(
                    "malformed effect set: network, secrets, signals, vcs and databases must be "
                    "arrays");
            for (const auto& entry : *a)
                if (!entry.is_object())
                    return fail(
                        "malformed effect set: network, secrets, signals, vcs and databases hold "
                        "objects");
        }
        return {};
    } catch (const std::exception& e) {  // json errors, and std::stoul on a bad mode
        return fail(std::string("malformed effect set: ") + e.what());
    }
}

}  // namespace

void write_json(const EffectSet& set, const std::function<void(std::string_view)>& out) {
    const RunInfo& r = set.run;
    json run = {{"id", r.id},
                {"argv", argv_to_json(r.argv)},
                {"cwd", util::to_valid_utf8(r.cwd)},
                {"profile", r.profile},
                {"net", r.net},
                {"started_at", r.started_at},
                {"duration_ms", r.duration_ms},
                {"exit_status", optional_int(r.exit_status)},
                {"signal", optional_int(r.signal)},
                {"timed_out", r.timed_out},
                {"capture", capture_to_json(r.capture)}};
    // For readers of the first format: the gaps' messages in one string.
    if (!r.capture.empty()) {
        std::string joined;
        for (const auto& gap : r.capture) joined += (joined.empty() ? "" : "; ") + gap.message;
        run["capture_incomplete"] = util::to_valid_utf8(joined);
    }
    json reasons = json::array();
    for (const auto& reason : set.decision.reasons) reasons.push_back(reason_to_json(reason));
    const json decision = {{"verdict", to_string(set.decision.verdict)}, {"reasons", reasons}};
    const Totals t = compute_totals(set);
    const json totals = {{"created", t.created},
                         {"modified", t.modified},
                         {"deleted", t.deleted},
                         {"metadata", t.metadata},
                         {"replaced", t.replaced},
                         {"bytes_added", t.bytes_added},
                         {"bytes_removed", t.bytes_removed},
                         {"processes", t.processes},
                         {"network", t.network},
                         {"secrets", t.secrets}};
    // One top-level key per line, and one array element per line: a million file
    // effects are written one at a time, and stay greppable.
    auto array_lines = [&](const char* key, auto&& each) {
        out(",\n\"");
        out(key);
        out("\": [");
        bool first = true;
        each([&](const json& element) {
            out(first ? "\n  " : ",\n  ");
            out(dump(element));
            first = false;
        });
        out(first ? "]" : "\n]");
    };
    out("{\n\"schema\": ");
    out(dump(json(kSchema)));
    out(",\n\"run\": ");
    out(dump(run));
    out(",\n\"decision\": ");
    out(dump(decision));
    out(",\n\"totals\": ");
    out(dump(totals));
    array_lines("files", [&](auto&& emit) {
        for (const auto& e : set.files) emit(file_effect_to_json(e));
    });
    array_lines("processes", [&](auto&& emit) {
        for (const auto& p : set.processes) emit(process_to_json(p));
    });
    array_lines("network", [&](auto&& emit) {
        for (const auto& n : set.network) emit(n);
    });
    array_lines("secrets", [&](auto&& emit) {
        for (const auto& s : set.secrets) emit(s);
    });
    array_lines("signals", [&](auto&& emit) {
        for (const auto& s : set.signals) emit(s);
    });
    array_lines("vcs", [&](auto&& emit) {
        for (const auto& v : set.vcs) emit(v);
    });
    array_lines("databases", [&](auto&& emit) {
        for (const auto& d : set.databases) emit(d);
    });
    out(",\n\"warnings\": ");
    out(dump(set.warnings));
    out("\n}\n");
}

json to_json(const EffectSet& set) {
    std::string text;
    write_json(set, [&](std::string_view s) { text += s; });
    return json::parse(text);
}

Result<EffectSet> effect_set_from_json(const json& j) {
    EffectSet set;
    if (auto st = fill_from_json(j, set); !st) return std::unexpected(st.error());
    try {
        const json& files = j.at("files");
        if (!files.is_array()) return fail("malformed effect set: files must be an array");
        for (const auto& f : files) set.files.push_back(file_effect_from_json(f));
    } catch (const std::exception& e) {
        return fail(std::string("malformed effect set: ") + e.what());
    }
    return set;
}

Result<EffectSet> read_effect_set(std::istream& in, const std::string& spill_dir) {
    EffectSet set;
    if (!spill_dir.empty()) set.files.set_spill_dir(spill_dir);
    // Each element of files[] goes into the list as soon as it is parsed, and is
    // dropped from the document: memory stays bounded however many there are.
    std::string top_key;
    std::optional<std::string> element_error;
    const auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
        if (event == json::parse_event_t::key && depth == 1) top_key = parsed.get<std::string>();
        if (event == json::parse_event_t::value && depth == 2 && top_key == "files") {
            if (!element_error) element_error = "an element is not an object";
            return false;
        }
        if (event == json::parse_event_t::object_end && depth == 2 && top_key == "files") {
            try {
                set.files.push_back(file_effect_from_json(parsed));
            } catch (const std::exception& e) {
                if (!element_error) element_error = e.what();
            }
            return false;
        }
        return true;
    };
    const json rest = json::parse(in, callback, false);
    if (rest.is_discarded()) return fail("malformed effect set: not valid JSON");
    if (element_error) return fail("malformed effect set: in files[]: " + *element_error);
    if (!rest.is_object() || !rest.contains("files") || !rest["files"].is_array() ||
        !rest["files"].empty())
        return fail("malformed effect set: files must be an array of objects");
    if (auto st = fill_from_json(rest, set); !st) return std::unexpected(st.error());
    if (set.files.error()) return std::unexpected(*set.files.error());
    return set;
}

}  // namespace whatif::effects
