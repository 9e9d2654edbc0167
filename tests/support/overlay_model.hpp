// An independent model of what overlayfs shows, for checking the scanner: random
// host trees and upper layers are generated on disk, the merged view is computed
// here by the overlay rules (whiteouts in both forms, opaque directories, lower
// layers hidden beneath them), and the expected effects are the differences
// between the host tree and that merged view. The scanner must report exactly them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <string_view>

namespace whatif::test {

// Where the generator's decisions come from: a seeded PRNG (property tests) or
// the fuzzer's bytes.
class Choices {
  public:
    virtual ~Choices() = default;
    // A number in [0, bound).
    virtual uint32_t next(uint32_t bound) = 0;
};

class SeededChoices : public Choices {
  public:
    explicit SeededChoices(uint32_t seed) : rng_(seed) {}
    uint32_t next(uint32_t bound) override {
        return bound == 0 ? 0 : std::uniform_int_distribution<uint32_t>(0, bound - 1)(rng_);
    }

  private:
    std::mt19937 rng_;
};

class ByteChoices : public Choices {
  public:
    explicit ByteChoices(std::string_view bytes) : bytes_(bytes) {}
    uint32_t next(uint32_t bound) override {
        if (bound == 0 || at_ >= bytes_.size()) return 0;
        return static_cast<unsigned char>(bytes_[at_++]) % bound;
    }
    bool exhausted() const { return at_ >= bytes_.size(); }

  private:
    std::string_view bytes_;
    size_t at_ = 0;
};

struct GeneratorOptions {
    // The 0:0 character-device whiteout needs CAP_MKNOD; without it only the
    // xattr form (overlayfs >= 6.7) is generated.
    bool device_whiteouts = false;
    int max_depth = 3;
    int max_entries_per_dir = 4;
};

// Fills `host` and `upper` (existing, empty directories) with random trees.
void generate_layers(const std::string& host, const std::string& upper, Choices& choices,
                     const GeneratorOptions& options);

// path (relative, starting with '/') -> created | modified | deleted | metadata |
// replaced, by the model.
std::map<std::string, std::string> expected_effects(const std::string& host,
                                                    const std::string& upper);

}  // namespace whatif::test
