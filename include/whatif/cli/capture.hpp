// What the dry run could not see, gathered in one place: run.capture of the effect
// set (effect_set.hpp: CaptureGap), which policy::decide reads first. Each source
// of doubt has one function here, so that the decision's inputs can be read in
// one file: the sandbox's outcome (a timeout, a mount it could not overlay, ...),
// the run store, what the command printed.
#pragma once

#include <string>
#include <vector>

#include "whatif/effects/effect_set.hpp"
#include "whatif/effects/scanner.hpp"
#include "whatif/sandbox/sandbox.hpp"

namespace whatif::cli {

// Gaps the sandbox itself reports: a timeout, mounts that could not be overlaid.
void record_sandbox_gaps(const sandbox::RunOutcome& outcome, effects::EffectSet& set);

// The run store's filesystem filled up during the run: the command's writes failed.
void record_store_full(const std::string& store_root, effects::EffectSet& set);

// sandbox-refused, from what the command printed (stdout.log and stderr.log of the
// run, their first and last MB, read once) and the host's owners:
// - unprivileged: EOVERFLOW's message, a foreign-owned dir that got no stand-in,
//   or, when the command failed, a file it names (or one directly in the cwd) whose
//   owner or group the sandbox does not map, so that the dry run could not write it;
// - a decoy that stayed a bind mount (stand_ins.hpp) refused an unlink (EBUSY) or a
//   rename (EXDEV), on a line of the output that names it.
// Nothing is read for a root caller without such decoys.
void record_sandbox_refused(const std::string& run_dir, const std::vector<std::string>& argv,
                            const std::string& cwd, const sandbox::RunOutcome& outcome,
                            effects::EffectSet& set);

// The scan could not read part of an upper layer, or a tree was too deep.
void record_scan_gaps(const effects::ScanResult& scan, effects::EffectSet& set);

}  // namespace whatif::cli
