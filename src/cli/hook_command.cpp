#include <boost/process.hpp>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "whatif/cli/commands.hpp"
#include "whatif/hooks/hook.hpp"

namespace bp = boost::process;

namespace whatif::cli {

int hook_command(const std::string& agent_name, const std::string& profile) {
    const auto agent = hooks::agent_from_name(agent_name);
    if (!agent) {
        // No format to answer in: a blocking error, by exit code, for any harness.
        std::fprintf(stderr,
                     "whatif: unknown agent '%s' (claude-code, codex, gemini, cursor): denying\n",
                     agent_name.c_str());
        return static_cast<int>(ExitCode::bad_input);
    }
    const std::string input((std::istreambuf_iterator<char>(std::cin)),
                            std::istreambuf_iterator<char>());
    auto deny = [&](const std::string& why) {
        const std::string out =
            hooks::format_answer(*agent, effects::Verdict::deny, "whatif: DENY — " + why);
        std::fwrite(out.data(), 1, out.size(), stdout);
        return 0;
    };
    auto proposed = hooks::parse_hook_input(*agent, input);
    if (!proposed) return deny(proposed.error().message + " (failing closed)");
    if (!*proposed) return 0;  // not a shell command: nothing to say
    // The dry run is this same binary, so the hook behaves exactly like `whatif run`.
    // Its effect set is read as it streams in: files[] may be huge, the answer is not.
    Result<effects::EffectSet> set = fail("no report");
    int status = 0;
    try {
        bp::ipstream out;
        std::vector<std::string> args = {"run", "--format", "json", "-n",
                                         "-p",  profile,    "-C",   (*proposed)->cwd};
        if ((*proposed)->background) args.emplace_back("--background");
        for (const std::string& a :
             {std::string("--"), std::string("bash"), std::string("-c"), (*proposed)->command})
            args.push_back(a);
        bp::child child("/proc/self/exe", bp::args(args), bp::std_in<bp::null, bp::std_out> out,
                        bp::std_err > bp::null);
        set = effects::read_effect_set(out);
        out.ignore(std::numeric_limits<std::streamsize>::max());  // never block the child
        child.wait();
        status = child.exit_code();
    } catch (const bp::process_error& e) {
        return deny(std::string("the dry run could not start: ") + e.what());
    }
    if (!set)
        return deny("the dry run failed (exit " + std::to_string(status) +
                    "): " + set.error().message);
    const std::string out =
        hooks::format_answer(*agent, set->decision.verdict, hooks::reason_for(*set));
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

}  // namespace whatif::cli
