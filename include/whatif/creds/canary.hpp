// Canaries: values shaped like the secrets they replace (an AWS key id stays
// "AKIA" + 16 characters, a GitHub token keeps "ghp_"), unique per run, and
// remembered so that they can be recognised when they try to leave.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace whatif::creds {

struct Canary {
    std::string value;   // what the command sees
    std::string source;  // what it stands for: "env GITHUB_TOKEN" or a decoy file's path
};

class CanaryRegistry {
  public:
    // A canary with the shape of `real` (known prefixes kept, then the same
    // character classes and length), registered as standing for `source`.
    std::string make(std::string_view real, const std::string& source);
    const std::vector<Canary>& all() const { return canaries_; }

  private:
    std::vector<Canary> canaries_;
};

// A URL with a password ("postgres://u:pw@host/db"): the same URL with the
// password replaced by a canary; empty when there is no password.
std::string replace_url_password(std::string_view value, CanaryRegistry& registry,
                                 const std::string& source);

// A value in the shape of an issued credential: a known issuer's prefix (ghp_,
// github_pat_, sk-ant-, xoxb-, glpat-, npm_, pypi-, AKIA, AIza, ...) and enough
// token characters after it.
bool looks_like_token(std::string_view value);

}  // namespace whatif::creds
