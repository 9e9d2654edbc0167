#include "support/sample_effect_set.hpp"

#include <string>

namespace whatif::test {

using effects::Change;
using effects::FileType;
using nlohmann::json;

namespace {

effects::FileState state(FileType type, uint64_t size, uint32_t mode = 0644) {
    effects::FileState s;
    s.type = type;
    s.size = size;
    s.mode = mode;
    s.uid = 1000;
    s.gid = 1000;
    s.mtime_ns = 1'790'000'000'000'000'000;
    s.ino = 42;
    return s;
}

}  // namespace

effects::EffectSet sample_effect_set() {
    effects::EffectSet set;
    auto& r = set.run;
    r.id = "20261124T120000-beef";
    r.argv = {"sh", "-c", "./deploy.sh --prod"};
    r.cwd = "/home/ana/proj";
    r.profile = "agent";
    r.net = "stub";
    r.started_at = "2026-11-24T12:00:00.000Z";
    r.duration_ms = 1234;
    r.exit_status = 0;
    auto add = [&](std::string path, Change c, FileType t, std::optional<effects::FileState> b,
                   std::optional<effects::FileState> a, bool ignored = false) {
        effects::FileEffect e{std::move(path), c, t, std::move(b), std::move(a), ignored};
        set.files.push_back(e);
    };
    add("/home/ana/proj/data", Change::deleted, FileType::dir, state(FileType::dir, 0, 0755), {});
    for (int i = 0; i < 12; ++i)
        add("/home/ana/proj/data/part-" + std::to_string(i) + ".csv", Change::deleted,
            FileType::file, state(FileType::file, 1000), {});
    add("/home/ana/proj/build", Change::replaced, FileType::file, state(FileType::dir, 0, 0755),
        state(FileType::file, 5));
    add("/home/ana/proj/config.toml", Change::modified, FileType::file, state(FileType::file, 12),
        state(FileType::file, 14));
    auto link_before = state(FileType::symlink, 0, 0777), link_after = link_before;
    link_before.target = "v1";
    link_after.target = "v2";
    add("/home/ana/proj/current", Change::modified, FileType::symlink, link_before, link_after);
    add("/home/ana/proj/run.sh", Change::metadata, FileType::file, state(FileType::file, 20),
        state(FileType::file, 20, 0755));
    add("/home/ana/proj/pkg/__pycache__/m.pyc", Change::created, FileType::file, {},
        state(FileType::file, 300), true);
    add("/home/ana/.bashrc", Change::modified, FileType::file, state(FileType::file, 100),
        state(FileType::file, 140));
    add("/tmp/deploy.log", Change::created, FileType::file, {}, state(FileType::file, 2048));
    add(std::string("/home/ana/proj/odd\nname\xff"), Change::created, FileType::file, {},
        state(FileType::file, 1));
    set.processes = {
        {2, 1, {"sh", "-c", "./deploy.sh --prod"}, "/bin/sh", "/home/ana/proj", 0, {}, 0},
        {3, 2, {"./deploy.sh", "--prod"}, "/home/ana/proj/deploy.sh", "/home/ana/proj", {}, {}, 0},
        {4, 3, {"psql", "-h", "db.internal", "prod"}, "/usr/bin/psql", "/home/ana/proj", {}, {}, 0},
        {5,
         3,
         {"curl", "-sS", "https://api.github.com"},
         "/usr/bin/curl",
         "/home/ana/proj",
         {},
         {},
         0}};
    set.network = json::array({{{"kind", "dns"},
                                {"proto", "udp"},
                                {"host", "db.internal"},
                                {"address", nullptr},
                                {"port", 53},
                                {"path", nullptr},
                                {"protocol", "dns"},
                                {"detail", "A"},
                                {"pid", nullptr},
                                {"outcome", "stubbed"}},
                               {{"kind", "connect"},
                                {"proto", "tcp"},
                                {"host", "db.internal"},
                                {"address", "198.18.0.1"},
                                {"port", 5432},
                                {"path", nullptr},
                                {"tls", nullptr},
                                {"http", nullptr},
                                {"protocol", "postgresql"},
                                {"detail", "user=admin database=prod: DROP DATABASE prod"},
                                {"pid", 4},
                                {"outcome", "stubbed"}},
                               {{"kind", "connect"},
                                {"proto", "tcp"},
                                {"host", "api.github.com"},
                                {"address", "198.18.0.2"},
                                {"port", 443},
                                {"path", nullptr},
                                {"tls", {{"sni", "api.github.com"}, {"alpn", {"h2"}}}},
                                {"http", nullptr},
                                {"protocol", "https"},
                                {"detail", nullptr},
                                {"pid", 5},
                                {"outcome", "stubbed"}}});
    set.secrets = json::array({{{"kind", "leak"},
                                {"access", "sent"},
                                {"name", "GITHUB_TOKEN"},
                                {"path", nullptr},
                                {"destination", "api.github.com:443"},
                                {"pid", 5}},
                               {{"kind", "file"},
                                {"access", "read"},
                                {"name", nullptr},
                                {"path", "/home/ana/.aws/credentials"},
                                {"destination", nullptr},
                                {"pid", nullptr}},
                               {{"kind", "env"},
                                {"access", "replaced"},
                                {"name", "GITHUB_TOKEN"},
                                {"path", nullptr},
                                {"destination", nullptr},
                                {"pid", nullptr}}});
    set.vcs = json::array({{{"repo", "/home/ana/proj"},
                            {"kind", "ref"},
                            {"ref", "refs/heads/main"},
                            {"change", "moved"},
                            {"before", "043fd3b5671429dba9d25294eb25000197e53f9c"},
                            {"after", "8105b496af1ffdebb2ca05f557070dddb2bcf383"},
                            {"fast_forward", false},
                            {"commits_lost", 3}},
                           {{"repo", "/home/ana/proj"},
                            {"kind", "work-tree"},
                            {"change", "untracked-deleted"},
                            {"count", 2},
                            {"paths", {"notes.txt", "scratch.tmp"}}}});
    set.databases = json::array({{{"path", "/home/ana/proj/app.db"},
                                  {"engine", "sqlite"},
                                  {"change", "modified"},
                                  {"tables",
                                   {{{"name", "users"},
                                     {"change", "dropped"},
                                     {"rows_before", 2},
                                     {"rows_after", nullptr}}}},
                                  {"objects", json::array()},
                                  {"error", nullptr}}});
    set.warnings = {"cannot compare '/home/ana/proj/locked' with the host: reported as modified"};
    set.decision.verdict = effects::Verdict::deny;
    set.decision.reasons = {
        {"secret-leak",
         effects::Verdict::deny,
         "a secret (GITHUB_TOKEN) would leave: sent to api.github.com:443",
         {}},
        {"destructive-query",
         effects::Verdict::deny,
         "destructive request to db.internal:5432: user=admin database=prod: DROP DATABASE prod",
         {}},
        {"git-history",
         effects::Verdict::ask,
         "git: moves branch main from 043fd3b to 8105b49, not a fast-forward; 3 commits no longer "
         "reachable from any ref",
         {"/home/ana/proj"}},
        {"unmatched",
         effects::Verdict::ask,
         "4 effects that no rule of profile 'agent' allows",
         {"/home/ana/.bashrc"}}};
    return set;
}

}  // namespace whatif::test
