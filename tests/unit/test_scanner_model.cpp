// The scanner against an independent model of overlayfs (tests/support/overlay_model):
// hundreds of random host trees and upper layers, every one classified exactly as
// the model's merged view says. The same generator drives the scanner fuzz target.
#include <doctest/doctest.h>
#include <unistd.h>

#include <sstream>

#include "support/overlay_model.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/util/fs.hpp"

using namespace whatif;

namespace {

std::string describe(const std::map<std::string, std::string>& effects) {
    std::ostringstream out;
    for (const auto& [path, change] : effects) out << "  " << change << " " << path << "\n";
    return out.str();
}

}  // namespace

TEST_CASE("the scanner agrees with the overlay model on random layers") {
    const int seeds = 400;
    int with_effects = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
        char tmpl[] = "/tmp/whatif-model-XXXXXX";
        const std::string root = mkdtemp(tmpl);
        const std::string host = root + "/host", upper = root + "/upper";
        util::make_dirs(host, 0755);
        util::make_dirs(upper, 0755);
        test::SeededChoices choices(static_cast<uint32_t>(seed));
        test::generate_layers(host, upper, choices, {.device_whiteouts = geteuid() == 0});

        const auto expected = test::expected_effects(host, upper);
        auto scanned = effects::scan_upper_layers({{host, upper}});
        REQUIRE(scanned.has_value());
        std::map<std::string, std::string> actual;
        for (const auto& e : scanned->files)
            actual[e.path.substr(host.size())] = std::string(to_string(e.change));
        INFO("seed " << seed << "\nexpected:\n"
                     << describe(expected) << "scanned:\n"
                     << describe(actual));
        CHECK(actual == expected);
        CHECK(scanned->warnings.empty());
        if (!expected.empty()) ++with_effects;
        util::remove_tree(root);
    }
    // The generator must actually exercise the scanner.
    CHECK(with_effects > seeds / 2);
}
