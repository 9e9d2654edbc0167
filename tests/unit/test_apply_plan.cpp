#include <doctest/doctest.h>

#include <map>

#include "whatif/apply/plan.hpp"

using namespace whatif;
using apply::OpKind;
using effects::Change;
using effects::FileType;

namespace {

effects::FileState state(FileType t) {
    effects::FileState s;
    s.type = t;
    s.mode = t == FileType::dir ? 0755 : 0644;
    return s;
}

effects::FileEffect effect(const std::string& path, Change c, std::optional<FileType> before,
                           std::optional<FileType> after) {
    effects::FileEffect e;
    e.path = path;
    e.change = c;
    e.type = after ? *after : *before;
    if (before) e.before = state(*before);
    if (after) e.after = state(*after);
    return e;
}

void put(effects::EffectSet& set, std::initializer_list<effects::FileEffect> effects) {
    for (const auto& e : effects) set.files.push_back(e);
}

std::vector<size_t> all(const effects::EffectSet& set) {
    std::vector<size_t> v;
    for (size_t i = 0; i < set.files.size(); ++i) v.push_back(i);
    return v;
}

// Position of the first op of `kind` on `path`.
size_t position(const effects::EffectSet& set, const apply::ApplyPlan& plan, OpKind kind,
                const std::string& path) {
    for (size_t k = 0; k < plan.ops.size(); ++k)
        if (plan.ops[k].kind == kind && kind != OpKind::sync &&
            set.files[plan.ops[k].effect].path == path)
            return k;
    FAIL("no " << to_string(kind) << " op for " << path);
    return 0;
}

}  // namespace

TEST_CASE(
    "apply order: removals deepest first, creations parents first, modes last deepest first") {
    effects::EffectSet set;
    put(set, {
                 effect("/p/d", Change::replaced, FileType::dir, FileType::file),  // dir -> file
                 effect("/p/d/x", Change::deleted, FileType::file, std::nullopt),
                 effect("/p/d/y", Change::deleted, FileType::dir, std::nullopt),
                 effect("/p/d/y/z", Change::deleted, FileType::file, std::nullopt),
                 effect("/p/f", Change::replaced, FileType::file, FileType::dir),  // file -> dir
                 effect("/p/f/inner", Change::created, std::nullopt, FileType::file),
                 effect("/p/l", Change::replaced, FileType::file,
                        FileType::symlink),  // swapped atomically
                 effect("/p/n", Change::created, std::nullopt, FileType::dir),
                 effect("/p/n/m", Change::created, std::nullopt, FileType::dir),
                 effect("/p/q", Change::created, std::nullopt, FileType::fifo),
             });
    const auto plan = apply::plan_apply(set, all(set));
    CHECK(plan.refused.empty());
    CHECK(position(set, plan, OpKind::remove, "/p/d/y/z") <
          position(set, plan, OpKind::remove, "/p/d/y"));
    CHECK(position(set, plan, OpKind::remove, "/p/d/x") <
          position(set, plan, OpKind::remove, "/p/d"));
    CHECK(position(set, plan, OpKind::remove, "/p/f") <
          position(set, plan, OpKind::make_dir, "/p/f"));
    CHECK(position(set, plan, OpKind::make_dir, "/p/f") <
          position(set, plan, OpKind::place, "/p/f/inner"));
    CHECK(position(set, plan, OpKind::make_dir, "/p/n") <
          position(set, plan, OpKind::make_dir, "/p/n/m"));
    CHECK(position(set, plan, OpKind::remove, "/p/d") < position(set, plan, OpKind::place, "/p/d"));
    CHECK(position(set, plan, OpKind::write_temp, "/p/d") <
          position(set, plan, OpKind::place, "/p/d"));
    CHECK(position(set, plan, OpKind::set_metadata, "/p/n/m") <
          position(set, plan, OpKind::set_metadata, "/p/n"));
    CHECK(position(set, plan, OpKind::place, "/p/f/inner") <
          position(set, plan, OpKind::set_metadata, "/p/f"));
    // A non-directory replacing a non-directory is renamed over it, never removed first.
    for (const auto& op : plan.ops)
        CHECK_FALSE((op.kind == OpKind::remove && set.files[op.effect].path == "/p/l"));
    // One sync between writing contents and renaming them into place.
    size_t syncs = 0, sync_at = 0;
    for (size_t k = 0; k < plan.ops.size(); ++k)
        if (plan.ops[k].kind == OpKind::sync) ++syncs, sync_at = k;
    CHECK(syncs == 1);
    CHECK(sync_at > position(set, plan, OpKind::write_temp, "/p/f/inner"));
    CHECK(sync_at < position(set, plan, OpKind::place, "/p/d"));
}

TEST_CASE("device nodes are refused") {
    effects::EffectSet set;
    put(set, {effect("/dev-like", Change::created, std::nullopt, FileType::device),
              effect("/ok", Change::created, std::nullopt, FileType::file)});
    const auto plan = apply::plan_apply(set, all(set));
    REQUIRE(plan.refused.size() == 1);
    CHECK(plan.refused.front() == 0);
}

TEST_CASE("--only and --exclude select by glob, relative to the run's cwd, adding needed parents") {
    effects::EffectSet set;
    set.run.cwd = "/proj";
    put(set, {
                 effect("/proj/build", Change::created, std::nullopt, FileType::dir),
                 effect("/proj/build/out.o", Change::created, std::nullopt, FileType::file),
                 effect("/proj/src/a.c", Change::modified, FileType::file, FileType::file),
                 effect("/proj/src/b.c", Change::deleted, FileType::file, std::nullopt),
                 effect("/home/u/.bashrc", Change::modified, FileType::file, FileType::file),
             });
    CHECK(apply::select_effects(set, {}, {}).size() == 5);
    CHECK(apply::select_effects(set, {"src/*.c"}, {}) == std::vector<size_t>{2, 3});
    CHECK(apply::select_effects(set, {"src"}, {"src/b.c"}) == std::vector<size_t>{2});
    CHECK(apply::select_effects(set, {}, {"/home/**", "/home/*"}) ==
          std::vector<size_t>{0, 1, 2, 3});
    // The new file needs its new directory, even when the directory was not asked for.
    CHECK(apply::select_effects(set, {"build/out.o"}, {}) == std::vector<size_t>{0, 1});
}
