#include "whatif/store/run_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>

#include "whatif/util/fs.hpp"
#include "whatif/util/random.hpp"

namespace whatif::store {

using nlohmann::json;

namespace {

constexpr std::array<std::string_view, 4> kStates = {"running", "complete", "failed", "incomplete"};

std::string home_dir() {
    if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') return home;
    if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_dir != nullptr)
        return pw->pw_dir;
    return {};
}

std::string format_utc(std::time_t t, const char* fmt) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, fmt, &tm);
    return buf;
}

// True when the ext2/3/4 filesystem holding `dir_fd` has no journal, as
// /sys/fs/ext4/<device>/journal_task says ("<none>"); false when that cannot be
// told (kernels before 5.10 have no such file).
bool ext4_without_journal(int dir_fd) {
    struct stat st {};
    if (fstat(dir_fd, &st) != 0) return false;
    char link[64];
    snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
    char target[PATH_MAX];
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    const auto journal =
        util::read_file("/sys/fs/ext4/" + util::base_name(target) + "/journal_task");
    return journal && journal->starts_with("<none>");
}

// ext2/3/4 place a new directory in its parent's block group, so run after run
// lands in the same few groups, among the inodes freed there by earlier runs
// (discard removes whole runs) and by whatever else shares the parent. Without a
// journal (some VMs), ext4 skips inodes freed in the last minutes when it
// allocates, and each new inode then costs a walk past all of them: set-up took
// twice as long (21 against 10.5 ms) with the parent's group full of them. There,
// runs/ is marked as a top directory (chattr +T), and its children spread over
// the filesystem's groups (the Orlov allocator). That has a price on a quiet
// filesystem: each run lands in a group whose bitmaps and inode table are not
// cached (a mkdir there took 350 against 22 us, 1.5 disk reads each; about 0.5 ms
// a run). With a journal ext4 skips nothing, so journaled filesystems (most) keep
// the default.
void spread_runs_over_block_groups(const std::string& runs_dir) {
    UniqueFd dir(open(runs_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct statfs fs {};
    if (!dir || fstatfs(dir.get(), &fs) != 0 || fs.f_type != EXT4_SUPER_MAGIC) return;
    int flags = 0;
    if (ioctl(dir.get(), FS_IOC_GETFLAGS, &flags) != 0 || (flags & FS_TOPDIR_FL) != 0) return;
    if (!ext4_without_journal(dir.get())) return;
    flags |= FS_TOPDIR_FL;
    if (ioctl(dir.get(), FS_IOC_SETFLAGS, &flags) != 0) { /* another owner's store: as it is */
    }
}

}  // namespace

std::string listed_state(const RunMeta& meta) {
    if (!meta.applied_at.empty()) return "applied";
    if (meta.state == RunState::complete && !meta.capture_gaps.empty())
        return std::find(meta.capture_gaps.begin(), meta.capture_gaps.end(), "timeout") !=
                       meta.capture_gaps.end()
                   ? "timed-out"
                   : "partial";
    return std::string(to_string(meta.state));
}

std::string_view to_string(RunState s) {
    return kStates[static_cast<size_t>(s)];
}

bool is_valid_run_id(std::string_view id) {
    // YYYYMMDDTHHMMSS-xxxx
    if (id.size() != 20 || id[8] != 'T' || id[15] != '-') return false;
    for (size_t i = 0; i < id.size(); ++i) {
        if (i == 8 || i == 15) continue;
        const char c = id[i];
        if (i < 15 ? !(c >= '0' && c <= '9') : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

Result<RunStore> RunStore::open_default() {
    std::string root;
    if (const char* env = std::getenv("WHATIF_HOME"); env != nullptr && *env != '\0') {
        root = env;
    } else if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg == '/') {
        root = util::join_path(xdg, "whatif");
    } else {
        const std::string home = home_dir();
        if (home.empty()) return fail("cannot find the run store: set WHATIF_HOME or HOME");
        root = util::join_path(home, ".local/state/whatif");
    }
    return open_at(root);
}

Result<RunStore> RunStore::open_at(const std::string& root) {
    const std::string runs = util::join_path(root, "runs");
    if (auto st = util::make_dirs(runs, 0700); !st) return std::unexpected(st.error());
    spread_runs_over_block_groups(runs);
    // A physical path: the sandbox hides the store by mounting over this exact path.
    char* real = realpath(root.c_str(), nullptr);
    if (real == nullptr) return fail_errno("realpath(" + root + ")");
    std::string resolved = real;
    std::free(real);
    // A store is trusted input only from its owner: `sudo -E whatif apply` with a
    // user's WHATIF_HOME would otherwise write, as root, whatever that user put in
    // the store's effect sets and upper layers. Owned by the caller, or by root.
    for (const std::string& dir : {resolved, util::join_path(resolved, "runs")}) {
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) return fail_errno("stat(" + dir + ")");
        if (st.st_uid != geteuid() && st.st_uid != 0)
            return bad_input("the run store " + dir + " belongs to uid " +
                             std::to_string(st.st_uid) +
                             ", not to you: whatif uses only a store of its caller's (or root's); "
                             "set WHATIF_HOME to one of yours");
        if ((st.st_mode & 0022) != 0 && (st.st_mode & S_ISVTX) == 0)
            return bad_input("the run store " + dir +
                             " is writable by others: whatif will not trust what is in it "
                             "(chmod go-w it)");
    }
    return RunStore(resolved);
}

std::string RunStore::run_dir(const std::string& id) const {
    return util::join_path(root_, "runs/" + id);
}

Result<ActiveRun> RunStore::create_run() {
    // Made under a temporary name and locked there, then renamed into place: no
    // one (list, gc, discard) ever sees a run directory that is not yet locked.
    std::string tmpl = util::join_path(root_, "runs/.new-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) return fail_errno("mkdtemp(" + tmpl + ")");
    const std::string staging = tmpl;
    UniqueFd lock(
        open(util::join_path(staging, "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock || flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        util::remove_tree(staging);
        return fail_errno("lock(" + staging + ")", err);
    }
    for (int attempt = 0; attempt < 64; ++attempt) {
        char suffix[8];
        std::snprintf(suffix, sizeof suffix, "%04x",
                      static_cast<unsigned>(util::random_u64() & 0xffff));
        const std::string id = format_utc(std::time(nullptr), "%Y%m%dT%H%M%S") + "-" + suffix;
        const std::string dir = run_dir(id);
        // RENAME_NOREPLACE: same second, same suffix, draw again.
        if (renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, dir.c_str(), RENAME_NOREPLACE) != 0) {
            if (errno == EEXIST) continue;
            const int err = errno;
            util::remove_tree(staging);
            return fail_errno("rename(" + staging + ", " + dir + ")", err);
        }
        return ActiveRun{id, dir, std::move(lock)};
    }
    util::remove_tree(staging);
    return fail("could not allocate a run id in " + root_);
}

Result<std::string> RunStore::resolve(std::string_view ref) const {
    if (ref == "last") {
        auto runs = list();
        if (!runs) return std::unexpected(runs.error());
        if (runs->empty()) return bad_input("there are no runs yet in " + root_);
        return runs->back().meta.id;
    }
    if (!is_valid_run_id(ref))
        return bad_input("'" + std::string(ref) +
                         "' is not a run id (expected e.g. 20261123T205731-3f9c, or 'last')");
    const std::string id(ref);
    if (access(run_dir(id).c_str(), F_OK) != 0) return bad_input("no run " + id + " in " + root_);
    return id;
}

Result<RunMeta> RunStore::load(const std::string& id) const {
    // A run made by someone else (in a store others may write to) is not ours to trust.
    struct stat st {};
    if (lstat(run_dir(id).c_str(), &st) == 0 &&
        (!S_ISDIR(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0)))
        return bad_input("run " + id + " in " + root_ +
                         " is not a directory of yours: whatif will not use it");
    auto meta = load_meta(run_dir(id));
    if (!meta) return meta;
    if (meta->state == RunState::running && !run_is_locked(run_dir(id)))
        meta->state = RunState::incomplete;
    return meta;
}

Result<UniqueFd> RunStore::lock_run(const std::string& id) const {
    UniqueFd lock(open(util::join_path(run_dir(id), "lock").c_str(), O_RDWR | O_CLOEXEC));
    if (!lock) return std::unexpected(Error::bad_input("no run " + id + " in " + root_));
    if (flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
        return std::unexpected(
            Error::bad_input("run " + id + " is in use by another whatif process"));
    return lock;
}

Result<std::vector<RunListing>> RunStore::list() const {
    std::vector<RunListing> out;
    const std::string runs = util::join_path(root_, "runs");
    DIR* dir = opendir(runs.c_str());
    if (dir == nullptr) return fail_errno("opendir(" + runs + ")");
    std::vector<std::string> ids;
    while (dirent* entry = readdir(dir))
        if (is_valid_run_id(entry->d_name)) ids.emplace_back(entry->d_name);
    closedir(dir);
    for (const auto& id : ids) {
        auto meta = load(id);
        RunListing listing;
        if (meta) {
            listing.meta = std::move(*meta);
        } else {
            // Killed before its metadata was written: still listed, so it can be discarded.
            listing.meta.id = id;
            listing.meta.state =
                run_is_locked(run_dir(id)) ? RunState::running : RunState::incomplete;
        }
        listing.dir = run_dir(id);
        out.push_back(std::move(listing));
    }
    std::sort(out.begin(), out.end(), [](const RunListing& a, const RunListing& b) {
        if (a.meta.id.substr(0, 15) != b.meta.id.substr(0, 15)) return a.meta.id < b.meta.id;
        if (a.meta.started_unix_ns != b.meta.started_unix_ns)
            return a.meta.started_unix_ns < b.meta.started_unix_ns;
        return a.meta.id < b.meta.id;
    });
    return out;
}

Status RunStore::discard(const std::string& id) {
    const std::string dir = run_dir(id);
    // Holding the lock while deleting keeps a concurrent whatif from using the run.
    UniqueFd lock(open(util::join_path(dir, "lock").c_str(), O_RDWR | O_CLOEXEC));
    if (lock && flock(lock.get(), LOCK_EX | LOCK_NB) != 0)
        return bad_input("run " + id + " is in progress (a whatif process holds it)");
    // Rename first, so that a half-deleted run is never listed as a run.
    const std::string doomed =
        util::join_path(root_, "runs/.discard-" + id + "-" + std::to_string(getpid()));
    if (rename(dir.c_str(), doomed.c_str()) != 0) return fail_errno("rename(" + dir + ")");
    return util::remove_tree(doomed);
}

Result<std::vector<std::string>> RunStore::gc(std::chrono::milliseconds older_than) {
    auto runs = list();
    if (!runs) return std::unexpected(runs.error());
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t cutoff =
        now_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(older_than).count();
    std::vector<std::string> removed;
    for (const auto& run : *runs) {
        if (run.meta.state == RunState::running) continue;
        int64_t started = run.meta.started_unix_ns;
        if (started == 0) {
            struct stat st {};
            if (stat(run.dir.c_str(), &st) != 0) continue;
            started = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        }
        if (started > cutoff) continue;
        if (auto st = discard(run.meta.id); st) removed.push_back(run.meta.id);
    }
    // Leftovers of a discard that was itself interrupted, and of runs whose whatif
    // died before giving them a name (unlocked: their process is gone).
    if (DIR* dir = opendir(util::join_path(root_, "runs").c_str())) {
        std::vector<std::string> stale;
        while (dirent* e = readdir(dir)) {
            const std::string_view name = e->d_name;
            const std::string path = util::join_path(root_, "runs/" + std::string(name));
            // A fresh .new- is unlocked for an instant, between mkdtemp and flock.
            struct stat st {};
            const bool old_enough =
                stat(path.c_str(), &st) == 0 && st.st_mtime + 60 < std::time(nullptr);
            if (name.starts_with(".discard-") ||
                (name.starts_with(".new-") && old_enough && !run_is_locked(path)))
                stale.emplace_back(name);
        }
        closedir(dir);
        for (const auto& name : stale) util::remove_tree(util::join_path(root_, "runs/" + name));
    }
    return removed;
}

Status reserve_room(const std::string& store_root, size_t bytes) {
    const std::string path = util::join_path(store_root, "reserve");
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && static_cast<size_t>(st.st_size) >= bytes) return {};
    // Made under a temporary name: a half-allocated reserve never counts as one.
    auto tmp = path + ".tmp." + std::to_string(getpid());
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("open(" + tmp + ")");
    const int err = posix_fallocate(fd.get(), 0, static_cast<off_t>(bytes));
    if (err != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
        const int why = err != 0 ? err : errno;
        unlink(tmp.c_str());
        return fail_errno("reserve " + std::to_string(bytes) + " bytes in " + store_root, why);
    }
    return {};
}

void release_room(const std::string& store_root) {
    unlink(util::join_path(store_root, "reserve").c_str());
}

bool filesystem_full(const std::string& dir) {
    struct statvfs fs {};
    if (statvfs(dir.c_str(), &fs) != 0) return false;
    const bool no_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (64u << 10);
    const bool no_inodes = fs.f_files > 0 && fs.f_favail == 0;
    return no_bytes || no_inodes;
}

Status save_meta(const std::string& run_dir, const RunMeta& meta) {
    json layers = json::array();
    for (const auto& l : meta.layers)
        layers.push_back({{"host_mount", l.host_mount}, {"upper", l.upper_dir}});
    json j = {{"id", meta.id},
              {"argv", meta.argv},
              {"cwd", meta.cwd},
              {"started_at", meta.started_at},
              {"started_unix_ns", meta.started_unix_ns},
              {"state", to_string(meta.state)},
              {"error", meta.error},
              {"verdict", meta.verdict},
              {"applied_at", meta.applied_at},
              {"capture_gaps", meta.capture_gaps},
              {"layers", layers}};
    return util::write_file_atomically(
        util::join_path(run_dir, "meta.json"),
        j.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

Result<RunMeta> load_meta(const std::string& run_dir) {
    auto text = util::read_file(util::join_path(run_dir, "meta.json"));
    if (!text) return std::unexpected(text.error());
    try {
        const json j = json::parse(*text);
        RunMeta m;
        m.id = j.at("id").get<std::string>();
        m.argv = j.at("argv").get<std::vector<std::string>>();
        m.cwd = j.at("cwd").get<std::string>();
        m.started_at = j.value("started_at", std::string());
        m.started_unix_ns = j.value("started_unix_ns", int64_t{0});
        const std::string state = j.value("state", std::string("running"));
        for (size_t i = 0; i < kStates.size(); ++i)
            if (kStates[i] == state) m.state = static_cast<RunState>(i);
        m.error = j.value("error", std::string());
        m.verdict = j.value("verdict", std::string());
        m.applied_at = j.value("applied_at", std::string());
        m.capture_gaps = j.value("capture_gaps", std::vector<std::string>{});
        for (const auto& l : j.value("layers", json::array()))
            m.layers.push_back(
                {l.at("host_mount").get<std::string>(), l.at("upper").get<std::string>()});
        return m;
    } catch (const json::exception& e) {
        return fail("malformed " + util::join_path(run_dir, "meta.json") + ": " + e.what());
    }
}

Result<LoadedRun> load_complete_run(const RunStore& store, const std::string& ref) {
    auto id = store.resolve(ref);
    if (!id) return std::unexpected(id.error());
    auto meta = store.load(*id);
    if (!meta) return std::unexpected(meta.error());
    if (meta->state != RunState::complete) {
        std::string why = meta->state == RunState::failed ? ": " + meta->error : "";
        return bad_input("run " + *id + " is " + std::string(to_string(meta->state)) + why +
                         " (it has no effect set; 'whatif discard " + *id + "' removes it)");
    }
    const std::string path = util::join_path(store.run_dir(*id), "effects.json");
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail_errno("open(" + path + ")");
    // Large sets spill next to the run they came from.
    auto set = effects::read_effect_set(in, store.run_dir(*id));
    if (!set) return fail("run " + *id + ": " + set.error().message);
    return LoadedRun{std::move(*meta), store.run_dir(*id), std::move(*set)};
}

std::string upper_path_for(const LoadedRun& run, const std::string& path) {
    const sandbox::Layer* best = nullptr;
    for (const auto& layer : run.meta.layers)
        if (util::path_is_within(path, layer.host_mount) &&
            (best == nullptr || layer.host_mount.size() > best->host_mount.size()))
            best = &layer;
    if (best == nullptr) return {};
    const std::string rel = best->host_mount == "/" ? path : path.substr(best->host_mount.size());
    return util::join_path(util::join_path(run.dir, best->upper_dir), rel);
}

bool run_is_locked(const std::string& run_dir) {
    UniqueFd lock(open(util::join_path(run_dir, "lock").c_str(), O_RDWR | O_CLOEXEC));
    if (!lock) return false;
    if (flock(lock.get(), LOCK_EX | LOCK_NB) == 0) return false;  // released when `lock` closes
    return errno == EWOULDBLOCK;
}

}  // namespace whatif::store
