#include "whatif/cli/sandbox_request.hpp"

#include <unistd.h>

#include <cstdlib>

#include "whatif/util/fs.hpp"

namespace whatif::cli {

Result<StubCredentials> stub_credentials(const std::string& decoy_dir, const std::string& cwd) {
    StubCredentials c;
    c.environment = creds::scrub_environment(environ, c.canaries);
    const char* home_env = std::getenv("HOME");
    const std::string home = home_env != nullptr ? home_env : "";
    if (!home.empty() || !cwd.empty()) {
        auto made =
            creds::make_decoys(creds::find_credential_files(home, cwd), decoy_dir, c.canaries);
        if (!made) return std::unexpected(made.error());
        c.decoys = std::move(*made);
    }
    return c;
}

void use_credentials(const StubCredentials& c, sandbox::RunRequest& request) {
    request.env = c.environment.entries;
    for (const auto& d : c.decoys) {
        request.decoys.emplace_back(d.decoy_path, d.host_path);
        if (util::base_name(d.host_path) == ".pgpass") request.request_pg_password = true;
    }
    for (const auto& name : c.environment.replaced)
        if (name == "PGPASSWORD" || name == "DATABASE_URL") request.request_pg_password = true;
}

}  // namespace whatif::cli
