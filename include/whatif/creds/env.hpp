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

// A secret's name, by its words, in any case and either style (GITHUB_TOKEN,
// github_token, apiKey): a word that says secret (token, secret, password, passwd,
// pass, pwd, passphrase, apikey, credential(s), auth, cookie, dsn, webhook), KEY as a
// word (API_KEY, AWS_ACCESS_KEY_ID), or a word ending in one (SSHPASS, MYSQLPWD,
// DBPASSWORD); unless the last word makes the value a place or a switch (*_FILE,
// *_PATH, *_SOCK, *_URL, *_HOST, *_USER, ...). PWD and OLDPWD are the shell's.
bool is_secret_name(const std::string& name);
// A secret inside a value, whatever the variable's name: a URL's password, a
// connection or query string's secret keys (Password=, pwd=, AccountKey=,
// SharedAccessSignature=, sig=, token=...), an issued token's shape, a JSON web
// token, a chat webhook's URL. The value with canaries in their place; empty when
// none was found.
std::string replace_secret_in_value(const std::string& value, CanaryRegistry& registry,
                                    const std::string& source);
ScrubbedEnvironment scrub_environment(char** environ_in, CanaryRegistry& registry);

}  // namespace whatif::creds
