// The subcommands, each a function from parsed options to an exit code. main.cpp
// parses arguments (CLI11) and dispatches here.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "whatif/util/error.hpp"

namespace whatif::cli {

enum class ReportFormat { text, json };
enum class ExitStatusMode { decision, command };

struct RunOptions {
    std::vector<std::string> argv;
    std::string profile = "default";
    std::string net = "none";
    bool no_apply = false;
    ReportFormat format = ReportFormat::text;
    std::string report_file;
    std::optional<std::chrono::milliseconds> timeout;
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

int run_command(const RunOptions& options);
int show_command(const ShowOptions& options);
int diff_command(const DiffOptions& options);
int list_command();
int discard_command(const std::vector<std::string>& runs);
int gc_command(std::chrono::milliseconds older_than);

// Prints "whatif: <message>" on stderr and returns the error's exit code.
int report_error(const Error& error);

}  // namespace whatif::cli
