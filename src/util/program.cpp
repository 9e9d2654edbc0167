#include "whatif/util/program.hpp"

#include <boost/process.hpp>
#include <cstdio>
#include <memory>

namespace whatif::util {

namespace bp = boost::process;

namespace {

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using TempFile = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

Result<ProgramResult> run_program(const ProgramCall& call) {
    if (call.argv.empty()) return fail("run_program: no program");
    const auto exe = bp::search_path(call.argv.front());
    if (exe.empty()) return fail(call.argv.front() + ": not found in PATH");
    TempFile in(std::tmpfile()), out(std::tmpfile());
    if (!in || !out) return fail_errno("tmpfile");
    if (!call.input.empty() &&
        std::fwrite(call.input.data(), 1, call.input.size(), in.get()) != call.input.size())
        return fail_errno("write the input of " + call.argv.front());
    std::fflush(in.get());
    std::rewind(in.get());
    // The environment goes through env(1): Boost.Process 1.74's own environment
    // editing reads past the end of its strings (AddressSanitizer caught it).
    std::vector<std::string> args;
    for (const auto& [key, value] : call.env) args.push_back(key + "=" + value);
    args.push_back(exe.string());
    args.insert(args.end(), call.argv.begin() + 1, call.argv.end());
    ProgramResult result;
    try {
        bp::child child("/usr/bin/env", bp::args(args), bp::std_in<in.get(), bp::std_out> out.get(),
                        bp::std_err > bp::null);
        if (!child.wait_for(call.timeout)) {
            child.terminate();
            result.exit_code = -1;
        } else {
            result.exit_code = child.exit_code();
        }
    } catch (const bp::process_error& e) {
        return fail(call.argv.front() + ": " + e.what());
    }
    std::rewind(out.get());
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, out.get())) > 0) result.output.append(buf, n);
    return result;
}

}  // namespace whatif::util
