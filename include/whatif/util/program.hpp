// Runs a program of the host (not sandboxed) for whatif's own use, such as git
// for the history questions of the vcs summary: Boost.Process, stdin and stdout
// through unnamed temporary files (no pipe can fill and deadlock), a time limit.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "whatif/util/error.hpp"

namespace whatif::util {

struct ProgramCall {
    std::vector<std::string> argv;                         // argv[0] is searched in PATH
    std::vector<std::pair<std::string, std::string>> env;  // added to this process's environment
    std::string input;                                     // its stdin
    std::chrono::milliseconds timeout{10'000};
};

struct ProgramResult {
    int exit_code = -1;  // -1: killed at the time limit
    std::string output;  // stdout; stderr is discarded
};

// An error when the program cannot be started (not installed, ...).
Result<ProgramResult> run_program(const ProgramCall& call);

}  // namespace whatif::util
