#include "whatif/creds/decoys.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "whatif/util/fs.hpp"

namespace whatif::creds {

namespace {

constexpr uint64_t kMaxCredentialFile = 16 << 20;
// Decoys per run, at most: each is a mount (a tree of thousands is not credentials).
constexpr size_t kMaxCredentialFiles = 2000;

// Any size: a credential file larger than kMaxCredentialFile gets an empty decoy
// (make_decoys), never its real bytes.
bool is_regular_file(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A credential file as the decoy must cover it: the file a symlink leads to
// (~/.aws/credentials -> ../dotfiles/aws, the common dotfiles layout), since the
// decoy is mounted over the file itself, wherever it is. Empty: no such file.
std::string credential_file(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) return {};
    if (!S_ISLNK(st.st_mode)) return is_regular_file(path) ? path : std::string();
    char* real = realpath(path.c_str(), nullptr);
    if (real == nullptr) return {};
    std::string resolved = real;
    std::free(real);
    return is_regular_file(resolved) ? resolved : std::string();
}

void add_tree(const std::string& dir, int depth, std::vector<std::string>& out) {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || out.size() > kMaxCredentialFiles) continue;
        const std::string path = util::join_path(dir, name);
        struct stat st {};
        if (lstat(path.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth > 0) add_tree(path, depth - 1, out);
        if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))
            if (std::string file = credential_file(path); !file.empty())
                out.push_back(std::move(file));
    }
    closedir(d);
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool secret_key(const std::string& key) {
    const std::string k = lower(key);
    for (const char* word :
         {"secret", "token", "password", "passwd", "key", "auth", "credential", "private"})
        if (k.find(word) != std::string::npos) return true;
    return false;
}

bool token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("+/=_-.", c) != nullptr;
}

// Every run of token characters of 20 or more: a secret until proven otherwise.
std::string replace_long_tokens(const std::string& line, CanaryRegistry& registry,
                                const std::string& source) {
    std::string out;
    size_t i = 0;
    while (i < line.size()) {
        if (!token_char(line[i])) {
            out += line[i++];
            continue;
        }
        size_t j = i;
        while (j < line.size() && token_char(line[j])) ++j;
        const std::string token = line.substr(i, j - i);
        const bool has_digit =
            std::any_of(token.begin(), token.end(), [](char c) { return std::isdigit(c); });
        out += token.size() >= 20 && has_digit ? registry.make(token, source) : token;
        i = j;
    }
    return out;
}

// "key = value", "key: value", "key=value", "\"key\": \"value\"": the value, when
// the key names a secret.
std::string replace_keyed_value(const std::string& line, CanaryRegistry& registry,
                                const std::string& source) {
    const size_t sep = line.find_first_of("=:");
    if (sep == std::string::npos || sep == 0) return {};
    std::string key = line.substr(0, sep);
    key.erase(std::remove_if(key.begin(), key.end(),
                             [](char c) { return c == '"' || c == '\'' || isspace(c); }),
              key.end());
    if (key.empty() || !secret_key(key)) return {};
    size_t v = sep + 1;
    while (v < line.size() &&
           (line[v] == ' ' || line[v] == '\t' || line[v] == '"' || line[v] == '\''))
        ++v;
    size_t end = line.size();
    while (end > v && (line[end - 1] == ' ' || line[end - 1] == '"' || line[end - 1] == '\'' ||
                       line[end - 1] == ',' || line[end - 1] == '\r'))
        --end;
    if (end <= v) return {};
    const std::string value = line.substr(v, end - v);
    if (value == "{" || value == "[" || value == "null" || value == "true" || value == "false")
        return {};
    return line.substr(0, v) + registry.make(value, source) + line.substr(end);
}

}  // namespace

namespace {

// One home's credential files (the caller's, or, for a root caller, another user's).
void add_home_credentials(const std::string& home, std::vector<std::string>& files) {
    for (const char* rel :
         {".aws/credentials", ".aws/config", ".kube/config", ".docker/config.json", ".netrc",
          ".git-credentials", ".config/git/credentials", ".config/gh/hosts.yml", ".pgpass",
          ".npmrc", ".pypirc", ".vault-token", ".my.cnf", ".terraform.d/credentials.tfrc.json",
          ".config/hub", ".gnupg/private-keys-v1.d"}) {
        const std::string path = util::join_path(home, rel);
        if (std::string file = credential_file(path); !file.empty())
            files.push_back(std::move(file));
        else
            add_tree(path, 1, files);  // a directory of keys
    }
    // ~/.ssh and its subdirectories: private keys (PEM or OpenSSH, PuTTY's .ppk) only;
    // known_hosts, config and public keys stay real.
    std::vector<std::string> ssh;
    add_tree(util::join_path(home, ".ssh"), 2, ssh);
    add_tree(util::join_path(home, ".putty"), 1, ssh);
    for (const auto& path : ssh) {
        if (path.ends_with(".ppk")) {
            files.push_back(path);
            continue;
        }
        auto head = util::read_regular_file(path, kMaxCredentialFile);
        if (head && head->find("PRIVATE KEY") != std::string::npos) files.push_back(path);
    }
    add_tree(util::join_path(home, ".config/gcloud"), 3, files);
    add_tree(util::join_path(home, ".azure"), 3, files);
}

bool is_env_file_name(const std::string& name) {
    if (!(name == ".env" || name.starts_with(".env."))) return false;
    return !(name.ends_with(".example") || name.ends_with(".sample") ||
             name.ends_with(".template"));
}

}  // namespace

std::vector<std::string> find_credential_files(const std::string& home, const std::string& cwd) {
    std::vector<std::string> files;
    if (!home.empty()) add_home_credentials(home, files);
    // The files the usual variables name, wherever they are.
    for (const char* name :
         {"KUBECONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_SHARED_CREDENTIALS_FILE",
          "AWS_CONFIG_FILE", "PGPASSFILE", "NETRC", "VAULT_TOKEN_FILE"}) {
        const char* value = std::getenv(name);
        if (value == nullptr) continue;
        std::string_view list = value;  // KUBECONFIG is a list, like PATH
        while (!list.empty()) {
            const size_t colon = list.find(':');
            const std::string path(list.substr(0, colon));
            if (!path.empty())
                if (std::string file = credential_file(path); !file.empty())
                    files.push_back(std::move(file));
            if (colon == std::string_view::npos) break;
            list.remove_prefix(colon + 1);
        }
    }
    if (const char* docker = std::getenv("DOCKER_CONFIG"); docker != nullptr)
        if (std::string file = credential_file(util::join_path(docker, "config.json"));
            !file.empty())
            files.push_back(std::move(file));
    // Root sees every user's files: each home's credentials get decoys too. Homes
    // are where people's homes are (/home/*, /root), found with one listing: the
    // name service (getpwent: NSS modules, systemd-userdb) costs more than all of it.
    if (geteuid() == 0) {
        std::vector<std::string> homes = {"/root"};
        if (DIR* d = opendir("/home")) {
            while (dirent* e = readdir(d)) {
                if (e->d_name[0] == '.' || homes.size() > 1000) continue;
                homes.push_back(util::join_path("/home", e->d_name));
            }
            closedir(d);
        }
        for (const auto& other : homes) {
            struct stat st {};
            if (other == home || lstat(other.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
            add_home_credentials(other, files);
        }
    }
    // Project .env files (not the documented examples): in cwd, and in each of its
    // parents (a monorepo's root .env is read from a package directory), by name.
    if (DIR* d = opendir(cwd.c_str())) {
        while (dirent* e = readdir(d)) {
            const std::string name = e->d_name;
            if (!is_env_file_name(name)) continue;
            if (std::string file = credential_file(util::join_path(cwd, name)); !file.empty())
                files.push_back(std::move(file));
        }
        closedir(d);
    }
    for (std::string dir = util::parent_path(cwd); !dir.empty() && dir != "/";
         dir = util::parent_path(dir)) {
        for (const char* name :
             {".env", ".env.local", ".env.production", ".env.development", ".env.staging"})
            if (std::string file = credential_file(util::join_path(dir, name)); !file.empty())
                files.push_back(std::move(file));
        if (dir == util::parent_path(dir)) break;
    }
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());
    return files;
}

std::string decoy_content(const std::string& path, const std::string& real,
                          CanaryRegistry& registry) {
    const std::string name = util::base_name(path);
    std::istringstream in(real);
    std::string out, line;
    bool in_pem = false, first_pem_line = false;
    while (std::getline(in, line)) {
        std::string next = line;
        if (line.starts_with("-----BEGIN") && line.find("PRIVATE KEY") != std::string::npos) {
            in_pem = first_pem_line = true;
        } else if (line.starts_with("-----END")) {
            in_pem = false;
        } else if (in_pem) {
            // Same base64 shape; the first line is what a leak of the key would show.
            CanaryRegistry scratch;
            next = first_pem_line ? registry.make(line, path) : scratch.make(line, path);
            first_pem_line = false;
        } else if (name == ".pgpass" && !line.starts_with("#") &&
                   std::count(line.begin(), line.end(), ':') >= 4) {
            size_t colon = 0;
            for (int i = 0; i < 4; ++i) colon = line.find(':', colon) + 1;
            next = line.substr(0, colon) + registry.make(line.substr(colon), path);
        } else if (name == ".netrc") {
            std::istringstream words(line);
            std::string word, rebuilt;
            bool secret_next = false;
            while (words >> word) {
                rebuilt +=
                    (rebuilt.empty() ? "" : " ") + (secret_next ? registry.make(word, path) : word);
                secret_next = word == "password";
            }
            next = rebuilt;
        } else {
            std::string replaced;
            if (line.find("://") != std::string::npos) {
                std::istringstream words(line);
                std::string word, rebuilt;
                bool any = false;
                while (words >> word) {
                    std::string r = replace_url_password(word, registry, path);
                    if (!r.empty()) any = true;
                    rebuilt += (rebuilt.empty() ? "" : " ") + (r.empty() ? word : r);
                }
                if (any) replaced = rebuilt;
            }
            if (replaced.empty()) replaced = replace_keyed_value(line, registry, path);
            next = replace_long_tokens(replaced.empty() ? line : replaced, registry, path);
        }
        out += next + "\n";
    }
    if (!real.empty() && real.back() != '\n' && !out.empty()) out.pop_back();
    return out;
}

Result<std::vector<Decoy>> make_decoys(const std::vector<std::string>& files,
                                       const std::string& dir, CanaryRegistry& registry) {
    std::vector<Decoy> decoys;
    if (files.empty()) return decoys;
    if (auto st = util::make_dirs(dir, 0700); !st) return std::unexpected(st.error());
    for (size_t i = 0; i < files.size(); ++i) {
        struct stat st {};
        if (stat(files[i].c_str(), &st) != 0) continue;
        // Too large to rewrite: an empty decoy, never the real bytes.
        auto real = static_cast<uint64_t>(st.st_size) > kMaxCredentialFile
                        ? Result<std::string>(std::string())
                        : util::read_regular_file(files[i], kMaxCredentialFile);
        if (!real) continue;  // unreadable to us: unreadable to the command too
        Decoy d;
        d.host_path = files[i];
        d.decoy_path = util::join_path(dir, std::to_string(i));
        d.content = decoy_content(files[i], *real, registry);
        if (auto w = util::write_file_atomically(d.decoy_path, d.content, st.st_mode & 0777); !w)
            return std::unexpected(w.error());
        decoys.push_back(std::move(d));
    }
    return decoys;
}

}  // namespace whatif::creds
