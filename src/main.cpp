// The command line (DESIGN.md, "The command-line contract"): parse, dispatch, map
// errors to exit codes. Bad usage is exit 2, always with one clear message.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "whatif/cli/commands.hpp"
#include "whatif/util/duration.hpp"
#include "whatif/util/log.hpp"

namespace {

using whatif::ExitCode;

const std::set<std::string> kSubcommands = {"run",     "show",  "diff",  "list",
                                            "discard", "gc",    "apply", "exec",
                                            "explore", "check", "hook",  "profiles"};

// run's options that take a value (the next word).
const std::set<std::string> kRunOptionsWithValue = {
    "-p",        "--profile",     "--net", "--format", "--report",
    "--timeout", "--exit-status", "-C",    "--cwd",    "--background-grace"};

// "whatif [run] ... COMMAND": "run" may be left out. Options before a "run" belong
// to it ("whatif -vv run -- true"); before any other word, that word is the command.
std::vector<std::string> with_implicit_run(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) return args;
    const std::string& first = args.front();
    // "whatif help [SUBCOMMAND]": the help that --help prints.
    if (first == "help") {
        if (args.size() > 1 && kSubcommands.contains(args[1])) return {args[1], "--help"};
        return {"--help"};
    }
    if (kSubcommands.contains(first) || first == "-h" || first == "--help" ||
        first == "--version" || first == "-V")
        return args;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool option = a.size() > 1 && a.front() == '-' && a != "--";
        if (!option) {
            if (a == "run") args.erase(args.begin() + static_cast<long>(i));
            break;
        }
        if (kRunOptionsWithValue.contains(a)) ++i;
    }
    args.insert(args.begin(), "run");
    return args;
}

// Splits "run [OPTIONS] [--] COMMAND [ARG...]" where the command begins: at "--",
// or at the first word that is neither an option nor an option's value. CLI11 then
// parses and validates the options alone; the command's words are never parsed.
std::vector<std::string> split_off_command(std::vector<std::string>& args) {
    if (!args.empty() && args.front() == "explore") {
        // "explore [RUN] [OPTIONS] -- COMMAND": only "--" starts the command.
        auto dashes = std::find(args.begin(), args.end(), "--");
        if (dashes == args.end()) return {};
        std::vector<std::string> command(dashes + 1, args.end());
        args.erase(dashes, args.end());
        return command;
    }
    if (args.empty() || args.front() != "run") return {};
    for (size_t i = 1; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--") {
            std::vector<std::string> command(args.begin() + static_cast<long>(i) + 1, args.end());
            args.resize(i);
            return command;
        }
        if (a.size() > 1 && a.front() == '-') {
            if (kRunOptionsWithValue.contains(a)) ++i;  // its value follows
            continue;
        }
        std::vector<std::string> command(args.begin() + static_cast<long>(i), args.end());
        args.resize(i);
        return command;
    }
    return {};
}

CLI::Validator duration_check() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            auto d = whatif::util::parse_duration(text);
            return d ? std::string() : d.error().message;
        },
        "DURATION");
}

}  // namespace

int main(int argc, char** argv) {
    whatif::util::mark_start();
    CLI::App app{
        "whatif: run a command in a disposable copy of the machine and see what it would do"};
    app.set_version_flag("-V,--version", std::string("whatif ") + WHATIF_VERSION);
    app.require_subcommand(0, 1);
    app.footer(
        "Examples:\n"
        "  whatif -- rm -rf build/          dry-run a command, show what it would change\n"
        "  whatif --format json -- make     the effect set as JSON on stdout\n"
        "  whatif show last                 the report of the newest run\n"
        "  whatif diff last src/            content diffs of what it changed under src/\n"
        "\nExit codes: 0 allow, 1 whatif failed, 2 bad usage or input, 3 ask, 4 deny.");
    int verbosity = 0;
    std::vector<std::string> args = with_implicit_run(argc, argv);
    // Only the subcommand named is built (its options cost about 0.1 ms of every
    // dry run); every one for help, and when the first word names none.
    const bool one_subcommand = !args.empty() && kSubcommands.contains(args.front());
    auto wanted = [&](const char* name) { return !one_subcommand || args.front() == name; };
    auto chosen = [](const CLI::App* sub) { return sub != nullptr && sub->parsed(); };

    whatif::cli::RunOptions run_options;
    std::string format = "text", exit_status = "decision", timeout, background_grace;
    CLI::App* run = nullptr;
    if (wanted("run")) {
        run = app.add_subcommand("run", "dry-run COMMAND (\"run\" may be left out)");
        run->add_option("-p,--profile", run_options.profile,
                        "policy profile: a NAME (whatif profiles) or a FILE");
        run->add_option("--net", run_options.net,
                        "network: stub (default: nothing leaves, every attempt recorded), none "
                        "(loopback only, connections refused), host (the real network)")
            ->check(CLI::IsMember({"stub", "none", "host"}));
        run->add_flag("-n,--no-apply", run_options.no_apply,
                      "never apply or prompt (no prompt anyway when stdin is not a terminal)");
        run->add_flag("-y,--yes", run_options.yes,
                      "apply without asking when the decision is allow");
        run->add_option("--format", format, "report format")
            ->check(CLI::IsMember({"text", "json", "markdown"}));
        run->add_option("--report", run_options.report_file,
                        "also write the JSON effect set to FILE");
        run->add_option("--timeout", timeout,
                        "kill the dry run after DURATION (e.g. 30s, 5m; default 30m)")
            ->check(duration_check());
        run->add_option("--background-grace", background_grace,
                        "how long processes the command leaves running may go on before they "
                        "are killed and reported (default from the profile, 3s)")
            ->check(duration_check());
        run->add_flag("--background", run_options.background,
                      "the command is meant to run in the background (a server, a watcher): "
                      "it gets the grace period from its start");
        run->add_option("--exit-status", exit_status, "what the exit code means")
            ->check(CLI::IsMember({"decision", "command"}));
        run->add_option("-C,--cwd", run_options.cwd, "run in DIR");
        run->add_flag("-v,--verbose", verbosity, "more logging on stderr (repeatable)");
        run->footer("Example: whatif run --timeout 1m -- sh -c 'make && make install'");
    }

    whatif::cli::ShowOptions show_options;
    std::string show_format = "text";
    CLI::App* show = nullptr;
    if (wanted("show")) {
        show = app.add_subcommand("show", "the report of a stored run");
        show->add_option("run", show_options.run, "run id, or 'last' (default)");
        show->add_option("--format", show_format, "report format")
            ->check(CLI::IsMember({"text", "json", "markdown"}));
        show->add_flag("-v,--verbose", verbosity);
        show->footer("Example: whatif show last --format json");
    }

    whatif::cli::DiffOptions diff_options;
    CLI::App* diff = nullptr;
    if (wanted("diff")) {
        diff = app.add_subcommand("diff", "unified diffs of the text files a run changed");
        diff->add_option("run", diff_options.run, "run id, or 'last' (default)");
        diff->add_option("paths", diff_options.paths,
                         "only paths under these (relative to the run's cwd)");
        diff->add_flag("-v,--verbose", verbosity);
        diff->footer("Example: whatif diff last src/main.c");
    }

    CLI::App* list = nullptr;
    if (wanted("list")) {
        list = app.add_subcommand("list", "the runs in the run store");
        list->add_flag("-v,--verbose", verbosity);
    }

    std::vector<std::string> discard_runs;
    CLI::App* discard = nullptr;
    if (wanted("discard")) {
        discard = app.add_subcommand("discard", "delete runs from the run store");
        discard->add_option("runs", discard_runs, "run ids, or 'last'")->required();
        discard->add_flag("-v,--verbose", verbosity);
        discard->footer("Example: whatif discard last");
    }

    std::string older_than = "7d";
    CLI::App* gc = nullptr;
    if (wanted("gc")) {
        gc = app.add_subcommand("gc", "delete finished runs older than a duration");
        gc->add_option("--older-than", older_than, "age (default 7d)")->check(duration_check());
        gc->add_flag("-v,--verbose", verbosity);
        gc->footer("Example: whatif gc --older-than 1d");
    }

    whatif::cli::ApplyCommandOptions apply_options;
    CLI::App* apply = nullptr;
    if (wanted("apply")) {
        apply = app.add_subcommand(
            "apply", "commit a run's filesystem changes to the host, exactly as captured");
        apply->add_option("run", apply_options.run, "run id, or 'last' (default)");
        apply->add_option("--only", apply_options.only,
                          "apply only paths matching these globs (or beneath them)");
        apply->add_option("--exclude", apply_options.exclude,
                          "leave out paths matching these globs (or beneath them)");
        apply->add_flag("--force", apply_options.force,
                        "apply even where the host changed since the dry run");
        apply->add_flag("--keep-privileges", apply_options.keep_privileges,
                        "keep setuid/setgid bits");
        apply->add_flag("-e,--edit", apply_options.edit, "choose the changes in $EDITOR first");
        apply->add_flag("--abort", apply_options.abort,
                        "after an interrupted apply: report what was applied, stop");
        apply->add_flag("-v,--verbose", verbosity);
        apply->footer(
            "Examples: whatif apply last\n          whatif apply 20261123T205731-3f9c --only "
            "'src/*'");
    }

    whatif::cli::ExecCommandOptions exec_options;
    CLI::App* exec = nullptr;
    if (wanted("exec")) {
        exec =
            app.add_subcommand("exec", "run a dry-run's command for real (original argv and cwd)");
        exec->add_option("run", exec_options.run, "run id, or 'last' (default)");
        exec->add_flag("-y,--yes", exec_options.yes, "confirm a run whose decision is ask");
        exec->add_flag("-v,--verbose", verbosity);
        exec->footer("Example: whatif exec last   (the environment is this call's own)");
    }

    whatif::cli::CheckCommandOptions check_options;
    std::string check_format = "text";
    CLI::App* check = nullptr;
    if (wanted("check")) {
        check = app.add_subcommand("check", "re-decide a stored run under another profile");
        check->add_option("run", check_options.run, "run id, or 'last' (default)");
        check->add_option("-p,--profile", check_options.profile, "profile NAME or FILE")
            ->required();
        check->add_option("--format", check_format, "report format")
            ->check(CLI::IsMember({"text", "json", "markdown"}));
        check->add_flag("-v,--verbose", verbosity);
        check->footer("Example: whatif check last -p ci");
    }

    std::string profile_to_show;
    CLI::App* profiles = nullptr;
    if (wanted("profiles")) {
        profiles =
            app.add_subcommand("profiles", "list the profiles; 'profiles show NAME' prints one");
        auto* profiles_show = profiles->add_subcommand("show", "print a profile");
        profiles_show->add_option("name", profile_to_show, "profile NAME or FILE")->required();
        profiles->footer("Example: whatif profiles show agent");
    }

    std::string hook_agent, hook_profile = "agent";
    CLI::App* hook = nullptr;
    if (wanted("hook")) {
        hook = app.add_subcommand(
            "hook", "pre-tool-use adapter: the agent's JSON on stdin, its answer on stdout");
        hook->add_option("agent", hook_agent, "claude-code, codex, gemini or cursor")->required();
        hook->add_option("-p,--profile", hook_profile, "profile (default: agent)");
        hook->footer(
            "Example (Claude Code settings.json): \"command\": \"whatif hook claude-code\"");
    }

    whatif::cli::ExploreOptions explore_options;
    std::string explore_timeout;
    CLI::App* explore = nullptr;
    if (wanted("explore")) {
        explore = app.add_subcommand(
            "explore",
            "a shell (or a command) inside a run's sandbox: its changes over the real "
            "files, nothing kept");
        explore->add_option("run", explore_options.run, "run id, or 'last' (default)");
        explore->add_option("--net", explore_options.net, "network: stub (default), none, host")
            ->check(CLI::IsMember({"stub", "none", "host"}));
        explore->add_option("--timeout", explore_timeout, "kill the session after DURATION")
            ->check(duration_check());
        explore->add_flag("-v,--verbose", verbosity);
        explore->footer(
            "Examples: whatif explore                 a shell where the last run's changes are\n"
            "          whatif explore last -- git log --oneline -3\n"
            "          whatif explore 20261123T205731-3f9c -- sqlite3 app.db .tables");
    }

    run_options.argv = split_off_command(args);
    explore_options.argv = run_options.argv;
    std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
    try {
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "whatif: %s\nRun 'whatif --help' for usage.\n", e.what());
        return static_cast<int>(ExitCode::bad_input);
    }
    whatif::util::init_logging(verbosity);
    // Errors a user can cause are values; this is the net under everything else
    // (a stored run edited by hand whose fields have the wrong types, say).
    try {
        if (chosen(run)) {
            run_options.format = format == "json"       ? whatif::cli::ReportFormat::json
                                 : format == "markdown" ? whatif::cli::ReportFormat::markdown
                                                        : whatif::cli::ReportFormat::text;
            run_options.exit_status = exit_status == "command"
                                          ? whatif::cli::ExitStatusMode::command
                                          : whatif::cli::ExitStatusMode::decision;
            if (!timeout.empty()) run_options.timeout = *whatif::util::parse_duration(timeout);
            if (!background_grace.empty())
                run_options.background_grace = *whatif::util::parse_duration(background_grace);
            return whatif::cli::run_command(run_options);
        }
        if (chosen(show)) {
            show_options.format = show_format == "json"       ? whatif::cli::ReportFormat::json
                                  : show_format == "markdown" ? whatif::cli::ReportFormat::markdown
                                                              : whatif::cli::ReportFormat::text;
            return whatif::cli::show_command(show_options);
        }
        if (chosen(diff)) return whatif::cli::diff_command(diff_options);
        if (chosen(list)) return whatif::cli::list_command();
        if (chosen(apply)) return whatif::cli::apply_command(apply_options);
        if (chosen(check)) {
            check_options.format = check_format == "json" ? whatif::cli::ReportFormat::json
                                   : check_format == "markdown"
                                       ? whatif::cli::ReportFormat::markdown
                                       : whatif::cli::ReportFormat::text;
            return whatif::cli::check_command(check_options);
        }
        if (chosen(profiles)) return whatif::cli::profiles_command(profile_to_show);
        if (chosen(hook)) return whatif::cli::hook_command(hook_agent, hook_profile);
        if (chosen(exec)) return whatif::cli::exec_command(exec_options);
        if (chosen(discard)) return whatif::cli::discard_command(discard_runs);
        if (chosen(gc)) return whatif::cli::gc_command(*whatif::util::parse_duration(older_than));
        if (chosen(explore)) {
            if (!explore_timeout.empty())
                explore_options.timeout = *whatif::util::parse_duration(explore_timeout);
            return whatif::cli::explore_command(explore_options);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr,
                     "whatif: unexpected error: %s (a stored run's effects.json may be damaged: "
                     "'whatif discard RUN' removes it)\n",
                     e.what());
        return static_cast<int>(ExitCode::failure);
    }
    std::fprintf(stderr,
                 "whatif: no command given\nUsage: whatif [run] [OPTIONS] [--] COMMAND [ARG...]\n"
                 "Run 'whatif --help' for more.\n");
    return static_cast<int>(ExitCode::bad_input);
}
