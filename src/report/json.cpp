#include "whatif/report/json.hpp"

namespace whatif::report {

std::string render_json(const effects::EffectSet& set) {
    std::string out;
    effects::write_json(set, [&](std::string_view piece) { out += piece; });
    return out;
}

Status write_json_file(const effects::EffectSet& set, const std::string& path, unsigned mode) {
    auto writer = util::AtomicFileWriter::open(path, mode);
    if (!writer) return std::unexpected(writer.error());
    effects::write_json(set, [&](std::string_view piece) { writer->write(piece); });
    if (set.files.error()) return std::unexpected(*set.files.error());
    return writer->commit();
}

}  // namespace whatif::report
