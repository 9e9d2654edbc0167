#include <sys/stat.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "whatif/cli/commands.hpp"
#include "whatif/cli/terminal.hpp"
#include "whatif/effects/content_diff.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/markdown.hpp"
#include "whatif/report/text.hpp"
#include "whatif/store/run_store.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::cli {

namespace {

constexpr uint64_t kMaxDiffBytes = 16 * 1024 * 1024;

using store::LoadedRun;
using store::upper_path_for;

Result<LoadedRun> load_run(store::RunStore& store, const std::string& ref) {
    return store::load_complete_run(store, ref);
}

Result<std::string> read_for_diff(const std::string& path, uint64_t size) {
    if (size > kMaxDiffBytes) return fail("too large to diff (" + util::human_bytes(size) + ")");
    return util::read_file(path);
}

bool selected(const std::string& path, const std::vector<std::string>& filters) {
    if (filters.empty()) return true;
    for (const auto& f : filters)
        if (util::path_is_within(path, f)) return true;
    return false;
}

}  // namespace

int show_command(const ShowOptions& options) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto run = load_run(*store, options.run);
    if (!run) return report_error(run.error());
    const std::string out =
        options.format == ReportFormat::json ? report::render_json(run->set)
        : options.format == ReportFormat::markdown
            ? report::render_markdown(run->set, effects::diff_snippets(
                                                    run->set.files,
                                                    [&](const std::string& p) {
                                                        return store::upper_path_for(*run, p);
                                                    },
                                                    effects::paths_holding_decoy_content(run->set)))
            : report::render_text(run->set, {.color = report::stdout_wants_color()});
    page(out, false);
    return static_cast<int>(ExitCode::allow);
}

int diff_command(const DiffOptions& options) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto run = load_run(*store, options.run);
    if (!run) return report_error(run.error());
    std::vector<std::string> filters;
    for (const auto& p : options.paths) {
        std::string abs = p.front() == '/' ? p : util::join_path(run->set.run.cwd, p);
        while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
        filters.push_back(abs);
    }
    const std::set<std::string> withheld = effects::paths_holding_decoy_content(run->set);
    int problems = 0;
    std::string text;
    auto emit = [&text](const std::string& s) { text += s; };
    for (const auto& e : run->set.files) {
        if (!selected(e.path, filters)) continue;
        const std::string shown = util::shell_quote_for_display(e.path);
        const bool file_before = e.before && e.before->type == effects::FileType::file;
        const bool file_after = e.after && e.after->type == effects::FileType::file;
        if (!file_before && !file_after) {
            if (e.type == effects::FileType::symlink && e.after)
                emit("symlink " + shown + ": " +
                     (e.before && e.before->target
                          ? util::shell_quote_for_display(*e.before->target)
                          : "(none)") +
                     " -> " + util::shell_quote_for_display(e.after->target.value_or("")) + "\n");
            continue;
        }
        if (e.change == effects::Change::metadata) continue;
        // The host file is a credential (the dry run saw a decoy): its secrets stay
        // out of the output, and the decoy's bytes are not what the real run writes.
        if (withheld.contains(e.path)) {
            emit("credential " + shown + " " + std::string(effects::to_string(e.change)) +
                 ": not diffed (the dry run saw a decoy, not the real file)\n");
            continue;
        }
        std::optional<std::string> before, after;
        if (file_before) {
            auto content = read_for_diff(e.path, e.before->size);
            if (!content) {
                emit("cannot diff " + shown + ": " + content.error().message + "\n");
                ++problems;
                continue;
            }
            before = std::move(*content);
        }
        if (file_after) {
            auto content = read_for_diff(upper_path_for(*run, e.path), e.after->size);
            if (!content) {
                emit("cannot diff " + shown + ": " + content.error().message + "\n");
                ++problems;
                continue;
            }
            after = std::move(*content);
        }
        auto diff =
            effects::unified_diff(before ? &*before : nullptr, after ? &*after : nullptr, e.path);
        if (!diff) return report_error(diff.error());
        emit(*diff);
    }
    page(text, true);
    return problems == 0 ? 0 : static_cast<int>(ExitCode::failure);
}

int list_command() {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto runs = store->list();
    if (!runs) return report_error(runs.error());
    for (const auto& run : *runs) {
        const std::string state = store::listed_state(run.meta);
        std::printf("%-20s  %-10s  %-5s  %s\n", run.meta.id.c_str(), state.c_str(),
                    run.meta.verdict.empty() ? "-" : run.meta.verdict.c_str(),
                    util::join_argv_for_display(run.meta.argv).c_str());
    }
    return 0;
}

int discard_command(const std::vector<std::string>& refs) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    // Resolve everything first: one bad id discards nothing.
    std::vector<std::string> ids;
    for (const auto& ref : refs) {
        auto id = store->resolve(ref);
        if (!id) return report_error(id.error());
        ids.push_back(*id);
    }
    for (const auto& id : ids) {
        if (auto st = store->discard(id); !st) return report_error(st.error());
        std::printf("discarded %s\n", id.c_str());
    }
    return 0;
}

int gc_command(std::chrono::milliseconds older_than) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto removed = store->gc(older_than);
    if (!removed) return report_error(removed.error());
    for (const auto& id : *removed) std::printf("removed %s\n", id.c_str());
    return 0;
}

}  // namespace whatif::cli
