// What a run did to databases, from its captured file effects:
//
//   {"path": "/p/app.db", "engine": "sqlite", "change": "modified|deleted|replaced|created",
//    "tables": [{"name": "users", "change": "dropped|created|altered|rows",
//                "rows_before": 2, "rows_after": null}],
//    "objects": [{"type": "index|view|trigger", "name": "users_by_email",
//                 "change": "dropped|created|altered"}],
//    "error": null}
//   {"path": "/var/lib/postgresql/15/main", "engine": "postgresql|mysql", "change": "modified",
//    "files": 12}                              data directories: named, not read
//   {"path": "/p/cache.db", "engine": "unknown", "change": "deleted"}   *.db that is not SQLite
//
// SQLite files are read with libsqlite3, before (the host's copy) and after (the
// upper layer's): tables, indexes, views and triggers created or dropped, tables
// whose definition changed, and row counts that differ. The host's copy is opened
// immutable (nothing is ever written next to it); where a WAL or rollback journal
// belongs to a copy, both are first copied into `scratch_dir`. Counting stops after
// a fixed amount of work per database: a count it did not finish is null.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "whatif/effects/file_effects.hpp"
#include "whatif/effects/scanner.hpp"

namespace whatif::effects {

nlohmann::json summarize_databases(const FileEffects& files, const std::vector<ScanLayer>& layers,
                                   const std::string& scratch_dir);

// One databases[] entry in words: "in app.db: drops table users (2 rows)".
std::string describe_database(const nlohmann::json& entry);

}  // namespace whatif::effects
