// whatif explore [RUN] [-- COMMAND]: a shell (or one command) inside a run's
// sandbox. The run's upper layers are stacked read-only over the host, under a
// fresh upper of the session's own that is thrown away at the end: what the run
// left can be looked at, tried and poked, and the run stays exactly as captured.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "whatif/cli/commands.hpp"
#include "whatif/cli/sandbox_request.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/store/run_store.hpp"
#include "whatif/util/fs.hpp"
#include "whatif/util/unique_fd.hpp"

namespace whatif::cli {

namespace {

std::vector<std::string> login_shell() {
    const char* shell = std::getenv("SHELL");
    for (const char* candidate : {shell, static_cast<const char*>("/bin/bash")})
        if (candidate != nullptr && *candidate == '/' && access(candidate, X_OK) == 0)
            return {candidate, "-i"};
    return {"/bin/sh", "-i"};
}

// After a shell had the terminal's foreground, whatif takes it back (a killed
// shell cannot hand it back itself).
void take_back_terminal() {
    if (isatty(STDIN_FILENO) == 0) return;
    struct sigaction ignore {
    }, old{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGTTOU, &ignore, &old);
    tcsetpgrp(STDIN_FILENO, getpgrp());
    sigaction(SIGTTOU, &old, nullptr);
}

}  // namespace

int explore_command(const ExploreOptions& options) {
    auto store = store::RunStore::open_default();
    if (!store) return report_error(store.error());
    auto id = store->resolve(options.run);
    if (!id) return report_error(id.error());
    const std::string run_dir = store->run_dir(*id);
    // The run must not be applied, discarded or collected under the session.
    auto lock = store->lock_run(*id);
    if (!lock) return report_error(lock.error());
    auto meta = store->load(*id);
    if (!meta) return report_error(meta.error());
    if (meta->layers.empty())
        return report_error(Error::bad_input("run " + *id +
                                             " captured nothing to explore (it ended before its "
                                             "command ran)"));
    const bool interactive = options.argv.empty();
    if (interactive && (isatty(STDIN_FILENO) == 0 || isatty(STDOUT_FILENO) == 0))
        return report_error(
            Error::bad_input("no terminal for a shell: give a command, e.g. 'whatif explore " +
                             *id + " -- ls -la'"));

    // The session's own upper layers, work dirs and decoys: removed at the end.
    std::string session = util::join_path(run_dir, "explore-XXXXXX");
    if (mkdtemp(session.data()) == nullptr)
        return report_error(Error::from_errno("mkdtemp(" + session + ")"));
    struct RemoveAtEnd {
        std::string dir;
        ~RemoveAtEnd() { util::remove_tree(dir); }
    } remove_session{session};

    auto credentials = stub_credentials(util::join_path(session, "decoys"), meta->cwd);
    if (!credentials) return report_error(credentials.error());
    sandbox::RunRequest request;
    request.argv = interactive ? login_shell() : options.argv;
    request.cwd = meta->cwd;
    request.run_dir = session;
    request.store_dir = store->root();
    request.net = options.net;
    request.timeout = options.timeout.value_or(std::chrono::milliseconds(0));
    request.interactive = interactive;
    for (const auto& layer : meta->layers)
        request.prior_layers.push_back(
            {layer.host_mount, util::join_path(run_dir, layer.upper_dir)});
    use_credentials(*credentials, request);
    request.env.push_back("WHATIF_EXPLORE=" + *id);

    if (interactive)
        std::fprintf(stderr,
                     "whatif: exploring run %s: its changes are here, over the real files. What "
                     "you do here is thrown away; 'exit' leaves.\n",
                     id->c_str());
    auto outcome = sandbox::run(request);
    if (interactive) take_back_terminal();
    if (!outcome) return report_error(outcome.error());
    if (interactive)
        std::fprintf(stderr, "whatif: left run %s; nothing of this session was kept\n",
                     id->c_str());
    if (outcome->exit_status) return *outcome->exit_status;
    if (outcome->signal) return 128 + *outcome->signal;
    return static_cast<int>(ExitCode::failure);
}

}  // namespace whatif::cli
