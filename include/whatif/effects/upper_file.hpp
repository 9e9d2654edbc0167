// Reading a file the command left in an upper layer, on the host side (git refs,
// the leak scan): untrusted input. Never through a symlink anywhere beneath the
// layer's upper dir, never a FIFO or a device, never more than max_bytes
// (util::read_file_beneath).
#pragma once

#include <string>
#include <vector>

#include "whatif/effects/scanner.hpp"
#include "whatif/util/error.hpp"

namespace whatif::effects {

Result<std::string> read_upper_file(const std::vector<ScanLayer>& layers,
                                    const std::string& host_path, uint64_t max_bytes);

}  // namespace whatif::effects
