// Golden tests: one rich effect set rendered as text, JSON and Markdown, compared
// byte for byte with tests/golden/report.{txt,json,md}. After an intended change
// of a renderer, WHATIF_UPDATE_GOLDEN=1 rewrites the files; review them with git diff.
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "support/sample_effect_set.hpp"
#include "whatif/report/json.hpp"
#include "whatif/report/markdown.hpp"
#include "whatif/report/text.hpp"

using namespace whatif;
using effects::Change;
using effects::FileType;
using nlohmann::json;

namespace {

void check_golden(const std::string& name, const std::string& actual) {
    const std::string path = std::string(WHATIF_GOLDEN_DIR) + "/" + name;
    if (const char* update = std::getenv("WHATIF_UPDATE_GOLDEN");
        update != nullptr && *update == '1') {
        std::ofstream(path, std::ios::binary) << actual;
        MESSAGE("rewrote " << path);
        return;
    }
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "missing " << path << " (WHATIF_UPDATE_GOLDEN=1 writes it)");
    std::stringstream expected;
    expected << in.rdbuf();
    INFO("golden file " << path << " differs; if the change is intended: WHATIF_UPDATE_GOLDEN=1");
    CHECK(actual == expected.str());
}

}  // namespace

TEST_CASE("golden: the text report") {
    check_golden("report.txt", report::render_text(test::sample_effect_set(), {.color = false}));
    check_golden("report-color.txt",
                 report::render_text(test::sample_effect_set(), {.color = true}));
}

TEST_CASE("golden: the JSON effect set, and it reads back to the same JSON") {
    const std::string text = report::render_json(test::sample_effect_set());
    check_golden("report.json", text);
    const auto back = effects::effect_set_from_json(json::parse(text));
    REQUIRE(back.has_value());
    CHECK(report::render_json(*back) == text);
}

TEST_CASE("golden: the Markdown report") {
    const std::vector<effects::DiffSnippet> snippets = {
        {"/home/ana/proj/config.toml",
         "--- a/home/ana/proj/config.toml\n+++ b/home/ana/proj/config.toml\n@@ -1,1 +1,1 @@\n"
         "-retries = 3\n+retries = 0 # ```\n",
         true}};
    check_golden("report.md", report::render_markdown(test::sample_effect_set(), snippets));
}
