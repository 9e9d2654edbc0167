// libFuzzer: the upper-layer scanner on trees generated from the input bytes
// (tests/support/overlay_model), checked against the model's merged view: any
// difference in what is created, modified, deleted, metadata or replaced traps.
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "support/overlay_model.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/util/fs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace whatif;
    // Under $TMPDIR, which scripts/fuzz.sh points at a directory it removes afterwards.
    static const std::string root = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl =
            std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/whatif-fuzz-scan-XXXXXX";
        return std::string(mkdtemp(tmpl.data()));
    }();
    const std::string host = root + "/host", upper = root + "/upper";
    util::remove_tree(host);
    util::remove_tree(upper);
    mkdir(host.c_str(), 0755);
    mkdir(upper.c_str(), 0755);
    test::ByteChoices choices(std::string_view(reinterpret_cast<const char*>(data), size));
    test::generate_layers(host, upper, choices, {.device_whiteouts = geteuid() == 0});
    const auto expected = test::expected_effects(host, upper);
    auto scanned = effects::scan_upper_layers({{host, upper}});
    if (!scanned) __builtin_trap();
    std::map<std::string, std::string> actual;
    for (const auto& e : scanned->files)
        actual[e.path.substr(host.size())] = std::string(to_string(e.change));
    if (actual != expected) __builtin_trap();
    return 0;
}
