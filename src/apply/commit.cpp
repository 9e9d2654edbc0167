#include "whatif/apply/commit.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "whatif/apply/host_fs.hpp"
#include "whatif/apply/plan.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::apply {

using effects::Change;
using effects::FileEffect;
using effects::FileType;
using nlohmann::json;

namespace {

std::string quoted(const std::string& path) {
    return util::shell_quote_for_display(path);
}

std::string now_rfc3339() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

FileType type_of(mode_t m) {
    if (S_ISDIR(m)) return FileType::dir;
    if (S_ISLNK(m)) return FileType::symlink;
    if (S_ISFIFO(m)) return FileType::fifo;
    if (S_ISSOCK(m)) return FileType::socket;
    if (S_ISCHR(m) || S_ISBLK(m)) return FileType::device;
    return FileType::file;
}

int64_t mtime_ns(const struct stat& st) {
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// --- the journal: JSON lines in the run directory ---------------------------------

struct JournalState {
    bool exists = false, complete = false, aborted = false;
    std::vector<size_t> selection;
    bool select_all = false;  // journaled as "all": every effect of the run
    bool keep_privileges = false;
    std::vector<bool> done;  // by op index
    bool is_done(size_t op) const { return op < done.size() && done[op]; }
    std::string finished_at;
};

std::string journal_path(const store::LoadedRun& run) {
    return util::join_path(run.dir, "apply.journal");
}

JournalState read_journal(const store::LoadedRun& run) {
    JournalState state;
    auto text = util::read_file(journal_path(run));
    if (!text) return state;
    state.exists = true;
    size_t start = 0;
    while (start < text->size()) {
        size_t end = text->find('\n', start);
        if (end == std::string::npos) break;  // a torn last line is ignored
        const json line = json::parse(text->substr(start, end - start), nullptr, false);
        start = end + 1;
        if (line.is_discarded()) continue;
        if (auto d = line.find("done"); d != line.end() && d->is_number_unsigned()) {
            const size_t op = d->get<size_t>();
            if (op >= state.done.size()) state.done.resize(op + 1, false);
            state.done[op] = true;
        }
        const std::string event = line.value("event", "");
        if (event == "begin") {
            const auto sel = line.value("selection", json());
            state.select_all = sel.is_string() && sel == "all";
            if (sel.is_array()) state.selection = sel.get<std::vector<size_t>>();
            state.keep_privileges = line.value("keep_privileges", false);
        } else if (event == "complete") {
            state.complete = true;
            state.finished_at = line.value("time", "");
        } else if (event == "aborted") {
            state.aborted = true;
            state.finished_at = line.value("time", "");
        }
    }
    return state;
}

class JournalWriter {
  public:
    static Result<JournalWriter> open(const store::LoadedRun& run) {
        UniqueFd fd(
            ::open(journal_path(run).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (!fd) return fail_errno("open(" + journal_path(run) + ")");
        return JournalWriter(std::move(fd));
    }
    Status append(const json& line, bool durable) {
        const std::string text = line.dump() + "\n";
        if (write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
            return fail_errno("write(apply.journal)");
        if (durable && fdatasync(fd_.get()) != 0) return fail_errno("fdatasync(apply.journal)");
        return {};
    }

  private:
    explicit JournalWriter(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// --- conflicts ---------------------------------------------------------------------

std::optional<std::string> conflict_of(const HostRoot& host, const FileEffect& e,
                                       const std::set<std::string>& created_dirs) {
    auto now = host.lstat(e.path);
    if (!now) return quoted(e.path) + ": " + now.error().message;
    if (!e.before) {
        if (*now) return quoted(e.path) + ": exists now, it did not at the dry run";
        return std::nullopt;
    }
    if (!*now) {
        if (created_dirs.contains(util::parent_path(e.path))) return std::nullopt;
        return quoted(e.path) + ": is gone since the dry run";
    }
    const struct stat& st = **now;
    const auto& b = *e.before;
    if (type_of(st.st_mode) != b.type)
        return quoted(e.path) + ": is now a " + std::string(to_string(type_of(st.st_mode))) +
               ", it was a " + std::string(to_string(b.type));
    char buf[96];
    if ((st.st_mode & 07777) != b.mode) {
        std::snprintf(buf, sizeof buf, ": mode is now %04o, it was %04o", st.st_mode & 07777,
                      b.mode);
        return quoted(e.path) + buf;
    }
    if (st.st_uid != b.uid || st.st_gid != b.gid)
        return quoted(e.path) + ": owner changed since the dry run";
    if (b.type == FileType::file) {
        if (static_cast<uint64_t>(st.st_size) != b.size)
            return quoted(e.path) + ": size is now " + std::to_string(st.st_size) + ", it was " +
                   std::to_string(b.size);
        if (mtime_ns(st) != b.mtime_ns || st.st_ino != b.ino)
            return quoted(e.path) + ": modified since the dry run";
        if (b.hash) {
            auto entry = host.entry(e.path);
            if (!entry) return quoted(e.path) + ": " + entry.error().message;
            if (effects::hash_file_at(entry->parent.get(), entry->name.c_str()) != b.hash)
                return quoted(e.path) + ": content changed since the dry run";
        }
    }
    if (b.type == FileType::dir && (e.change == Change::deleted || e.change == Change::replaced) &&
        mtime_ns(st) != b.mtime_ns)
        return quoted(e.path) + ": entries were added or removed since the dry run";
    if (b.type == FileType::symlink) {
        auto entry = host.entry(e.path);
        if (!entry) return quoted(e.path) + ": " + entry.error().message;
        char target[4096];
        const ssize_t n =
            readlinkat(entry->parent.get(), entry->name.c_str(), target, sizeof target);
        if (n < 0 || std::string(target, static_cast<size_t>(n)) != b.target.value_or(""))
            return quoted(e.path) + ": symlink target changed since the dry run";
    }
    return std::nullopt;
}

// --- executing one operation ------------------------------------------------------

struct Context {
    const store::LoadedRun& run;
    const HostRoot& host;
    bool keep_privileges;
    std::map<dev_t, UniqueFd> filesystems;  // one fd per filesystem written, for syncfs
    size_t privileges_stripped = 0;
};

std::string temp_name(const Context& ctx, size_t effect) {
    return ".whatif-" + ctx.run.meta.id + "-" + std::to_string(effect) + ".tmp";
}

mode_t final_mode(Context& ctx, const effects::FileState& after, bool count) {
    mode_t mode = after.mode & 07777;
    if (!ctx.keep_privileges && (mode & 06000) != 0 && after.type != FileType::dir) {
        mode &= ~static_cast<mode_t>(06000);
        if (count) ++ctx.privileges_stripped;
    }
    return mode;
}

// Owners are set where the caller may: root sets any; others keep their own.
void set_owner(int fd, const char* name_or_null, int dir_fd, const effects::FileState& after) {
    if (geteuid() != 0 && after.uid != geteuid()) return;
    const int rc = name_or_null == nullptr
                       ? fchown(fd, after.uid, after.gid)
                       : fchownat(dir_fd, name_or_null, after.uid, after.gid, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) spdlog::debug("chown: {}", std::strerror(errno));
}

Status copy_contents(int from, int to, const std::string& shown) {
    for (;;) {
        const ssize_t n = copy_file_range(from, nullptr, to, nullptr, 1 << 30, 0);
        if (n > 0) continue;
        if (n == 0) return {};
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return fail_errno("copy_file_range(" + shown + ")");
        break;
    }
    char buf[1 << 16];
    for (;;) {
        const ssize_t n = read(from, buf, sizeof buf);
        if (n < 0) return fail_errno("read(" + shown + ")");
        if (n == 0) return {};
        if (write(to, buf, static_cast<size_t>(n)) != n) return fail_errno("write(" + shown + ")");
    }
}

Status write_temp(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    const std::string source = store::upper_path_for(ctx.run, e.path);
    UniqueFd in(open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st {};
    if (!in || fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return fail("the run's copy of " + quoted(e.path) + " is missing or not a file any more");
    auto entry = ctx.host.entry(e.path);
    if (!entry) return std::unexpected(entry.error());
    const std::string tmp = temp_name(ctx, i);
    unlinkat(entry->parent.get(), tmp.c_str(), 0);
    UniqueFd out(openat(entry->parent.get(), tmp.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out)
        return fail_errno("create " + quoted(util::join_path(util::parent_path(e.path), tmp)));
    if (auto r = copy_contents(in.get(), out.get(), e.path); !r) return r;
    set_owner(out.get(), nullptr, -1, *e.after);
    fchmod(out.get(), final_mode(ctx, *e.after, true));
    // File capabilities travel only with --keep-privileges (setting them needs
    // CAP_SETFCAP: a failure is reported, not hidden).
    char caps[256];
    const ssize_t caps_len = fgetxattr(in.get(), "security.capability", caps, sizeof caps);
    if (caps_len > 0) {
        if (!ctx.keep_privileges)
            ++ctx.privileges_stripped;
        else if (fsetxattr(out.get(), "security.capability", caps, static_cast<size_t>(caps_len),
                           0) != 0)
            return fail_errno("keep the file capabilities of " + quoted(e.path));
    }
    const timespec times[2] = {
        {0, UTIME_OMIT}, {e.after->mtime_ns / 1'000'000'000, e.after->mtime_ns % 1'000'000'000}};
    futimens(out.get(), times);
    struct stat fs {};
    if (fstat(out.get(), &fs) == 0 && !ctx.filesystems.contains(fs.st_dev))
        ctx.filesystems.emplace(fs.st_dev, UniqueFd(dup(out.get())));
    return {};
}

Status place(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    auto entry = ctx.host.entry(e.path);
    if (!entry) return std::unexpected(entry.error());
    const std::string tmp = temp_name(ctx, i);
    if (renameat(entry->parent.get(), tmp.c_str(), entry->parent.get(), entry->name.c_str()) != 0)
        return fail_errno("rename into " + quoted(e.path));
    return {};
}

Status place_special(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    auto entry = ctx.host.entry(e.path);
    if (!entry) return std::unexpected(entry.error());
    const int dir = entry->parent.get();
    const std::string tmp = temp_name(ctx, i);
    unlinkat(dir, tmp.c_str(), 0);
    const auto& a = *e.after;
    int rc = 0;
    switch (a.type) {
        case FileType::symlink:
            rc = symlinkat(a.target.value_or("").c_str(), dir, tmp.c_str());
            break;
        case FileType::fifo:
            rc = mkfifoat(dir, tmp.c_str(), 0600);
            break;
        case FileType::socket: {
            // A socket node is made by bind(); the path goes through the parent's fd.
            const std::string path = "/proc/self/fd/" + std::to_string(dir) + "/" + tmp;
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            if (path.size() >= sizeof addr.sun_path)
                return fail("socket path too long: " + quoted(e.path));
            std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
            UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
            rc = sock ? bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) : -1;
            break;
        }
        default:
            return fail("cannot apply a " + std::string(to_string(a.type)) + ": " + quoted(e.path));
    }
    if (rc != 0) return fail_errno("create " + quoted(e.path));
    if (renameat(dir, tmp.c_str(), dir, entry->name.c_str()) != 0)
        return fail_errno("rename into " + quoted(e.path));
    return {};
}

Status remove_entry(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    auto entry = ctx.host.entry(e.path);
    if (!entry) {
        // The parent went away with an earlier removal: nothing left to do.
        auto st = ctx.host.lstat(e.path);
        if (st && !*st) return {};
        return std::unexpected(entry.error());
    }
    struct stat st {};
    if (fstatat(entry->parent.get(), entry->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return {};  // already done (a resumed apply)
        return fail_errno("lstat(" + quoted(e.path) + ")");
    }
    const int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
    if (unlinkat(entry->parent.get(), entry->name.c_str(), flags) != 0)
        return fail_errno((flags != 0 ? "rmdir(" : "unlink(") + quoted(e.path) + ")");
    return {};
}

Status make_dir(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    auto entry = ctx.host.entry(e.path);
    if (!entry) return std::unexpected(entry.error());
    // 0700 until the metadata step: a read-only new directory must not block its contents.
    if (mkdirat(entry->parent.get(), entry->name.c_str(), 0700) != 0) {
        struct stat st {};
        if (errno == EEXIST &&
            fstatat(entry->parent.get(), entry->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode))
            return {};
        return fail_errno("mkdir(" + quoted(e.path) + ")");
    }
    return {};
}

Status set_metadata(Context& ctx, size_t i) {
    const FileEffect& e = ctx.run.set.files[i];
    if (!e.after) return {};
    auto entry = ctx.host.entry(e.path);
    if (!entry) return std::unexpected(entry.error());
    const auto& a = *e.after;
    const int dir = entry->parent.get();
    const char* name = entry->name.c_str();
    if (a.type == FileType::symlink) {
        set_owner(-1, name, dir, a);
        return {};
    }
    // O_PATH never opens (so never blocks on a FIFO) and never follows the last symlink.
    UniqueFd fd(openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0) return fail_errno("open(" + quoted(e.path) + ")");
    if (type_of(st.st_mode) != a.type) return fail(quoted(e.path) + " changed type during apply");
    const std::string via_proc = "/proc/self/fd/" + std::to_string(fd.get());
    if (geteuid() == 0 || a.uid == geteuid())
        if (chown(via_proc.c_str(), a.uid, a.gid) != 0)
            spdlog::debug("chown({}): {}", e.path, std::strerror(errno));
    if (chmod(via_proc.c_str(), final_mode(ctx, a, e.change == Change::metadata)) != 0)
        return fail_errno("chmod(" + quoted(e.path) + ")");
    if (a.type == FileType::file) {
        const timespec times[2] = {{0, UTIME_OMIT},
                                   {a.mtime_ns / 1'000'000'000, a.mtime_ns % 1'000'000'000}};
        if (utimensat(AT_FDCWD, via_proc.c_str(), times, 0) != 0)
            return fail_errno("utimensat(" + quoted(e.path) + ")");
    }
    return {};
}

Status execute(Context& ctx, const ApplyOp& op) {
    switch (op.kind) {
        case OpKind::remove:
            return remove_entry(ctx, op.effect);
        case OpKind::make_dir:
            return make_dir(ctx, op.effect);
        case OpKind::write_temp:
            return write_temp(ctx, op.effect);
        case OpKind::sync:
            for (auto& [dev, fd] : ctx.filesystems)
                if (syncfs(fd.get()) != 0) return fail_errno("syncfs");
            return {};
        case OpKind::place:
            return place(ctx, op.effect);
        case OpKind::place_special:
            return place_special(ctx, op.effect);
        case OpKind::set_metadata:
            return set_metadata(ctx, op.effect);
    }
    return {};
}

// Temporary names of operations that never finished, left in target directories.
void remove_leftover_temps(const store::LoadedRun& run, const HostRoot& host) {
    for (size_t i = 0; i < run.set.files.size(); ++i) {
        auto entry = host.entry(run.set.files[i].path);
        if (!entry) continue;
        const std::string tmp = ".whatif-" + run.meta.id + "-" + std::to_string(i) + ".tmp";
        unlinkat(entry->parent.get(), tmp.c_str(), 0);
    }
}

}  // namespace

std::vector<std::string> find_conflicts(const store::LoadedRun& run,
                                        const std::vector<size_t>& selected) {
    std::vector<std::string> conflicts;
    auto host = HostRoot::open();
    if (!host) return {host.error().message};
    std::set<std::string> created_dirs;
    for (size_t i : selected) {
        const auto& e = run.set.files[i];
        if (e.after && e.after->type == FileType::dir && e.change != Change::metadata)
            created_dirs.insert(e.path);
    }
    for (size_t i : selected) {
        const auto& e = run.set.files[i];
        // Below a directory this apply creates, nothing exists yet to conflict with.
        if (!e.before && created_dirs.contains(util::parent_path(e.path))) continue;
        if (auto c = conflict_of(*host, e, created_dirs)) conflicts.push_back(*c);
    }
    return conflicts;
}

Result<ApplyOutcome> commit(const store::LoadedRun& run, const ApplyOptions& options) {
    JournalState journal = read_journal(run);
    if (journal.complete)
        return bad_input("run " + run.meta.id + " was already applied (" + journal.finished_at +
                         "); it is never applied twice");
    if (journal.aborted)
        return bad_input("run " + run.meta.id + " had an interrupted apply that was aborted (" +
                         journal.finished_at + "); dry-run the command again");
    auto host = HostRoot::open();
    if (!host) return std::unexpected(host.error());

    ApplyOutcome outcome;
    std::vector<size_t> selected;
    bool keep_privileges = options.keep_privileges;
    if (journal.exists) {
        // An apply was interrupted: finish exactly the same job.
        selected = journal.select_all ? select_effects(run.set, {}, {}) : journal.selection;
        keep_privileges = journal.keep_privileges;
        outcome.resumed = true;
    } else {
        selected = options.selection ? *options.selection
                                     : select_effects(run.set, options.only, options.exclude);
    }
    const ApplyPlan plan = plan_apply(run.set, selected);
    if (!plan.refused.empty()) {
        std::string msg = "refusing to apply device nodes:";
        for (size_t i : plan.refused) msg += "\n  " + quoted(run.set.files[i].path);
        return std::unexpected(Error{ExitCode::deny, msg});
    }
    if (!plan.decoy_content.empty()) {
        std::string msg =
            "refusing to apply files that hold decoy credentials (canaries, not the real "
            "secrets the command would write); nothing was applied. Leave them out with "
            "--exclude, or run the command for real ('whatif exec'):";
        for (size_t i : plan.decoy_content) msg += "\n  " + quoted(run.set.files[i].path);
        return std::unexpected(Error{ExitCode::deny, msg});
    }
    if (!journal.exists) {
        if (selected.empty()) return outcome;
        if (auto conflicts = find_conflicts(run, selected); !conflicts.empty()) {
            if (!options.force) {
                std::string msg =
                    "the host changed since the dry run; nothing was applied (use --force to apply "
                    "anyway):";
                for (const auto& c : conflicts) msg += "\n  " + c;
                return std::unexpected(Error{ExitCode::deny, msg});
            }
            outcome.notes.push_back("applied despite " +
                                    util::plural(conflicts.size(), "conflict", "conflicts") +
                                    " (--force)");
        }
    }
    auto writer = JournalWriter::open(run);
    if (!writer) return std::unexpected(writer.error());
    const bool all = selected.size() == run.set.files.size();
    if (!journal.exists)
        if (auto r = writer->append({{"event", "begin"},
                                     {"time", now_rfc3339()},
                                     {"selection", all ? json("all") : json(selected)},
                                     {"keep_privileges", keep_privileges}},
                                    true);
            !r)
            return std::unexpected(r.error());

    Context ctx{run, *host, keep_privileges, {}, 0};
    for (size_t k = 0; k < plan.ops.size(); ++k) {
        if (journal.is_done(k)) continue;
        // Temporary files of a resumed apply may be gone (renamed): write them again.
        const ApplyOp& op = plan.ops[k];
        if (auto r = execute(ctx, op); !r) {
            if (op.kind == OpKind::place && journal.exists) {
                auto st = host->lstat(run.set.files[op.effect].path);
                if (st && *st) continue;  // renamed before the crash
            }
            return std::unexpected(
                Error::failure(r.error().message + "\nthe apply stopped part way: 'whatif apply " +
                               run.meta.id + "' finishes it, 'whatif apply --abort " + run.meta.id +
                               "' reports what was applied"));
        }
        // Each step is safe to redo, so progress lines need no fsync of their own;
        // the journal is made durable after the visible phases.
        const bool durable = op.kind == OpKind::sync || k + 1 == plan.ops.size();
        if (auto r = writer->append({{"done", k}}, durable); !r) return std::unexpected(r.error());
    }
    remove_leftover_temps(run, *host);
    if (auto r = writer->append({{"event", "complete"}, {"time", now_rfc3339()}}, true); !r)
        return std::unexpected(r.error());
    outcome.effects_applied = selected.size();
    outcome.privileges_stripped = ctx.privileges_stripped;
    return outcome;
}

Result<std::vector<std::string>> abort_apply(const store::LoadedRun& run) {
    JournalState journal = read_journal(run);
    if (!journal.exists)
        return bad_input("run " + run.meta.id + " has no interrupted apply: nothing was applied");
    if (journal.complete)
        return bad_input("run " + run.meta.id + " was applied completely (" + journal.finished_at +
                         ")");
    if (journal.aborted) return bad_input("run " + run.meta.id + " was already aborted");
    const ApplyPlan plan = plan_apply(
        run.set, journal.select_all ? select_effects(run.set, {}, {}) : journal.selection);
    std::vector<std::string> applied;
    for (size_t k = 0; k < plan.ops.size(); ++k) {
        if (!journal.is_done(k)) continue;
        const ApplyOp& op = plan.ops[k];
        if (op.kind == OpKind::write_temp || op.kind == OpKind::sync)
            continue;  // invisible on the host
        applied.push_back(std::string(to_string(op.kind)) + " " +
                          quoted(run.set.files[op.effect].path));
    }
    if (auto host = HostRoot::open()) remove_leftover_temps(run, *host);
    auto writer = JournalWriter::open(run);
    if (!writer) return std::unexpected(writer.error());
    if (auto r = writer->append({{"event", "aborted"}, {"time", now_rfc3339()}}, true); !r)
        return std::unexpected(r.error());
    return applied;
}

}  // namespace whatif::apply
