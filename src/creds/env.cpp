#include "whatif/creds/env.hpp"

#include <fnmatch.h>

namespace whatif::creds {

bool is_secret_name(const std::string& name) {
    static constexpr const char* patterns[] = {"*_TOKEN",      "*_SECRET*",     "SECRET*",
                                               "*_PASSWORD",   "*_PASSWD",      "PASSWORD",
                                               "*_API_KEY",    "*_PRIVATE_KEY", "*_ACCESS_KEY*",
                                               "AWS_SECRET*",  "AWS_SESSION*",  "AWS_ACCESS_KEY_ID",
                                               "GITHUB_TOKEN", "GH_TOKEN",      "GITLAB_TOKEN",
                                               "NPM_TOKEN",    "PYPI_*",        "DOCKER_*PASSWORD",
                                               "DATABASE_URL", "*_AUTH_TOKEN",  "*_CREDENTIALS"};
    for (const char* p : patterns)
        if (fnmatch(p, name.c_str(), 0) == 0) return true;
    return false;
}

ScrubbedEnvironment scrub_environment(char** environ_in, CanaryRegistry& registry) {
    ScrubbedEnvironment out;
    for (char** e = environ_in; e != nullptr && *e != nullptr; ++e) {
        const std::string entry = *e;
        const size_t eq = entry.find('=');
        if (eq == std::string::npos) {
            out.entries.push_back(entry);
            continue;
        }
        const std::string name = entry.substr(0, eq), value = entry.substr(eq + 1);
        std::string replacement;
        if (!value.empty() && is_secret_name(name)) {
            replacement = replace_url_password(value, registry, "env " + name);
            if (replacement.empty()) replacement = registry.make(value, "env " + name);
        } else if (!value.empty()) {
            replacement = replace_url_password(value, registry, "env " + name);
        }
        if (replacement.empty()) {
            out.entries.push_back(entry);
        } else {
            out.entries.push_back(name + "=" + replacement);
            out.replaced.push_back(name);
        }
    }
    return out;
}

}  // namespace whatif::creds
