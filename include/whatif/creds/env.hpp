// The command's environment with every secret replaced by a canary.
#pragma once

#include <string>
#include <vector>

#include "whatif/creds/canary.hpp"

namespace whatif::creds {

struct ScrubbedEnvironment {
    std::vector<std::string> entries;   // NAME=value, ready for execve
    std::vector<std::string> replaced;  // names of the variables that now hold canaries
};

// Secret names: *_TOKEN, *_SECRET*, *_PASSWORD, *_PASSWD, *_API_KEY, *_PRIVATE_KEY,
// AWS_* keys and session tokens, GITHUB_TOKEN, GH_TOKEN, GITLAB_TOKEN, NPM_TOKEN,
// PYPI_*, DOCKER_*PASSWORD, DATABASE_URL; and any value that is a URL with a password.
bool is_secret_name(const std::string& name);
ScrubbedEnvironment scrub_environment(char** environ_in, CanaryRegistry& registry);

}  // namespace whatif::creds
