#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "whatif/store/run_store.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/program.hpp"

using namespace whatif;

namespace {

struct TempStore {
    std::string dir;
    TempStore() {
        char tmpl[] = "/tmp/whatif-store-XXXXXX";
        dir = mkdtemp(tmpl);
    }
    ~TempStore() { util::remove_tree(dir); }
};

}  // namespace

TEST_CASE("run ids: format is checked before any path is built") {
    CHECK(store::is_valid_run_id("20261123T205731-3f9c"));
    CHECK_FALSE(store::is_valid_run_id("20261123T205731-3F9C"));
    CHECK_FALSE(store::is_valid_run_id("../../etc/passwd"));
    CHECK_FALSE(store::is_valid_run_id("20261123T205731-3f9"));
    CHECK_FALSE(store::is_valid_run_id("last"));
}

TEST_CASE("creating, resolving, listing and discarding runs") {
    TempStore tmp;
    auto store = store::RunStore::open_at(tmp.dir);
    REQUIRE(store.has_value());
    CHECK(store->resolve("last").error().code == ExitCode::bad_input);

    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
        auto run = store->create_run();
        REQUIRE(run.has_value());
        store::RunMeta meta;
        meta.id = run->id;
        meta.argv = {"echo", std::to_string(i)};
        meta.started_unix_ns = 1000 + i;
        meta.state = store::RunState::complete;
        REQUIRE(store::save_meta(run->dir, meta).has_value());
        ids.push_back(run->id);
    }
    CHECK(ids[0] != ids[1]);
    auto last = store->resolve("last");
    REQUIRE(last.has_value());
    CHECK(*last == ids[2]);
    CHECK(store->resolve("20000101T000000-0000").error().code == ExitCode::bad_input);
    CHECK(store->resolve("nonsense").error().code == ExitCode::bad_input);

    auto listed = store->list();
    REQUIRE(listed.has_value());
    CHECK(listed->size() == 3);

    REQUIRE(store->discard(ids[1]).has_value());
    CHECK_FALSE(store->resolve(ids[1]).has_value());
    CHECK(store->list()->size() == 2);
}

TEST_CASE("a run whose whatif died is incomplete; a live one cannot be discarded") {
    TempStore tmp;
    auto store = store::RunStore::open_at(tmp.dir);
    REQUIRE(store.has_value());
    std::string abandoned_id;
    {
        auto run = store->create_run();
        REQUIRE(run.has_value());
        store::RunMeta meta;
        meta.id = abandoned_id = run->id;
        meta.state = store::RunState::running;
        REQUIRE(store::save_meta(run->dir, meta).has_value());
        auto live = store->load(run->id);
        REQUIRE(live.has_value());
        CHECK(live->state == store::RunState::running);
        CHECK(store->discard(run->id).error().code == ExitCode::bad_input);
    }  // the lock is released as if whatif had been killed
    auto dead = store->load(abandoned_id);
    REQUIRE(dead.has_value());
    CHECK(dead->state == store::RunState::incomplete);
    CHECK(store->discard(abandoned_id).has_value());
}

TEST_CASE("gc removes old finished runs and keeps new ones") {
    TempStore tmp;
    auto store = store::RunStore::open_at(tmp.dir);
    REQUIRE(store.has_value());
    auto old_run = store->create_run();
    REQUIRE(old_run.has_value());
    store::RunMeta old_meta;
    old_meta.id = old_run->id;
    old_meta.state = store::RunState::complete;
    old_meta.started_unix_ns = 1;  // 1970
    REQUIRE(store::save_meta(old_run->dir, old_meta).has_value());
    old_run->lock.reset();
    auto new_run = store->create_run();
    REQUIRE(new_run.has_value());
    store::RunMeta new_meta;
    new_meta.id = new_run->id;
    new_meta.state = store::RunState::complete;
    new_meta.started_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    REQUIRE(store::save_meta(new_run->dir, new_meta).has_value());
    new_run->lock.reset();
    auto removed = store->gc(std::chrono::hours(24));
    REQUIRE(removed.has_value());
    REQUIRE(removed->size() == 1);
    CHECK(removed->front() == old_run->id);
    CHECK(store->resolve(new_run->id).has_value());
}

namespace {

// An ext4 image of its own, loop-mounted (root only), so that both kinds are tested
// whatever /tmp is.
struct LoopExt4 {
    TempStore tmp;
    std::string image = tmp.dir + "/fs.img", mount_point = tmp.dir + "/mnt";
    bool mounted = false;
    explicit LoopExt4(bool journal) {
        auto succeeds = [](std::vector<std::string> argv) {
            util::ProgramCall call;
            call.argv = std::move(argv);
            const auto r = util::run_program(call);
            return r && r->exit_code == 0;
        };
        std::vector<std::string> mkfs = {"mkfs.ext4", "-q", "-F"};
        if (!journal) mkfs.insert(mkfs.end(), {"-O", "^has_journal"});
        mkfs.push_back(image);
        mounted = truncate_to(image, 32 << 20) && succeeds(mkfs) &&
                  mkdir(mount_point.c_str(), 0755) == 0 &&
                  succeeds({"mount", "-o", "loop", image, mount_point});
    }
    static bool truncate_to(const std::string& path, off_t size) {
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        const bool ok = fd >= 0 && ftruncate(fd, size) == 0;
        if (fd >= 0) close(fd);
        return ok;
    }
    ~LoopExt4() {
        if (mounted) umount2(mount_point.c_str(), MNT_DETACH);
    }
};

bool runs_dir_is_topdir(const std::string& store_dir) {
    const int fd = open((store_dir + "/runs").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    int flags = 0;
    const bool got = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    close(fd);
    return got && (flags & FS_TOPDIR_FL) != 0;
}

}  // namespace

TEST_CASE("runs spread over block groups (chattr +T) on ext4 without a journal, not with one") {
    if (geteuid() != 0) {
        MESSAGE("needs root (loop-mounted ext4 images): skipped");
        return;
    }
    LoopExt4 without_journal(false), with_journal(true);
    if (!without_journal.mounted || !with_journal.mounted) {
        MESSAGE("cannot loop-mount an ext4 image here: skipped");
        return;
    }
    REQUIRE(store::RunStore::open_at(without_journal.mount_point + "/store").has_value());
    CHECK(runs_dir_is_topdir(without_journal.mount_point + "/store"));
    REQUIRE(store::RunStore::open_at(with_journal.mount_point + "/store").has_value());
    CHECK_FALSE(runs_dir_is_topdir(with_journal.mount_point + "/store"));
}

TEST_CASE("atomic file writes keep the order of small and large pieces") {
    TempStore tmp;
    const std::string big(3 << 20, 'b');  // larger than the writer's buffer
    std::string expected;
    auto writer = util::AtomicFileWriter::open(tmp.dir + "/pieces");
    REQUIRE(writer.has_value());
    for (const std::string& piece : {std::string("head\n"), big, std::string("tail\n")}) {
        writer->write(piece);
        expected += piece;
    }
    REQUIRE(writer->commit().has_value());
    CHECK(util::read_file(tmp.dir + "/pieces").value() == expected);

    REQUIRE(util::write_file_atomically(tmp.dir + "/whole", big).has_value());
    CHECK(util::read_file(tmp.dir + "/whole").value() == big);
    struct stat st {};
    REQUIRE(stat((tmp.dir + "/whole").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}
