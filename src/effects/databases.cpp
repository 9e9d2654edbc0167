#include "whatif/effects/databases.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <type_traits>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::effects {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxCopyBytes = 256ull << 20;  // a version needing a copy, at most
constexpr int kProgressStep = 1000;               // VM instructions per progress call
constexpr long kProgressBudget = 50'000;          // progress calls per database: ~50M instructions

const char* const kCompanions[] = {"-wal", "-journal", "-shm"};
// Databases looked into per run: a command that makes thousands of SQLite files
// is summarized by its file list; this keeps the analysis (and memory) bounded.
constexpr size_t kMaxCandidates = 1000;

bool is_sqlite_file(const std::string& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    char header[16] = {};
    return fd && read(fd.get(), header, sizeof header) == 16 &&
           std::memcmp(header, "SQLite format 3\0", 16) == 0;
}

bool exists_nonempty(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

uint64_t file_size(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// The database a file belongs to: "app.db-wal" belongs to "app.db".
std::string database_of(const std::string& path) {
    for (const char* suffix : kCompanions)
        if (path.ends_with(suffix)) return path.substr(0, path.size() - std::strlen(suffix));
    return path;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool named_like_database(const std::string& path) {
    const std::string name = lower(util::base_name(path));
    return name.ends_with(".db") || name.ends_with(".sqlite") || name.ends_with(".sqlite3") ||
           name.ends_with(".db3");
}

// One version of a database: the main file and the companions that go with it.
struct Version {
    std::string db, wal, journal;  // empty: absent
};

// For SQLite's URI filenames: % ? # and anything unprintable, percent-encoded.
std::string uri_path(const std::string& path) {
    std::string out;
    for (unsigned char c : path) {
        if (c == '%' || c == '?' || c == '#' || c < 0x21 || c > 0x7e) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

struct Schema {
    std::map<std::pair<std::string, std::string>, std::string> objects;  // (type, name) -> sql
    std::map<std::string, std::optional<uint64_t>> rows;                 // table -> count
    std::string error;
};

// libsqlite3 is opened the first time a changed database is read, not linked:
// mapped at every start it cost every whatif invocation about 0.2 ms (dry runs and
// hooks alike), and most runs change no database. It is the same shared library,
// so its security updates still reach whatif.
struct Sqlite {
    decltype(&sqlite3_open_v2) open_v2 = nullptr;
    decltype(&sqlite3_close) close = nullptr;
    decltype(&sqlite3_errmsg) errmsg = nullptr;
    decltype(&sqlite3_progress_handler) progress_handler = nullptr;
    decltype(&sqlite3_prepare_v2) prepare_v2 = nullptr;
    decltype(&sqlite3_step) step = nullptr;
    decltype(&sqlite3_column_text) column_text = nullptr;
    decltype(&sqlite3_column_int64) column_int64 = nullptr;
    decltype(&sqlite3_finalize) finalize = nullptr;
    std::string unavailable;  // why it could not be loaded

    static const Sqlite& get() {
        static const Sqlite api = load();
        return api;
    }

  private:
    static Sqlite load() {
        Sqlite api;
        void* lib = dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) {
            api.unavailable = std::string("not read: libsqlite3 could not be loaded (") +
                              dlerror() + "); install libsqlite3-0";
            return api;
        }
        auto bind = [&](auto& fn, const char* name) {
            fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
            if (fn == nullptr && api.unavailable.empty())
                api.unavailable = std::string("not read: libsqlite3 has no ") + name;
        };
        bind(api.open_v2, "sqlite3_open_v2");
        bind(api.close, "sqlite3_close");
        bind(api.errmsg, "sqlite3_errmsg");
        bind(api.progress_handler, "sqlite3_progress_handler");
        bind(api.prepare_v2, "sqlite3_prepare_v2");
        bind(api.step, "sqlite3_step");
        bind(api.column_text, "sqlite3_column_text");
        bind(api.column_int64, "sqlite3_column_int64");
        bind(api.finalize, "sqlite3_finalize");
        return api;
    }
};

struct Db {
    sqlite3* handle = nullptr;
    ~Db() {
        if (handle != nullptr) Sqlite::get().close(handle);
    }
};

int progress(void* budget) {
    return --*static_cast<long*>(budget) < 0 ? 1 : 0;
}

std::string quoted_identifier(const std::string& name) {
    std::string out = "\"";
    for (char c : name) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
}

Schema read_schema(const std::string& uri, int flags) {
    Schema s;
    const Sqlite& api = Sqlite::get();
    if (!api.unavailable.empty()) {
        s.error = api.unavailable;
        return s;
    }
    Db db;
    if (api.open_v2(uri.c_str(), &db.handle, flags | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
        s.error = db.handle != nullptr ? api.errmsg(db.handle) : "cannot open";
        return s;
    }
    long budget = kProgressBudget;
    api.progress_handler(db.handle, kProgressStep, progress, &budget);
    sqlite3_stmt* stmt = nullptr;
    const char* schema_sql =
        "SELECT type, name, COALESCE(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'";
    if (api.prepare_v2(db.handle, schema_sql, -1, &stmt, nullptr) != SQLITE_OK) {
        s.error = api.errmsg(db.handle);
        return s;
    }
    int rc = SQLITE_OK;
    while ((rc = api.step(stmt)) == SQLITE_ROW) {
        auto text = [&](int col) {
            const unsigned char* t = api.column_text(stmt, col);
            return t != nullptr ? std::string(reinterpret_cast<const char*>(t)) : std::string();
        };
        s.objects[{text(0), text(1)}] = text(2);
    }
    if (rc != SQLITE_DONE) s.error = api.errmsg(db.handle);
    api.finalize(stmt);
    if (!s.error.empty()) return s;
    for (const auto& [key, sql] : s.objects) {
        if (key.first != "table") continue;
        std::optional<uint64_t> count;
        const std::string q = "SELECT count(*) FROM " + quoted_identifier(key.second);
        if (budget > 0 && api.prepare_v2(db.handle, q.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
            if (api.step(stmt) == SQLITE_ROW)
                count = static_cast<uint64_t>(api.column_int64(stmt, 0));
            api.finalize(stmt);
        }
        s.rows[key.second] = count;  // null: the budget ran out (or a virtual table)
    }
    return s;
}

// Opens one version without ever writing beside the original: immutable when it
// is a lone file; otherwise the files are copied into `scratch` first.
Schema read_version(const Version& v, const std::string& scratch) {
    if (v.wal.empty() && v.journal.empty())
        return read_schema("file:" + uri_path(v.db) + "?mode=ro&immutable=1", SQLITE_OPEN_READONLY);
    Schema s;
    const uint64_t total = file_size(v.db) + file_size(v.wal) + file_size(v.journal);
    if (total > kMaxCopyBytes) {
        s.error = "not read: " + util::human_bytes(total) + " with its journal";
        return s;
    }
    util::remove_tree(scratch);
    if (auto st = util::make_dirs(scratch); !st) {
        s.error = st.error().message;
        return s;
    }
    auto copy = [&](const std::string& from, const char* suffix) {
        if (from.empty()) return true;
        auto bytes = util::read_regular_file(from, kMaxCopyBytes);
        return bytes && util::write_file_atomically(scratch + "/db" + suffix, *bytes).has_value();
    };
    if (!copy(v.db, "") || !copy(v.wal, "-wal") || !copy(v.journal, "-journal")) {
        s.error = "cannot copy the database for reading";
    } else {
        // Read-write on the copy: a hot journal must be rolled back to read it.
        s = read_schema("file:" + uri_path(scratch + "/db"), SQLITE_OPEN_READWRITE);
    }
    util::remove_tree(scratch);
    return s;
}

json compare(const Schema& before, const Schema& after) {
    json tables = json::array(), objects = json::array();
    std::set<std::pair<std::string, std::string>> keys;
    for (const auto& [k, sql] : before.objects) keys.insert(k);
    for (const auto& [k, sql] : after.objects) keys.insert(k);
    auto rows = [](const Schema& s, const std::string& name) -> json {
        auto it = s.rows.find(name);
        return it == s.rows.end() || !it->second ? json(nullptr) : json(*it->second);
    };
    for (const auto& key : keys) {
        const auto b = before.objects.find(key), a = after.objects.find(key);
        const bool in_before = b != before.objects.end(), in_after = a != after.objects.end();
        std::string change;
        if (!in_before)
            change = "created";
        else if (!in_after)
            change = "dropped";
        else if (b->second != a->second)
            change = "altered";
        if (key.first != "table") {
            if (!change.empty())
                objects.push_back({{"type", key.first},
                                   {"name", util::to_valid_utf8(key.second)},
                                   {"change", change}});
            continue;
        }
        const json rb = in_before ? rows(before, key.second) : json(nullptr);
        const json ra = in_after ? rows(after, key.second) : json(nullptr);
        if (change.empty() && rb != ra) change = "rows";
        if (change.empty()) continue;
        tables.push_back({{"name", util::to_valid_utf8(key.second)},
                          {"change", change},
                          {"rows_before", rb},
                          {"rows_after", ra}});
    }
    return {{"tables", tables}, {"objects", objects}};
}

// The data directory of a PostgreSQL or MySQL server that `dir` lies in.
class DataDirFinder {
  public:
    std::pair<std::string, std::string> find(const std::string& dir) {  // (root, engine)
        if (dir.empty() || dir == "/") return {};
        if (auto it = cache_.find(dir); it != cache_.end()) return it->second;
        std::pair<std::string, std::string> found;
        struct stat st {};
        if (lstat((dir + "/PG_VERSION").c_str(), &st) == 0 &&
            lstat((dir + "/base").c_str(), &st) == 0)
            found = {dir, "postgresql"};
        else if (lstat((dir + "/ibdata1").c_str(), &st) == 0 ||
                 lstat((dir + "/mysql.ibd").c_str(), &st) == 0)
            found = {dir, "mysql"};
        else
            found = find(util::parent_path(dir));
        cache_.emplace(dir, found);
        return found;
    }

  private:
    std::unordered_map<std::string, std::pair<std::string, std::string>> cache_;
};

// A SQLite database file is whole pages (512 bytes to 64 KiB each) and starts with
// its header: the size rules out almost every file without opening it.
bool may_be_sqlite(const FileEffect& e, const std::vector<ScanLayer>& layers) {
    auto page_sized = [](const std::optional<FileState>& s) {
        return s && s->type == FileType::file && s->size > 0 && s->size % 512 == 0;
    };
    if (page_sized(e.before) && is_sqlite_file(e.path)) return true;
    if (!page_sized(e.after)) return false;
    const std::string upper = upper_path_of(layers, e.path);
    return !upper.empty() && is_sqlite_file(upper);
}

struct Candidate {
    std::optional<Change> db, wal, journal;  // the effects on each file
};

}  // namespace

std::string describe_database(const json& d) {
    const std::string path = d.value("path", ""), engine = d.value("engine", "");
    const std::string change = d.value("change", "modified");
    const std::string name = util::shell_quote_for_display(util::base_name(path));
    if (engine == "postgresql" || engine == "mysql")
        return std::string("changes the ") + (engine == "mysql" ? "MySQL" : "PostgreSQL") +
               " data directory " + util::shell_quote_for_display(path) + " (" +
               util::plural(d.value("files", json(0)).get<uint64_t>(), "file", "files") + ")";
    if (engine != "sqlite") return change + " database file " + name;
    std::vector<std::string> parts;
    auto rows = [](const json& n) { return n.is_number() ? n.get<uint64_t>() : 0; };
    for (const auto& t : d.value("tables", json::array())) {
        const std::string table = util::shell_quote_for_display(t.value("name", ""));
        const std::string how = t.value("change", "");
        const auto before = t.value("rows_before", json()), after = t.value("rows_after", json());
        if (how == "dropped")
            parts.push_back(
                "drops table " + table +
                (before.is_number() ? " (" + util::plural(rows(before), "row", "rows") + ")" : ""));
        else if (how == "created")
            parts.push_back("creates table " + table);
        else if (how == "altered")
            parts.push_back("alters table " + table);
        else if (before.is_number() && after.is_number() && rows(after) < rows(before))
            parts.push_back("deletes " + util::with_thousands(rows(before) - rows(after)) + " of " +
                            util::plural(rows(before), "row", "rows") + " from " + table);
        else if (before.is_number() && after.is_number())
            parts.push_back("adds " + util::plural(rows(after) - rows(before), "row", "rows") +
                            " to " + table);
        else
            parts.push_back("changes the rows of " + table);
    }
    for (const auto& o : d.value("objects", json::array())) {
        const std::string how = o.value("change", "");
        parts.push_back((how == "dropped"   ? "drops "
                         : how == "created" ? "creates "
                                            : "alters ") +
                        o.value("type", "") + " " +
                        util::shell_quote_for_display(o.value("name", "")));
    }
    std::string detail;
    for (size_t i = 0; i < parts.size() && i < 4; ++i) detail += (i == 0 ? "" : "; ") + parts[i];
    if (parts.size() > 4) detail += " and " + util::with_thousands(parts.size() - 4) + " more";
    if (detail.empty()) detail = "rewrites it without changing tables or row counts";
    const std::string verb = change == "deleted"   ? "deletes "
                             : change == "created" ? "creates "
                                                   : "in ";
    std::string out = verb + name + ": " + detail;
    if (d.value("error", json()).is_string()) out += " (" + d["error"].get<std::string>() + ")";
    return out;
}

json summarize_databases(const FileEffects& files, const std::vector<ScanLayer>& layers,
                         const std::string& scratch_dir) {
    std::map<std::string, Candidate> candidates;
    std::map<std::pair<std::string, std::string>, uint64_t> data_dirs;  // (root, engine) -> files
    DataDirFinder finder;
    size_t skipped = 0;
    for (const auto& e : files) {
        const bool file_before = e.before && e.before->type == FileType::file;
        const bool file_after = e.after && e.after->type == FileType::file;
        if (!file_before && !file_after) continue;
        if (auto [root, engine] = finder.find(util::parent_path(e.path)); !root.empty()) {
            ++data_dirs[{root, engine}];
            continue;
        }
        const std::string db = database_of(e.path);
        // A run can change a million files: only the ones that can be a database's
        // main file (named like one, or page-sized and with SQLite's header) or a
        // companion of one are kept for a closer look.
        if (db == e.path && !named_like_database(db) && !may_be_sqlite(e, layers)) continue;
        if (!candidates.contains(db) && candidates.size() >= kMaxCandidates) {
            ++skipped;
            continue;
        }
        Candidate& c = candidates[db];
        if (db == e.path)
            c.db = e.change;
        else if (e.path.ends_with("-wal"))
            c.wal = e.change;
        else if (e.path.ends_with("-journal"))
            c.journal = e.change;
        // -shm holds no data: it only marks the database as worth a look.
    }

    if (skipped > 0)
        spdlog::warn("databases: {} more possible databases not looked into (at most {} per run)",
                     skipped, kMaxCandidates);
    json out = json::array();
    for (const auto& [path, c] : candidates) {
        // Where each file of the database is, before and after the run.
        auto host_version = [&]() {
            Version v;
            v.db = path;
            if (exists_nonempty(path + "-wal")) v.wal = path + "-wal";
            if (exists_nonempty(path + "-journal")) v.journal = path + "-journal";
            return v;
        };
        auto after_file = [&](const std::string& host,
                              const std::optional<Change>& change) -> std::string {
            if (!change) return exists_nonempty(host) ? host : "";
            if (*change == Change::deleted) return "";
            const std::string upper = upper_path_of(layers, host);
            return exists_nonempty(upper) ? upper : "";
        };
        const std::string host_db = path;
        const bool sqlite_before = is_sqlite_file(host_db);
        const std::string after_db = after_file(host_db, c.db);
        const bool sqlite_after = !after_db.empty() && is_sqlite_file(after_db);
        const Change change = c.db.value_or(Change::modified);
        if (!sqlite_before && !sqlite_after) {
            if (named_like_database(path) && c.db)
                out.push_back({{"path", util::to_valid_utf8(path)},
                               {"engine", "unknown"},
                               {"change", to_string(change)}});
            continue;
        }
        Schema before, after;
        if (sqlite_before) before = read_version(host_version(), scratch_dir + "/before");
        if (sqlite_after) {
            Version v;
            v.db = after_db;
            v.wal = after_file(path + "-wal", c.wal);
            v.journal = after_file(path + "-journal", c.journal);
            after = read_version(v, scratch_dir + "/after");
        }
        json entry = compare(before, after);
        entry["path"] = util::to_valid_utf8(path);
        entry["engine"] = "sqlite";
        entry["change"] = to_string(change);
        const std::string error = !before.error.empty()  ? "before: " + before.error
                                  : !after.error.empty() ? "after: " + after.error
                                                         : "";
        entry["error"] = error.empty() ? json(nullptr) : json(util::to_valid_utf8(error));
        out.push_back(std::move(entry));
    }
    for (const auto& [key, count] : data_dirs)
        out.push_back({{"path", util::to_valid_utf8(key.first)},
                       {"engine", key.second},
                       {"change", "modified"},
                       {"files", count}});
    return out;
}

}  // namespace whatif::effects
