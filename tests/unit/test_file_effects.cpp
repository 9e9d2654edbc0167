// FileEffects: the compact, spilling list of a run's file effects, and the JSON
// reader that streams files[] into it.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "whatif/effects/effect_set.hpp"
#include "whatif/effects/file_effects.hpp"
#include "whatif/report/json.hpp"
#include "whatif/util/fs.hpp"

using namespace whatif;
using effects::Change;
using effects::FileEffect;
using effects::FileType;

namespace {

// Every field set, some with odd bytes, varying with i.
FileEffect sample(size_t i) {
    FileEffect e;
    e.path = "/proj/d" + std::to_string(i % 97) + "/f\n" + std::to_string(i) + "\xff";
    e.change = static_cast<Change>(i % 5);
    e.type = i % 7 == 0 ? FileType::symlink : FileType::file;
    effects::FileState s;
    s.type = e.type;
    s.size = i * 3;
    s.mode = 0644;
    s.uid = 1000;
    s.gid = static_cast<uint32_t>(i);
    s.mtime_ns = static_cast<int64_t>(i) * 1'000'000'007;
    s.ino = i + 17;
    if (e.type == FileType::symlink) s.target = "target-" + std::to_string(i);
    if (i % 3 == 0) s.hash = 0xabcdef0000000000ULL + i;
    if (e.change != Change::created) e.before = s;
    if (e.change != Change::deleted) {
        s.size += 1;
        e.after = s;
    }
    return e;
}

bool same(const effects::FileState& a, const effects::FileState& b) {
    return a.type == b.type && a.size == b.size && a.mode == b.mode && a.uid == b.uid &&
           a.gid == b.gid && a.mtime_ns == b.mtime_ns && a.ino == b.ino && a.rdev == b.rdev &&
           a.target == b.target && a.hash == b.hash;
}

bool same(const FileEffect& a, const FileEffect& b) {
    if (a.path != b.path || a.change != b.change || a.type != b.type || a.ignored != b.ignored)
        return false;
    if (a.before.has_value() != b.before.has_value() || a.after.has_value() != b.after.has_value())
        return false;
    return (!a.before || same(*a.before, *b.before)) && (!a.after || same(*a.after, *b.after));
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/whatif-fe-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { util::remove_tree(path); }
};

}  // namespace

TEST_CASE("an effect survives encoding exactly; corrupt bytes are refused") {
    for (size_t i = 0; i < 50; ++i) {
        std::string bytes;
        effects::encode_file_effect(sample(i), bytes);
        const auto back = effects::decode_file_effect(bytes);
        REQUIRE(back.has_value());
        CHECK(same(*back, sample(i)));
        CHECK_FALSE(
            effects::decode_file_effect(std::string_view(bytes).substr(0, bytes.size() - 1)));
        CHECK_FALSE(effects::decode_file_effect(bytes + "x"));
    }
    std::string bad;
    effects::encode_file_effect(sample(1), bad);
    bad[4 + sample(1).path.size()] = 9;  // the change byte, out of range
    CHECK_FALSE(effects::decode_file_effect(bad));
}

TEST_CASE("beyond its memory budget the list spills to a file, and reads back the same") {
    TempDir dir;
    effects::FileEffects list;
    list.set_spill_dir(dir.path);
    const size_t n = 120'000;  // well past kMemoryBytes
    for (size_t i = 0; i < n; ++i) list.push_back(sample(i));
    CHECK(list.spilled());
    CHECK_FALSE(list.error().has_value());
    REQUIRE(list.size() == n);
    // Sequential, with the ignored bits kept beside the records.
    list.set_ignored(5, true);
    size_t i = 0, mismatches = 0;
    for (auto it = list.begin(); it != list.end(); ++it, ++i) {
        FileEffect want = sample(i);
        want.ignored = i == 5;
        if (!same(*it, want)) ++mismatches;
        CHECK(it.index() == i);
    }
    CHECK(i == n);
    CHECK(mismatches == 0);
    // Random access, including records still in the write buffer.
    for (size_t k : {size_t{0}, size_t{1}, n / 2, n - 2, n - 1}) CHECK(same(list[k], sample(k)));
    // The spill file is unnamed: nothing is left in the directory.
    CHECK(util::read_file(dir.path + "/x").has_value() == false);
    size_t entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path)) (void)e, ++entries;
    CHECK(entries == 0);
}

TEST_CASE("a spill directory that cannot be written: the error is kept, nothing is lost") {
    effects::FileEffects list;
    list.set_spill_dir("/nonexistent/whatif-spill");
    const size_t n = 80'000;
    for (size_t i = 0; i < n; ++i) list.push_back(sample(i));
    REQUIRE(list.error().has_value());
    CHECK(list.error()->message.find("/nonexistent/whatif-spill") != std::string::npos);
    CHECK_FALSE(list.spilled());
    CHECK(list.size() == n);
    CHECK(same(list[n - 1], sample(n - 1)));
}

TEST_CASE("read_effect_set streams files[] into the list; malformed documents are refused") {
    TempDir dir;
    effects::EffectSet set;
    set.run.id = "20261124T000000-0000";
    set.run.argv = {"sh", "-c", "x"};
    set.run.cwd = "/proj";
    const size_t n = 100'000;
    for (size_t i = 0; i < n; ++i) set.files.push_back(sample(i));
    set.files.set_ignored(7, true);
    const std::string path = dir.path + "/effects.json";
    REQUIRE(report::write_json_file(set, path).has_value());

    std::ifstream in(path);
    auto back = effects::read_effect_set(in, dir.path);
    REQUIRE(back.has_value());
    REQUIRE(back->files.size() == n);
    CHECK(back->files.spilled());
    CHECK(back->files.ignored(7));
    CHECK(same(back->files[n - 1], sample(n - 1)));
    CHECK(back->run.argv == set.run.argv);

    auto read = [](const std::string& text) {
        std::istringstream s(text);
        return effects::read_effect_set(s);
    };
    CHECK_FALSE(read("").has_value());
    CHECK_FALSE(read("{\"schema\": \"whatif/effects/v1\"}").has_value());
    std::string good = report::render_json(effects::EffectSet{});
    CHECK(read(good).has_value());
    std::string files_not_objects = good;
    files_not_objects.replace(files_not_objects.find("\"files\": []"), 11, "\"files\": [1, 2]");
    CHECK(read(files_not_objects).error().message.find("files") != std::string::npos);
    std::string files_object = good;
    files_object.replace(files_object.find("\"files\": []"), 11, "\"files\": {}");
    CHECK_FALSE(read(files_object).has_value());
    std::string bad_mode = good;
    bad_mode.replace(bad_mode.find("\"files\": []"), 11,
                     "\"files\": [{\"path\": \"/a\", \"change\": \"created\", \"type\": \"file\", "
                     "\"before\": null, \"after\": {\"type\": \"file\", \"mode\": \"zz\"}}]");
    CHECK(read(bad_mode).error().message.find("malformed") != std::string::npos);
}
