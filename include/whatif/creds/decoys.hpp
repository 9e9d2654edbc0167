// Decoy credential files: each one the command could read is replaced inside the
// sandbox by a copy of the same format whose secrets are canaries. The real bytes
// are never visible inside, and never stored in the run.
#pragma once

#include <string>
#include <vector>

#include "whatif/creds/canary.hpp"
#include "whatif/util/error.hpp"

namespace whatif::creds {

struct Decoy {
    std::string host_path;   // the real credential file (what the command asks for)
    std::string decoy_path;  // the decoy, in the run directory; bind-mounted over host_path
    std::string content;     // what the decoy held at the start
};

// The credential files that exist for this user and project: ~/.aws/credentials and
// config, ~/.ssh private keys, ~/.kube/config, ~/.docker/config.json, ~/.netrc,
// ~/.git-credentials, ~/.config/gh/hosts.yml, ~/.config/gcloud, ~/.azure, ~/.pgpass,
// ~/.npmrc, ~/.pypirc, ~/.terraform.d/credentials.tfrc.json, and .env files in cwd.
std::vector<std::string> find_credential_files(const std::string& home, const std::string& cwd);

// The decoy for one file: same format, every secret value a canary.
std::string decoy_content(const std::string& path, const std::string& real,
                          CanaryRegistry& registry);

Result<std::vector<Decoy>> make_decoys(const std::vector<std::string>& files,
                                       const std::string& dir, CanaryRegistry& registry);

}  // namespace whatif::creds
