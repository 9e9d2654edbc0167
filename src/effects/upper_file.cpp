#include "whatif/effects/upper_file.hpp"

#include "whatif/util/fs.hpp"

namespace whatif::effects {

Result<std::string> read_upper_file(const std::vector<ScanLayer>& layers,
                                    const std::string& host_path, uint64_t max_bytes) {
    // The layer of the deepest mount holding the path, as upper_path_of picks it.
    const ScanLayer* best = nullptr;
    for (const auto& layer : layers)
        if (util::path_is_within(host_path, layer.host_root) &&
            (best == nullptr || layer.host_root.size() > best->host_root.size()))
            best = &layer;
    if (best == nullptr) return fail(host_path + " is in no layer of the run");
    const std::string rel =
        best->host_root == "/" ? host_path : host_path.substr(best->host_root.size());
    return util::read_file_beneath(best->upper_dir, rel, max_bytes);
}

}  // namespace whatif::effects
