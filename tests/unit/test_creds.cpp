#include <doctest/doctest.h>

#include <cctype>

#include "whatif/creds/decoys.hpp"
#include "whatif/creds/env.hpp"
#include "whatif/creds/leaks.hpp"

using namespace whatif::creds;

TEST_CASE("canaries keep the shape of what they replace, and differ every time") {
    CanaryRegistry r;
    const std::string aws = r.make("AKIAIOSFODNN7EXAMPLE", "env AWS_ACCESS_KEY_ID");
    CHECK(aws.starts_with("AKIA"));
    CHECK(aws.size() == 20);
    CHECK(aws != "AKIAIOSFODNN7EXAMPLE");
    for (size_t i = 4; i < aws.size(); ++i) CHECK(std::isalnum(static_cast<unsigned char>(aws[i])));
    const std::string gh = r.make("ghp_0123456789abcdefghijABCDEFGHIJ012345", "env GITHUB_TOKEN");
    CHECK(gh.starts_with("ghp_"));
    CHECK(gh.size() == 40);
    CHECK(r.make("ghp_0123456789abcdefghijABCDEFGHIJ012345", "x") != gh);
    CHECK(replace_url_password("postgres://admin:hunter2@db/prod", r, "env DATABASE_URL")
              .starts_with("postgres://admin:"));
    CHECK(replace_url_password("postgres://admin:hunter2@db/prod", r, "env DATABASE_URL")
              .ends_with("@db/prod"));
    CHECK(replace_url_password("postgres://admin:hunter2@db/prod", r, "x").find("hunter2") ==
          std::string::npos);
    CHECK(replace_url_password("https://example.com/a:b@c", r, "x").empty());  // '@' after the path
    CHECK(r.all().size() == 6);
}

TEST_CASE("secret variable names") {
    for (const char* name :
         {"GITHUB_TOKEN", "GH_TOKEN", "NPM_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_ACCESS_KEY_ID", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "DB_PASSWORD", "PYPI_TOKEN",
          "DOCKER_REGISTRY_PASSWORD", "DATABASE_URL", "SLACK_PRIVATE_KEY", "MY_SECRET_THING"})
        CHECK_MESSAGE(is_secret_name(name), name);
    for (const char* name : {"PATH", "HOME", "TOKENIZERS_PARALLELISM", "EDITOR", "LANG"})
        CHECK_FALSE_MESSAGE(is_secret_name(name), name);
    char a[] = "GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    char b[] = "PATH=/usr/bin";
    char c[] = "REDIS_URL=redis://:s3cretpass@cache:6379/0";
    char* env[] = {a, b, c, nullptr};
    CanaryRegistry r;
    const auto scrubbed = scrub_environment(env, r);
    REQUIRE(scrubbed.entries.size() == 3);
    CHECK(scrubbed.entries[0].starts_with("GITHUB_TOKEN=ghp_"));
    CHECK(scrubbed.entries[0] != a);
    CHECK(scrubbed.entries[1] == "PATH=/usr/bin");
    CHECK(scrubbed.entries[2].find("s3cretpass") == std::string::npos);
    CHECK(scrubbed.replaced == std::vector<std::string>{"GITHUB_TOKEN", "REDIS_URL"});
}

TEST_CASE("secret variables by class: names in any case and style, secrets inside values") {
    for (const char* name :
         {"PGPASSWORD", "MYSQL_PWD", "SSHPASS", "API_KEY", "REDIS_PASS", "github_token", "apiKey",
          "STRIPE_SECRET_KEY", "SENTRY_DSN", "SLACK_WEBHOOK", "VAULT_TOKEN", "CI_JOB_TOKEN",
          "DBPASSWORD", "Session_Cookie", "GPG_PASSPHRASE", "HF_AUTH", "AZURE_CREDENTIALS"})
        CHECK_MESSAGE(is_secret_name(name), name);
    for (const char* name :
         {"PWD", "OLDPWD", "SSH_AUTH_SOCK", "GPG_KEY_FILE", "TOKEN_URL", "PASSWORD_FILE",
          "BYPASS_CACHE", "COMPASS_MODE", "KEYMAP", "XAUTHORITY", "AWS_PROFILE", "DB_USER",
          "DB_HOST", "LS_COLORS", "TERM", "SHELL"})
        CHECK_FALSE_MESSAGE(is_secret_name(name), name);
    CanaryRegistry r;
    const struct {
        const char* value;
        const char* secret;
    } inside[] = {
        {"postgres://u:pw-hunter2@h/db", "pw-hunter2"},
        {"jdbc:postgresql://h:5432/db?user=app&password=hunter2x&ssl=true", "hunter2x"},
        {"Server=tcp:h,1433;Database=d;User ID=u;Password=Sup3rSecret;", "Sup3rSecret"},
        {"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5==;",
         "c2VjcmV0a2V5c2VjcmV0a2V5=="},
        {"https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX", "XXXXXXXXXXXXXXXXXXXX"},
        {"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789"},
        {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"},
    };
    for (const auto& c : inside) {
        const std::string value = c.value;
        CAPTURE(value);
        const std::string replaced = replace_secret_in_value(c.value, r, "test");
        CHECK_FALSE(replaced.empty());
        CHECK(replaced.find(c.secret) == std::string::npos);
    }
    for (const char* plain : {"/usr/bin:/bin", "en_US.UTF-8", "xterm-256color", "1", "main",
                              "3f786850e387550fdab836ed7e6dc881de23001b"})
        CHECK_MESSAGE(replace_secret_in_value(plain, r, "test").empty(), plain);
    // Through the environment: a path-valued "pass" variable stays, so git keeps working.
    char a[] = "GIT_ASKPASS=/bin/sh";
    char b[] = "MYSQL_PWD=hunter2";
    char c[] = "BYPASS_AUTH=1";
    char d[] = "WHATIF_HOME=/home/ana/.local/state/whatif";
    char* env[] = {a, b, d, c, nullptr};
    const auto scrubbed = scrub_environment(env, r);
    CHECK(scrubbed.entries[0] == "GIT_ASKPASS=/bin/sh");
    CHECK(scrubbed.entries[1].find("hunter2") == std::string::npos);
    CHECK(scrubbed.entries[2] == "BYPASS_AUTH=1");  // WHATIF_HOME is whatif's own: gone
    CHECK(scrubbed.entries.size() == 3);
    CHECK(scrubbed.replaced == std::vector<std::string>{"MYSQL_PWD"});
}

TEST_CASE("decoys keep each file's format and hold no real secret") {
    CanaryRegistry r;
    const std::string aws =
        "[default]\naws_access_key_id = AKIAREALREALREAL1234\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = us-east-1\n";
    const std::string decoy = decoy_content("/h/.aws/credentials", aws, r);
    CHECK(decoy.find("[default]\naws_access_key_id = AKIA") == 0);
    CHECK(decoy.find("AKIAREALREALREAL1234") == std::string::npos);
    CHECK(decoy.find("wJalrXUtnFEMI") == std::string::npos);
    CHECK(decoy.find("region = us-east-1") != std::string::npos);

    const std::string pgpass = "db.internal:5432:prod:admin:hunter2\n";
    CHECK(decoy_content("/h/.pgpass", pgpass, r).starts_with("db.internal:5432:prod:admin:"));
    CHECK(decoy_content("/h/.pgpass", pgpass, r).find("hunter2") == std::string::npos);
    const std::string netrc = "machine api.example.com login ana password opensesame\n";
    CHECK(decoy_content("/h/.netrc", netrc, r).find("opensesame") == std::string::npos);
    CHECK(decoy_content("/h/.netrc", netrc, r)
              .starts_with("machine api.example.com login ana password "));
    const std::string gitcreds = "https://ana:ghp_abcdefghijklmnop0123456789ABCD@github.com\n";
    CHECK(decoy_content("/h/.git-credentials", gitcreds, r).find("ghp_abcdefghijklmnop") ==
          std::string::npos);
    const std::string docker =
        "{\"auths\": {\"ghcr.io\": {\"auth\": \"YW5hOnNlY3JldHBhc3N3b3JkMTIz\"}}}\n";
    CHECK(decoy_content("/h/.docker/config.json", docker, r).find("YW5hOnNlY3JldHBhc3N3b3JkMTIz") ==
          std::string::npos);
    const std::string key =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
        "-----END OPENSSH PRIVATE KEY-----\n";
    const std::string key_decoy = decoy_content("/h/.ssh/id_ed25519", key, r);
    CHECK(key_decoy.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
    CHECK(key_decoy.find("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ") == std::string::npos);
    CHECK(key_decoy.size() == key.size());
    const std::string dotenv = "DEBUG=1\nSTRIPE_SECRET_KEY=sk_live_abcdef123456\n";
    CHECK(decoy_content("/p/.env", dotenv, r).find("sk_live_abcdef123456") == std::string::npos);
    CHECK(decoy_content("/p/.env", dotenv, r).starts_with("DEBUG=1\n"));
}

TEST_CASE("canaries are found in raw bytes, in HTTP Basic credentials and in DNS names") {
    CanaryRegistry r;
    const std::string token =
        r.make("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "env GITHUB_TOKEN");
    CHECK(canaries_in("Authorization: Bearer " + token + "\r\n", r.all()).size() == 1);
    // "ana:<token>" in base64, as curl -u sends it.
    std::string plain = "ana:" + token, b64;
    static const char* alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < plain.size(); i += 3) {
        const uint32_t n = (static_cast<uint8_t>(plain[i]) << 16) |
                           (i + 1 < plain.size() ? static_cast<uint8_t>(plain[i + 1]) << 8 : 0) |
                           (i + 2 < plain.size() ? static_cast<uint8_t>(plain[i + 2]) : 0);
        b64 += alphabet[(n >> 18) & 63];
        b64 += alphabet[(n >> 12) & 63];
        b64 += i + 1 < plain.size() ? alphabet[(n >> 6) & 63] : '=';
        b64 += i + 2 < plain.size() ? alphabet[n & 63] : '=';
    }
    CHECK(canaries_in("Authorization: Basic " + b64 + "\r\n", r.all()).size() == 1);
    std::string lowered = token;
    for (char& c : lowered) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(canaries_in(lowered + ".exfil.example.com", r.all()).size() == 1);
    CHECK(canaries_in("nothing to see", r.all()).empty());
}
