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

// The same, with stdout going to the file `out_path` (for outputs too large to
// hold), and the peak resident memory of the process and of every descendant it
// waited for (wait4's ru_maxrss), in kB.
struct MeasuredResult {
    int exit_code = -1;
    std::string err;
    long max_rss_kb = 0;
};
MeasuredResult run_process_measured(const std::string& exe, const std::vector<std::string>& args,
                                    const ProcessOptions& options, const std::string& out_path);

// Long tests (a million files, ...) run when WHATIF_TEST_LONG=1 (scripts/test.sh --long).
bool long_tests_enabled();

// Arguments for /usr/bin/env that run `exe args` with `overrides` applied to this
// process's environment (an empty value unsets). env(1) execs the program, so the
// child's pid is the program's. (Boost.Process 1.74's environment editing reads
// past the end of its strings: AddressSanitizer caught it.)
std::vector<std::string> env_launch(const std::string& exe, const std::vector<std::string>& args,
                                    const std::map<std::string, std::string>& overrides);

// The whatif binary under test: $WHATIF_BIN, else the one this build made.
std::string whatif_binary();

}  // namespace whatif::test
