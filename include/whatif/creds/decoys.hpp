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

// The credential files that exist for this user and project, as the files they are
// (a symlink's target): ~/.aws/credentials and config, private keys in ~/.ssh and
// its subdirectories and PuTTY's .ppk, ~/.kube/config, ~/.docker/config.json,
// ~/.netrc, ~/.git-credentials and ~/.config/git/credentials, ~/.config/gh/hosts.yml,
// ~/.config/gcloud, ~/.azure, ~/.pgpass, ~/.my.cnf, ~/.npmrc, ~/.pypirc, ~/.vault-token,
// ~/.terraform.d/credentials.tfrc.json, GnuPG's private keys; the files KUBECONFIG,
// GOOGLE_APPLICATION_CREDENTIALS, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE,
// PGPASSFILE, NETRC and DOCKER_CONFIG name; .env files in cwd and its parents; and,
// for a root caller, the same in every other person's home.
std::vector<std::string> find_credential_files(const std::string& home, const std::string& cwd);

// The decoy for one file: same format, every secret value a canary.
std::string decoy_content(const std::string& path, const std::string& real,
                          CanaryRegistry& registry);

Result<std::vector<Decoy>> make_decoys(const std::vector<std::string>& files,
                                       const std::string& dir, CanaryRegistry& registry);

}  // namespace whatif::creds
