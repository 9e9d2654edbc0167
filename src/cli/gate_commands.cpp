// The gate: apply (commit what the dry run captured), exec (run it again for real),
// and the prompt after a dry run. Nothing here runs unless a person, a flag or the
// decision allowed it.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "whatif/apply/commit.hpp"
#include "whatif/apply/plan.hpp"
#include "whatif/cli/commands.hpp"
#include "whatif/cli/terminal.hpp"
#include "whatif/policy/decision.hpp"
#include "whatif/store/run_store.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace bp = boost::process;

namespace whatif::cli {

namespace {

bool on_terminal() {
    return isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1;
}

// One line from the terminal, lower-cased and trimmed; "" on EOF.
std::string ask(const std::string& question) {
    std::fprintf(stderr, "%s", question.c_str());
    std::fflush(stderr);
    std::string line;
    if (!std::getline(std::cin, line)) {
        std::fprintf(stderr, "\n");
        return {};
    }
    std::string out;
    for (char c : line)
        if (!isspace(static_cast<unsigned char>(c)))
            out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : fallback;
}

std::string effect_line(const effects::FileEffect& e) {
    std::string change(to_string(e.change));
    change.resize(9, ' ');
    return change + " " + util::shell_quote_for_display(e.path);
}

// $EDITOR on the list of effects; the lines left unchanged are applied.
Result<std::vector<size_t>> edit_selection(const store::LoadedRun& run) {
    char tmpl[] = "/tmp/whatif-edit-XXXXXX.txt";
    const int fd = mkstemps(tmpl, 4);
    if (fd < 0) return fail_errno("mkstemps");
    close(fd);
    const std::string path = tmpl;
    std::map<std::string, size_t> by_line;
    {
        std::ofstream out(path);
        out << "# whatif: the changes of run " << run.meta.id << ".\n"
            << "# Delete the lines of changes you do not want; save and quit to apply the rest.\n";
        for (size_t i = 0; i < run.set.files.size(); ++i) {
            const std::string line = effect_line(run.set.files[i]);
            by_line[line] = i;
            out << line << "\n";
        }
    }
    const int rc = run_tool(env_or("VISUAL", env_or("EDITOR", "vi").c_str()), {path}, "");
    std::ifstream in(path);
    std::vector<size_t> selected;
    for (std::string line; std::getline(in, line);)
        if (auto it = by_line.find(line); it != by_line.end()) selected.push_back(it->second);
    std::remove(path.c_str());
    if (rc != 0)
        return fail("the editor exited with status " + std::to_string(rc) + ": nothing applied");
    return selected;
}

std::string diff_text(const std::string& run_id) {
    // The diff command prints to stdout: capture it by running ourselves.
    bp::ipstream out;
    bp::child c("/proc/self/exe", "diff", run_id, bp::std_out > out, bp::std_err > bp::null);
    std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
    c.wait();
    return text;
}

int do_apply(const store::LoadedRun& run, const apply::ApplyOptions& options) {
    auto outcome = apply::commit(run, options);
    if (!outcome) return report_error(outcome.error());
    store::RunMeta meta = run.meta;
    meta.applied_at = "now";
    if (auto m = store::load_meta(run.dir)) {
        meta = *m;
        std::time_t t = std::time(nullptr);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
        meta.applied_at = buf;
    }
    store::save_meta(run.dir, meta);
    std::fprintf(stderr, "whatif: %s %s from run %s to the host\n",
                 outcome->resumed ? "finished applying" : "applied",
                 util::plural(outcome->effects_applied, "change", "changes").c_str(),
                 run.meta.id.c_str());
    if (outcome->privileges_stripped > 0)
        std::fprintf(stderr,
                     "whatif: removed setuid/setgid bits or file capabilities from %s "
                     "(--keep-privileges keeps them)\n",
                     util::plural(outcome->privileges_stripped, "file", "files").c_str());
    for (const auto& note : outcome->notes) std::fprintf(stderr, "whatif: %s\n", note.c_str());
    return 0;
}

}  // namespace

int apply_command(const ApplyCommandOptions& options) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto id = store->resolve(options.run);
    if (!id) return report_error(id.error());
    // The lock comes before reading the run.
    auto lock = store->lock_run(*id);
    if (!lock) return report_error(lock.error());
    auto run = store::load_complete_run(*store, *id);
    if (!run) return report_error(run.error());
    if (options.abort) {
        auto applied = apply::abort_apply(*run);
        if (!applied) return report_error(applied.error());
        std::printf("%s", applied->empty() ? "nothing had been applied\n" : "");
        for (const auto& line : *applied) std::printf("applied: %s\n", line.c_str());
        return 0;
    }
    if (run->set.decision.verdict == effects::Verdict::deny && !options.force)
        return report_error(
            Error{ExitCode::deny,
                  "run " + run->meta.id + " was denied by its profile; --force applies it anyway"});
    apply::ApplyOptions apply_options;
    apply_options.only = options.only;
    apply_options.exclude = options.exclude;
    apply_options.force = options.force;
    apply_options.keep_privileges = options.keep_privileges;
    if (options.edit) {
        if (!on_terminal()) return report_error(Error::bad_input("--edit needs a terminal"));
        auto selection = edit_selection(*run);
        if (!selection) return report_error(selection.error());
        apply_options.selection = *selection;
    }
    return do_apply(*run, apply_options);
}

int prompt_after_run(const std::string& run_id, bool yes, int decision_exit) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto run = store::load_complete_run(*store, run_id);
    if (!run) return report_error(run.error());
    if (run->set.files.empty()) return decision_exit;
    const auto verdict = run->set.decision.verdict;
    if (verdict == effects::Verdict::deny) return decision_exit;
    if (yes && verdict == effects::Verdict::allow) return do_apply(*run, {});
    if (!on_terminal()) return decision_exit;
    for (;;) {
        const std::string answer =
            ask("Apply these changes to the real filesystem? [y/N/d(iff)/e(dit)] ");
        if (answer == "y" || answer == "yes") return do_apply(*run, {});
        if (answer == "d" || answer == "diff") {
            run_tool(env_or("PAGER", "less -R"), {}, diff_text(run_id));
            continue;
        }
        if (answer == "e" || answer == "edit") {
            auto selection = edit_selection(*run);
            if (!selection) return report_error(selection.error());
            if (selection->empty()) {
                std::fprintf(stderr, "whatif: nothing selected, nothing applied\n");
                return decision_exit;
            }
            const std::string confirm =
                ask("Apply " + util::plural(selection->size(), "change", "changes") + " of " +
                    util::with_thousands(run->set.files.size()) + "? [y/N] ");
            if (confirm != "y" && confirm != "yes") return decision_exit;
            apply::ApplyOptions options;
            options.selection = *selection;
            return do_apply(*run, options);
        }
        std::fprintf(stderr, "whatif: nothing applied (whatif apply %s applies it later)\n",
                     run_id.c_str());
        return decision_exit;
    }
}

int exec_command(const ExecCommandOptions& options) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto run = store::load_complete_run(*store, options.run);
    if (!run) return report_error(run.error());
    const auto& r = run->set.run;
    const auto verdict = run->set.decision.verdict;
    if (verdict == effects::Verdict::deny)
        return report_error(
            Error{ExitCode::deny, "run " + r.id + " was denied: it is not run for real"});
    if (verdict == effects::Verdict::ask && !options.yes) {
        if (!on_terminal())
            return report_error(Error{
                ExitCode::ask, "run " + r.id +
                                   " needs a person's approval: run 'whatif exec' on a terminal, "
                                   "or pass --yes"});
        const std::string answer =
            ask("Run " + util::join_argv_for_display(r.argv) + " for real in " +
                util::shell_quote_for_display(r.cwd) + "? [y/N] ");
        if (answer != "y" && answer != "yes") return static_cast<int>(ExitCode::ask);
    }
    // The original argv and cwd; this call's environment (the store never holds it).
    const std::string& name = r.argv.front();
    const std::string exe =
        name.find('/') == std::string::npos ? bp::search_path(name).string() : name;
    if (exe.empty()) return report_error(Error::failure(name + ": command not found"));
    try {
        bp::child c(exe, bp::args(std::vector<std::string>(r.argv.begin() + 1, r.argv.end())),
                    bp::start_dir(r.cwd));
        c.wait();
        const int status = c.native_exit_code();
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
    } catch (const bp::process_error& e) {
        return report_error(Error::failure(std::string("cannot run ") + name + ": " + e.what()));
    }
}

}  // namespace whatif::cli
