// whatif run: the dry run from start to finish, step by step. The run's
// directory, stub credentials, the sandbox, the scan of the upper layers, what
// the changes mean (git, databases), what was observed (processes, network,
// secrets), the decision, the reports, then the prompt.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "whatif/cli/capture.hpp"
#include "whatif/cli/commands.hpp"
#include "whatif/cli/observations.hpp"
#include "whatif/cli/sandbox_request.hpp"
#include "whatif/effects/content_diff.hpp"
#include "whatif/effects/databases.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/effects/vcs.hpp"
#include "whatif/policy/decision.hpp"
#include "whatif/policy/profile.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/markdown.hpp"
#include "whatif/report/text.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/store/run_store.hpp"
#include "whatif/util/fault.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/log.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::cli {

namespace {

std::string rfc3339_now(int64_t& unix_ns) {
    const auto now = std::chrono::system_clock::now();
    unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[64];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>((unix_ns / 1'000'000) % 1000));
    return out;
}

Result<std::string> absolute_cwd(const std::string& requested) {
    std::string dir = requested;
    if (dir.empty()) {
        char buf[PATH_MAX];
        if (getcwd(buf, sizeof buf) == nullptr) return fail_errno("getcwd");
        return std::string(buf);
    }
    char* real = realpath(dir.c_str(), nullptr);
    if (real == nullptr) return bad_input("--cwd " + dir + ": " + std::strerror(errno));
    std::string out = real;
    std::free(real);
    return out;
}

int exit_code_of(const RunOptions& options, const effects::EffectSet& set) {
    if (options.exit_status == ExitStatusMode::command) {
        if (set.run.exit_status) return *set.run.exit_status;
        if (set.run.signal) return 128 + *set.run.signal;
        return static_cast<int>(ExitCode::failure);
    }
    return static_cast<int>(policy::exit_code_for(set.decision.verdict));
}

}  // namespace

int report_error(const Error& error) {
    std::fprintf(stderr, "whatif: %s\n", error.message.c_str());
    return static_cast<int>(error.code);
}

int run_command(const RunOptions& options) {
    if (options.argv.empty())
        return report_error(Error::bad_input(
            "no command given (usage: whatif [run] [OPTIONS] [--] COMMAND [ARG...])"));
    util::log_phase("main");
    auto profile = policy::load_profile(options.profile);
    if (!profile) return report_error(profile.error());
    auto cwd = absolute_cwd(options.cwd);
    if (!cwd) return report_error(cwd.error());
    util::log_phase("profile loaded");
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    if (util::path_is_within(*cwd, store->root()))
        return report_error(Error::bad_input("the working directory " + *cwd +
                                             " is inside the run store " + store->root() +
                                             ", which is hidden in the sandbox"));
    auto active = store->create_run();
    if (!active) return report_error(active.error());

    store::RunMeta meta;
    meta.id = active->id;
    meta.argv = options.argv;
    meta.cwd = *cwd;
    meta.started_at = rfc3339_now(meta.started_unix_ns);
    if (auto st = store::save_meta(active->dir, meta); !st) return report_error(st.error());

    auto fail_run = [&](const Error& e) {
        meta.state = store::RunState::failed;
        meta.error = e.message;
        store::save_meta(active->dir, meta);
        return report_error(e);
    };

    util::log_phase("run created");
    // Stub credentials: secrets in the environment become canaries; credential
    // files are replaced by decoys inside the sandbox. Only canaries are stored.
    auto credentials = stub_credentials(util::join_path(active->dir, "decoys"), *cwd);
    if (!credentials) return fail_run(credentials.error());
    const char* home_env = std::getenv("HOME");
    const std::string home = home_env != nullptr ? home_env : "";
    // Reads of a decoy show up as inotify events on it (the pid is not known).
    DecoyWatch decoy_watch = DecoyWatch::of(credentials->decoys);

    util::log_phase("credentials stubbed");
    sandbox::RunRequest request;
    request.argv = options.argv;
    request.cwd = *cwd;
    request.run_dir = active->dir;
    request.store_dir = store->root();
    request.timeout = options.timeout.value_or(profile->timeout);
    request.background_grace = options.background_grace.value_or(profile->background_grace);
    request.command_is_background = options.background;
    request.command_stdout_to_stderr = options.format == ReportFormat::json;
    request.net = options.net;
    request.progress = isatty(STDERR_FILENO) == 1;
    use_credentials(*credentials, request);
    if (auto st = store::reserve_room(store->root()); !st) return fail_run(st.error());
    auto outcome = sandbox::run(request);
    // Checked before the reserved room goes back: a full store means the
    // command's own writes hit ENOSPC in the upper layer.
    const bool store_filled = store::filesystem_full(active->dir);
    if (store_filled) store::release_room(store->root());
    if (!outcome) return fail_run(outcome.error());
    // Before the scan opens the decoys in the upper layer.
    decoy_watch.collect();
    // Decoys placed in the upper layer are read back from there.
    std::vector<effects::SeededFile> seeded_decoys;
    for (const auto& placed : outcome->stand_ins.files)
        for (auto& d : credentials->decoys)
            if (d.host_path == placed.host_path) {
                d.decoy_path = placed.upper_path;
                seeded_decoys.push_back({placed.host_path, effects::hash_bytes(d.content),
                                         placed.mode, placed.uid, placed.gid});
            }
    util::log_phase("sandbox done");

    // Saved with the run's outcome below (or its failure): a run that ends before
    // that is incomplete, and its layers serve no one.
    for (const auto& layer : outcome->layers)
        meta.layers.push_back({layer.host_mount, layer.upper_dir.substr(active->dir.size() + 1)});

    std::vector<effects::ScanLayer> scan_layers;
    for (const auto& layer : outcome->layers)
        scan_layers.push_back({layer.host_mount, layer.upper_dir});
    util::stop_point("scan");
    const auto scan_started = std::chrono::steady_clock::now();
    std::vector<effects::SeededDir> stand_ins;
    for (const auto& s : outcome->stand_ins.dirs)
        stand_ins.push_back({s.host_path, s.mode, s.uid, s.gid});
    auto scan = effects::scan_upper_layers(scan_layers, active->dir, stand_ins, seeded_decoys);
    if (!scan) return fail_run(scan.error());
    spdlog::info("scan: {} entries, {} effects in {} us", scan->entries_scanned, scan->files.size(),
                 std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::steady_clock::now() - scan_started)
                     .count());
    util::log_phase("scanned");
    effects::EffectSet set;
    set.run.id = active->id;
    set.run.argv = options.argv;
    set.run.cwd = *cwd;
    set.run.profile = profile->name;
    set.run.net = options.net;
    set.run.started_at = meta.started_at;
    set.run.duration_ms = outcome->duration_ms;
    set.run.exit_status = outcome->exit_status;
    set.run.signal = outcome->signal;
    set.run.timed_out = outcome->timed_out;
    record_scan_gaps(*scan, set);
    set.files = std::move(scan->files);
    set.warnings = std::move(scan->warnings);
    // Said on stderr too, and listed first.
    auto warn = [&](const std::string& warning) {
        std::fprintf(stderr, "whatif: %s\n", warning.c_str());
        set.warnings.insert(set.warnings.begin(), warning);
    };
    for (const std::string& w : outcome->mounts_not_overlaid) warn(w);
    record_sandbox_gaps(*outcome, set);
    record_sandbox_refused(active->dir, options.argv, *cwd, *outcome, set);
    // What the changes mean to git repositories and databases (the host's copies
    // against the upper layer's).
    set.vcs = effects::summarize_git(set.files, scan_layers);
    set.databases = effects::summarize_databases(set.files, scan_layers,
                                                 util::join_path(active->dir, "analysis"));
    if (store_filled) {
        warn("the run store's filesystem filled up (" + store->root() +
             "): the command's writes failed with 'No space left on device', so what it "
             "would do is only partly shown; free space there, or set WHATIF_HOME to a larger "
             "filesystem");
        record_store_full(store->root(), set);
    }
    util::log_phase("git and databases summarized");
    record_processes(*outcome, options.argv, *cwd, set);
    record_network(*outcome, set);
    record_secrets(*outcome, scan_layers, *credentials, decoy_watch, set);
    record_signals(*outcome, set);
    util::log_phase("observations recorded");
    set.decision = policy::decide(set, *profile, home);

    if (auto st = report::write_json_file(set, util::join_path(active->dir, "effects.json")); !st)
        return fail_run(st.error());
    util::stop_point("report");
    meta.state = store::RunState::complete;
    for (const auto& gap : set.run.capture) meta.capture_gaps.push_back(gap.kind);
    meta.verdict = std::string(to_string(set.decision.verdict));
    if (auto st = store::save_meta(active->dir, meta); !st) return report_error(st.error());

    util::log_phase("decided");
    // Markdown carries short diffs of changed text files, read from the upper layer.
    std::vector<effects::DiffSnippet> snippets;
    const char* step_summary = std::getenv("GITHUB_STEP_SUMMARY");
    if (options.format == ReportFormat::markdown ||
        (step_summary != nullptr && *step_summary != '\0'))
        snippets = effects::diff_snippets(
            set.files, [&](const std::string& p) { return effects::upper_path_of(scan_layers, p); },
            effects::paths_holding_decoy_content(set));
    // A CI job summary: GitHub Actions shows what is appended to this file.
    if (const char* summary = std::getenv("GITHUB_STEP_SUMMARY");
        summary != nullptr && *summary != '\0') {
        if (FILE* f = std::fopen(summary, "a")) {
            const std::string md = report::render_markdown(set, snippets);
            std::fwrite(md.data(), 1, md.size(), f);
            std::fclose(f);
        }
    }
    if (!options.report_file.empty())
        if (auto st = report::write_json_file(set, options.report_file, 0644); !st)
            return report_error(st.error());
    if (options.format == ReportFormat::json) {
        effects::write_json(set, [](std::string_view piece) {
            std::fwrite(piece.data(), 1, piece.size(), stdout);
        });
    } else if (options.format == ReportFormat::markdown) {
        const std::string md = report::render_markdown(set, snippets);
        std::fwrite(md.data(), 1, md.size(), stdout);
    } else {
        const std::string text = report::render_text(set, {.color = report::stdout_wants_color()});
        std::fwrite(text.data(), 1, text.size(), stdout);
        if (!set.files.empty())
            std::fprintf(stdout, "see: whatif diff %s   discard: whatif discard %s\n",
                         set.run.id.c_str(), set.run.id.c_str());
    }
    util::log_phase("reported");
    std::fflush(stdout);
    const int exit_code = exit_code_of(options, set);
    if (options.no_apply) return exit_code;
    // The prompt needs the run's lock, which this process holds until it returns.
    active->lock.reset();
    const int after_gate = prompt_after_run(set.run.id, options.yes, exit_code);
    return options.exit_status == ExitStatusMode::command && after_gate == 0 ? exit_code
                                                                             : after_gate;
}

}  // namespace whatif::cli
