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

// The whatif binary under test: $WHATIF_BIN, else the one this build made.
std::string whatif_binary();

}  // namespace whatif::test
