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

// Before the run, for an unprivileged caller: the files the command names (argv's
// paths and the words of a shell command line) and the entries directly in the
// cwd whose owner or group the sandbox does not map, so that the dry run cannot
// write them (overlayfs refuses the copy-up with EOVERFLOW). One readdir of the
// cwd, bounded; empty for root, who maps every id.
std::vector<std::string> unmapped_owner_paths(const std::vector<std::string>& argv,
                                              const std::string& cwd);

// sandbox-refused: the command printed EOVERFLOW's message (stdout.log and
// stderr.log of the run, their first and last MB), or a foreign-owned dir could
// get no stand-in, or a file of `unmapped` (unmapped_owner_paths, minus the
// stand-ins) may have been a write the dry run refused: the command failed.
void record_sandbox_refused(const std::string& run_dir, const sandbox::RunOutcome& outcome,
                            const std::vector<std::string>& unmapped, effects::EffectSet& set);

// The scan could not read part of an upper layer, or a tree was too deep.
void record_scan_gaps(const effects::ScanResult& scan, effects::EffectSet& set);
// sandbox-refused: a decoy that stayed a bind mount (its credential is on a
// read-only or split level: stand_ins.hpp) refused an unlink (EBUSY) or a rename
// (EXDEV), as the command's output says on a line that names it.
void record_decoy_mount_refusals(const std::string& run_dir, const sandbox::RunOutcome& outcome,
                                 effects::EffectSet& set);

}  // namespace whatif::cli
