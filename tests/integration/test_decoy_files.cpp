// Decoys that behave like the credential files they stand for (issue 16 part 7):
// each is a regular file in the overlay's upper layer, so deleting, renaming and
// writing it work in the dry run as for real, and are reported against the real
// file; an untouched decoy is no effect; the real bytes are never stored, and the
// decoy's bytes are never applied to the host.
#include "integration/harness.hpp"

using namespace whatif::test;
using nlohmann::json;

namespace {

const std::string kAwsSecret = "realAwsSecret0000000000000000000000000042";
const std::string kEnvKey = "realEnvApiKey000000000000000000000000042";

struct DecoyWorld : World {
    std::string aws, env;
    DecoyWorld() {
        REQUIRE(whatif::util::make_dirs(home + "/.aws", 0700).has_value());
        aws = home + "/.aws/credentials";
        env = host + "/.env";
        std::ofstream(aws) << "[default]\naws_secret_access_key = " << kAwsSecret << "\n";
        chmod(aws.c_str(), 0600);
        std::ofstream(env) << "API_KEY=" << kEnvKey << "\n";
        mkdirs("src");
        write("src/main.py", "print('hi')\n");
        write("README", "readme\n");
    }

    json run(const std::string& script, ProcessResult* raw = nullptr) const {
        return dry_run_sh(script, raw, {"-p", "agent"});
    }

    // change of each file effect beneath the project (the project itself excluded).
    std::map<std::string, std::string> project_effects(const json& set) const {
        std::map<std::string, std::string> out;
        for (const auto& f : set["files"]) {
            const std::string path = f["path"];
            if (path.starts_with(host + "/")) out[path.substr(host.size() + 1)] = f["change"];
        }
        return out;
    }

    std::string change_of(const json& set, const std::string& path) const {
        for (const auto& f : set["files"])
            if (f["path"] == path) return f["change"];
        return "";
    }

    bool secret(const json& set, const std::string& path, const std::string& access) const {
        for (const auto& s : set["secrets"])
            if (s["kind"] == "file" && s["path"] == path && s["access"] == access) return true;
        return false;
    }

    void check_store_has_no_real_secret() const {
        for (const auto& [path, entry] : snapshot_tree(store)) {
            if (entry.type != 'f') continue;
            const std::string content = read_text(store + "/" + path);
            INFO("stored file " << path);
            CHECK(content.find(kAwsSecret) == std::string::npos);
            CHECK(content.find(kEnvKey) == std::string::npos);
        }
    }

    void check_host_untouched() const {
        CHECK(read_text(aws).find(kAwsSecret) != std::string::npos);
        CHECK(read_text(env).find(kEnvKey) != std::string::npos);
        CHECK(exists(host + "/src/main.py"));
    }
};

}  // namespace

TEST_CASE("decoys: shutil.rmtree of a project with a .env deletes all of it, .env included") {
    DecoyWorld w;
    const auto set = w.run("python3 -c 'import shutil, os; shutil.rmtree(os.getcwd())'");
    CHECK(set["run"]["exit_status"] == 0);
    const auto effects = w.project_effects(set);
    CHECK(effects.at(".env") == "deleted");
    CHECK(effects.at("src/main.py") == "deleted");
    CHECK(effects.at("README") == "deleted");
    CHECK(w.change_of(set, w.host) == "deleted");
    CHECK(set["decision"]["verdict"] != "allow");
    CHECK(set["run"]["capture"] == "complete");
    w.check_host_untouched();
    w.check_store_has_no_real_secret();
}

TEST_CASE("decoys: node's fs.rmSync(dir, {recursive: true}) also goes through the .env") {
    DecoyWorld w;
    ProcessResult which = run_process("/bin/sh", {"-c", "command -v node"}, {});
    if (which.exit_code != 0) return;  // no node here
    const auto set = w.run("node -e 'require(\"fs\").rmSync(process.cwd(), {recursive: true})'");
    CHECK(w.project_effects(set).at(".env") == "deleted");
    CHECK(set["decision"]["verdict"] != "allow");
    w.check_host_untouched();
}

TEST_CASE("decoys: rm ~/.aws/credentials is a deletion of it, not allowed") {
    DecoyWorld w;
    const auto set = w.run("rm ~/.aws/credentials");
    CHECK(set["run"]["exit_status"] == 0);
    CHECK(w.change_of(set, w.aws) == "deleted");
    CHECK(set["decision"]["verdict"] != "allow");
    CHECK_FALSE(w.secret(set, w.aws, "read"));  // unlink is no read
    w.check_host_untouched();
    w.check_store_has_no_real_secret();
}

TEST_CASE("decoys: mv ~/.aws/credentials ~/.aws/old is reported, not allowed, never applied") {
    DecoyWorld w;
    const auto set = w.run("mv ~/.aws/credentials ~/.aws/old");
    CHECK(set["run"]["exit_status"] == 0);
    CHECK(w.change_of(set, w.aws) == "deleted");
    CHECK(w.change_of(set, w.home + "/.aws/old") == "created");
    CHECK(set["decision"]["verdict"] != "allow");
    const auto applied = w.whatif({"apply", "--force"});
    INFO("apply stderr: " << applied.err);
    CHECK(applied.exit_code != 0);
    CHECK(applied.err.find("decoy") != std::string::npos);
    CHECK_FALSE(w.exists(w.home + "/.aws/old"));  // no decoy bytes on the host
    w.check_host_untouched();
    w.check_store_has_no_real_secret();
    // Left out, the rest applies: the real file is deleted, as the command would.
    const auto partial = w.whatif({"apply", "--force", "--exclude", w.home + "/.aws/old"});
    INFO("apply --exclude stderr: " << partial.err);
    CHECK(partial.exit_code == 0);
    CHECK_FALSE(w.exists(w.aws));
    CHECK_FALSE(w.exists(w.home + "/.aws/old"));
}

TEST_CASE("decoys: echo x >> .env is a modification and a secret written; diff withholds it") {
    DecoyWorld w;
    const auto set = w.run("echo NEW_VAR=1 >> .env");
    CHECK(w.project_effects(set).at(".env") == "modified");
    CHECK(w.secret(set, w.env, "written"));
    CHECK(set["decision"]["verdict"] != "allow");
    const auto diff = w.whatif({"diff"});
    CHECK(diff.out.find(kEnvKey) == std::string::npos);
    CHECK(diff.out.find("not diffed") != std::string::npos);
    const auto md = w.whatif({"show", "--format", "markdown"});
    CHECK(md.out.find(kEnvKey) == std::string::npos);
    const auto applied = w.whatif({"apply", "--force"});
    CHECK(applied.exit_code != 0);
    w.check_host_untouched();
    w.check_store_has_no_real_secret();
}

TEST_CASE("decoys: cat ~/.aws/credentials is still a read of it, and no file effect") {
    DecoyWorld w;
    ProcessResult raw;
    const auto set = w.run("cat ~/.aws/credentials", &raw);
    // --format json: the command's stdout is on whatif's stderr.
    CHECK(raw.err.find("aws_secret_access_key = ") != std::string::npos);
    CHECK(raw.err.find(kAwsSecret) == std::string::npos);
    CHECK(w.secret(set, w.aws, "read"));
    CHECK(set["files"].empty());
    w.check_store_has_no_real_secret();
}

TEST_CASE("decoys: ls -la ~ and the project shows them as the real files, and is no effect") {
    DecoyWorld w;
    ProcessResult raw;
    const auto set =
        w.run("ls -la ~ ~/.aws . >/dev/null; stat -c '%a %s' ~/.aws/credentials; true", &raw);
    CHECK(raw.err.find("600 ") != std::string::npos);
    CHECK(set["files"].empty());
    CHECK(set["run"]["capture"] == "complete");
    CHECK(set["decision"]["verdict"] == "allow");
    w.check_store_has_no_real_secret();
}
