// What every sandbox whatif starts gets, a dry run or an explore session alike:
// secrets in the environment replaced by canaries, credential files covered by
// decoys of the same format. Only canaries are ever stored.
#pragma once

#include <string>
#include <vector>

#include "whatif/creds/canary.hpp"
#include "whatif/creds/decoys.hpp"
#include "whatif/creds/env.hpp"
#include "whatif/sandbox/sandbox.hpp"
#include "whatif/util/error.hpp"

namespace whatif::cli {

struct StubCredentials {
    creds::CanaryRegistry canaries;
    creds::ScrubbedEnvironment environment;
    std::vector<creds::Decoy> decoys;
};

// This process's environment scrubbed; decoys for $HOME's and cwd's credential
// files written into decoy_dir.
Result<StubCredentials> stub_credentials(const std::string& decoy_dir, const std::string& cwd);

// The environment, the decoy mounts, and whether the PostgreSQL sink should ask
// for a password (a canary it can then recognise).
void use_credentials(const StubCredentials& credentials, sandbox::RunRequest& request);

}  // namespace whatif::cli
