// Runs the real whatif binary (or any program) for tests: argv, environment, cwd
// and stdin in; exit code, stdout and stderr out.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace whatif::test {

struct ProcessResult {
    int exit_code = -1;
    std::string out, err;
};

struct ProcessOptions {
    std::string cwd;
    std::map<std::string, std::string> env;  // added to (or replacing) the test's environment
    std::string stdin_data;
};

ProcessResult run_process(const std::string& exe, const std::vector<std::string>& args,
                          const ProcessOptions& options);

// Arguments for /usr/bin/env that run `exe args` with `overrides` applied to this
// process's environment (an empty value unsets). env(1) execs the program, so the
// child's pid is the program's. (Boost.Process 1.74's environment editing reads
// past the end of its strings: AddressSanitizer caught it.)
std::vector<std::string> env_launch(const std::string& exe, const std::vector<std::string>& args,
                                    const std::map<std::string, std::string>& overrides);

// The whatif binary under test: $WHATIF_BIN, else the one this build made.
std::string whatif_binary();

}  // namespace whatif::test
