#include "whatif/cli/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process.hpp>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace bp = boost::process;

namespace whatif::cli {

int run_tool(const std::string& command_line, const std::vector<std::string>& extra,
             const std::string& input) {
    std::istringstream words(command_line);
    std::vector<std::string> argv;
    for (std::string w; words >> w;) argv.push_back(w);
    if (argv.empty()) return 127;
    for (const auto& a : extra) argv.push_back(a);
    const auto exe = argv.front().find('/') == std::string::npos
                         ? bp::search_path(argv.front()).string()
                         : argv.front();
    if (exe.empty()) return 127;
    try {
        const std::vector<std::string> args(argv.begin() + 1, argv.end());
        if (input.empty()) {
            bp::child c(exe, bp::args(args));
            c.wait();
            return c.exit_code();
        }
        bp::opstream in;
        bp::child c(exe, bp::args(args), bp::std_in < in);
        in << input;
        in.flush();
        in.pipe().close();
        c.wait();
        return c.exit_code();
    } catch (const bp::process_error&) {
        return 127;
    }
}

void page(const std::string& text, bool always) {
    if (isatty(STDOUT_FILENO) == 1 && !text.empty()) {
        winsize ws{};
        const bool known = ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0;
        const auto lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
        if (always || (known && lines >= ws.ws_row)) {
            const char* pager = std::getenv("PAGER");
            std::fflush(stdout);
            if (run_tool(pager != nullptr && *pager != '\0' ? pager : "less -R", {}, text) != 127)
                return;
        }
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace whatif::cli
