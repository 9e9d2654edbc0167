#pragma once

namespace whatif::util {

// spdlog to stderr only (stdout may carry JSON). Level: -v flags, else $WHATIF_LOG.
void init_logging(int verbosity);

}  // namespace whatif::util
