// The subcommands, each a function from parsed options to an exit code. main.cpp
// parses arguments (CLI11) and dispatches here.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "whatif/util/error.hpp"

namespace whatif::cli {

enum class ReportFormat { text, json, markdown };
enum class ExitStatusMode { decision, command };

struct RunOptions {
    std::vector<std::string> argv;
    std::string profile = "default";
    std::string net = "stub";
    bool no_apply = false;
    bool yes = false;
    ReportFormat format = ReportFormat::text;
    std::string report_file;
    std::optional<std::chrono::milliseconds> timeout;
    // How long what the command leaves running may go on (default from the profile).
    std::optional<std::chrono::milliseconds> background_grace;
    // The command is meant to run in the background (an agent's run_in_background):
    // it gets the grace period from its start, and is reported if it still runs then.
    bool background = false;
    ExitStatusMode exit_status = ExitStatusMode::decision;
    std::string cwd;
};

struct ShowOptions {
    std::string run = "last";
    ReportFormat format = ReportFormat::text;
};

struct DiffOptions {
    std::string run = "last";
    std::vector<std::string> paths;
};

struct ExploreOptions {
    std::string run = "last";
    std::string net = "stub";
    std::optional<std::chrono::milliseconds> timeout;
    std::vector<std::string> argv;  // empty: an interactive shell
};

int run_command(const RunOptions& options);
int explore_command(const ExploreOptions& options);
int show_command(const ShowOptions& options);
int diff_command(const DiffOptions& options);
int list_command();
int discard_command(const std::vector<std::string>& runs);
int gc_command(std::chrono::milliseconds older_than);

// Prints "whatif: <message>" on stderr and returns the error's exit code.
int report_error(const Error& error);

}  // namespace whatif::cli

namespace whatif::cli {

struct ApplyCommandOptions {
    std::string run = "last";
    std::vector<std::string> only, exclude;
    bool force = false, keep_privileges = false, abort = false, edit = false;
};

struct ExecCommandOptions {
    std::string run = "last";
    bool yes = false;
};

int apply_command(const ApplyCommandOptions& options);

struct CheckCommandOptions {
    std::string run = "last";
    std::string profile = "default";
    ReportFormat format = ReportFormat::text;
};
int check_command(const CheckCommandOptions& options);
int profiles_command(const std::string& show_name);  // empty: list them

int exec_command(const ExecCommandOptions& options);

// After a dry run's report, on a terminal: "Apply these changes ...? [y/N/d/e]".
// Returns the exit code: 0 once applied, else `decision_exit`.
int prompt_after_run(const std::string& run_id, bool yes, int decision_exit);

}  // namespace whatif::cli

namespace whatif::cli {

// whatif hook AGENT: JSON on stdin, the agent's answer on stdout.
int hook_command(const std::string& agent, const std::string& profile);

}  // namespace whatif::cli
