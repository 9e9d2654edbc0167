// What `apply` will do, in which order: a pure function of the effect set and the
// selection, so that it can be tested without touching any filesystem.
#pragma once

#include <string>
#include <vector>

#include "whatif/effects/effect_set.hpp"

namespace whatif::apply {

enum class OpKind {
    remove,         // unlink or rmdir (children first)
    make_dir,       // mkdir 0700; final mode set by set_metadata, deepest first
    write_temp,     // the new content into a temporary name in the target dir
    sync,           // one syncfs per filesystem: temporary files durable before renames
    place,          // rename the temporary file over the target
    place_special,  // symlink, FIFO or socket at a temporary name, renamed over the target
    set_metadata,   // mode, owner, mtime
};
std::string_view to_string(OpKind k);

struct ApplyOp {
    OpKind kind = OpKind::remove;
    size_t effect = 0;  // index in EffectSet::files
};

struct ApplyPlan {
    std::vector<ApplyOp> ops;
    std::vector<size_t> refused;  // device nodes: never applied
    // Files whose content is a decoy's or holds canaries (paths_holding_decoy_content):
    // the real run would write the real secrets there, which the dry run never saw.
    std::vector<size_t> decoy_content;
};

// Order valid for every mix of effects: removals deepest first; directories
// created parents first; file contents written under temporary names, made durable,
// then renamed into place parents first; modes last, deepest first (a directory
// made read-only must not block what goes inside it).
ApplyPlan plan_apply(const effects::EffectSet& set, const std::vector<size_t>& selected);

// The effects matched by --only (all when empty) and not by --exclude. A glob
// matches a path or any of its parent directories; relative globs are taken from
// the run's working directory. Directory creations a selected effect needs are
// added to the selection.
std::vector<size_t> select_effects(const effects::EffectSet& set,
                                   const std::vector<std::string>& only,
                                   const std::vector<std::string>& exclude);

}  // namespace whatif::apply
