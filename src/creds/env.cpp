#include "whatif/creds/env.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace whatif::creds {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The words of a variable name: "GITHUB_TOKEN" -> github, token; "apiKey" -> api, key.
std::vector<std::string> name_words(std::string_view name) {
    std::vector<std::string> words;
    std::string word;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        const bool boundary = !std::isalnum(static_cast<unsigned char>(c));
        const bool camel = i > 0 && std::isupper(static_cast<unsigned char>(c)) &&
                           std::islower(static_cast<unsigned char>(name[i - 1]));
        if ((boundary || camel) && !word.empty()) words.push_back(lower(word)), word.clear();
        if (!boundary) word += c;
    }
    if (!word.empty()) words.push_back(lower(word));
    return words;
}

// A word that says the value is a secret, or a name that ends in one glued on
// (SSHPASS, MYSQL_PWD, APIKEY, DBPASSWORD).
constexpr std::array<std::string_view, 16> kSecretWords = {
    "token",      "secret",  "password",   "passwd",      "pass", "pwd",
    "passphrase", "apikey",  "credential", "credentials", "auth", "cookie",
    "dsn",        "webhook", "privatekey", "accesskey"};
constexpr std::array<std::string_view, 11> kSecretSuffixes = {
    "token",  "secret",    "password",   "passwd",    "pass",      "pwd",
    "apikey", "accesskey", "privatekey", "secretkey", "accountkey"};
// Words that make the value a place or a switch, not the secret itself: a key
// file's path, an agent's socket, a URL to log in at, a flag.
constexpr std::array<std::string_view, 14> kNotTheSecret = {
    "file", "path", "dir",  "sock", "socket",  "host", "port",
    "user", "name", "type", "mode", "enabled", "url",  "endpoint"};

// English words that end in a secret suffix and name none.
constexpr std::array<std::string_view, 6> kWordsEndingInPass = {
    "bypass", "compass", "encompass", "overpass", "underpass", "surpass"};

// A value no secret has: empty-ish switches and numbers (BYPASS_AUTH=1), and an
// absolute path that exists (GIT_ASKPASS=/usr/lib/git-core/git-gui--askpass).
bool plainly_no_secret(const std::string& value) {
    const std::string v = lower(value);
    if (v.size() <= 3 || v == "true" || v == "false" || v == "yes" || v == "no") return true;
    if (std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(c); })) return true;
    struct stat st {};
    return value.front() == '/' && stat(value.c_str(), &st) == 0;
}

template <size_t N>
bool among(const std::string& word, const std::array<std::string_view, N>& list) {
    return std::find(list.begin(), list.end(), word) != list.end();
}

}  // namespace

bool is_secret_name(const std::string& name) {
    const std::string whole = lower(name);
    // The shell's own, and names that only sound like secrets.
    if (whole == "pwd" || whole == "oldpwd" || whole == "tokenizers_parallelism") return false;
    // Known names that carry a secret without saying so.
    if (whole == "database_url" || whole.starts_with("pypi_")) return true;
    const auto words = name_words(name);
    if (words.empty() || among(words.back(), kNotTheSecret)) return false;
    for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        if (among(w, kSecretWords)) return true;
        // KEY as a word of its own names a key (API_KEY, STRIPE_KEY, AWS_ACCESS_KEY_ID:
        // an access key's id travels with its secret, and is replaced with it).
        if (w == "key") return true;
        for (auto suffix : kSecretSuffixes)
            if (w.ends_with(suffix) && !among(w, kWordsEndingInPass)) return true;
    }
    return false;
}

std::string replace_secret_in_value(const std::string& value, CanaryRegistry& registry,
                                    const std::string& source) {
    // A URL with a password (postgres://u:pw@h/db, redis://:pw@h).
    if (std::string r = replace_url_password(value, registry, source); !r.empty()) return r;
    std::string out = value;
    bool changed = false;
    // key=value pairs inside a value: connection strings and query strings
    // (Password=...;, ?password=...&, AccountKey=...;, SharedAccessSignature=..., sig=...).
    for (size_t at = 0; at < out.size();) {
        const size_t eq = out.find('=', at);
        if (eq == std::string::npos) break;
        size_t key_start = eq;
        while (key_start > 0 && (std::isalnum(static_cast<unsigned char>(out[key_start - 1])) ||
                                 out[key_start - 1] == '_' || out[key_start - 1] == '-'))
            --key_start;
        const size_t end = out.find_first_of(";&, \t", eq + 1);
        const size_t value_end = end == std::string::npos ? out.size() : end;
        const std::string key = lower(out.substr(key_start, eq - key_start));
        const bool secret_key = key == "sig" || key == "signature" ||
                                key == "sharedaccesssignature" || is_secret_name(key);
        if (secret_key && value_end > eq + 1) {
            const std::string canary =
                registry.make(std::string_view(out).substr(eq + 1, value_end - eq - 1), source);
            out.replace(eq + 1, value_end - eq - 1, canary);
            changed = true;
            at = eq + 1 + canary.size();
        } else {
            at = eq + 1;
        }
    }
    if (changed) return out;
    // A value shaped like a credential whatever its name: a known token prefix, a
    // JSON web token, a chat webhook's secret path.
    if (looks_like_token(value) || value.starts_with("eyJ") ||
        value.find("hooks.slack.com/services/") != std::string::npos ||
        value.find("discord.com/api/webhooks/") != std::string::npos ||
        value.find("discordapp.com/api/webhooks/") != std::string::npos ||
        value.find("webhook.office.com/") != std::string::npos) {
        const size_t slash = value.find("://");
        if (slash == std::string::npos) return registry.make(value, source);
        // A webhook URL: the host stays (the report says where it would go), the path's
        // secret parts become canaries.
        const size_t path = value.find('/', slash + 3);
        if (path == std::string::npos) return {};
        return value.substr(0, path + 1) +
               registry.make(std::string_view(value).substr(path + 1), source);
    }
    return {};
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
        // whatif's own settings say "you are watched" to a command that looks: they
        // stay with whatif.
        if (name.starts_with("WHATIF_")) continue;
        std::string replacement;
        if (!value.empty()) replacement = replace_secret_in_value(value, registry, "env " + name);
        if (replacement.empty() && !value.empty() && is_secret_name(name) &&
            !plainly_no_secret(value))
            replacement = registry.make(value, "env " + name);
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
