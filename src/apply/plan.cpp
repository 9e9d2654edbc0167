#include "whatif/apply/plan.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "whatif/util/fs.hpp"

namespace whatif::apply {

using effects::Change;
using effects::FileType;

std::string_view to_string(OpKind k) {
    switch (k) {
        case OpKind::remove:
            return "remove";
        case OpKind::make_dir:
            return "mkdir";
        case OpKind::write_temp:
            return "write";
        case OpKind::sync:
            return "sync";
        case OpKind::place:
            return "place";
        case OpKind::place_special:
            return "place";
        case OpKind::set_metadata:
            return "metadata";
    }
    return "?";
}

ApplyPlan plan_apply(const effects::EffectSet& set, const std::vector<size_t>& selected) {
    ApplyPlan plan;
    std::vector<size_t> removals, dirs, files, specials, metadata;
    for (size_t i : selected) {
        const auto& e = set.files[i];
        const bool after_is_dir = e.after && e.after->type == FileType::dir;
        const bool before_is_dir = e.before && e.before->type == FileType::dir;
        if (e.after && e.after->type == FileType::device) {
            plan.refused.push_back(i);
            continue;
        }
        switch (e.change) {
            case Change::deleted:
                removals.push_back(i);
                continue;
            case Change::metadata:
                metadata.push_back(i);
                continue;
            case Change::replaced:
                // A rename cannot put a file over a directory or a directory over
                // anything: remove first. Non-directories are swapped atomically.
                if (after_is_dir || before_is_dir) removals.push_back(i);
                break;
            case Change::created:
            case Change::modified:
                break;
        }
        if (after_is_dir) {
            dirs.push_back(i);
            metadata.push_back(i);
        } else if (e.after && e.after->type == FileType::file) {
            files.push_back(i);
        } else {
            specials.push_back(i);
            metadata.push_back(i);
        }
    }
    auto by_path = [&](bool deepest_first) {
        return [&set, deepest_first](size_t a, size_t b) {
            return deepest_first ? set.files[a].path > set.files[b].path
                                 : set.files[a].path < set.files[b].path;
        };
    };
    std::sort(removals.begin(), removals.end(), by_path(true));
    std::sort(dirs.begin(), dirs.end(), by_path(false));
    std::sort(files.begin(), files.end(), by_path(false));
    std::sort(specials.begin(), specials.end(), by_path(false));
    std::sort(metadata.begin(), metadata.end(), by_path(true));
    for (size_t i : removals) plan.ops.push_back({OpKind::remove, i});
    for (size_t i : dirs) plan.ops.push_back({OpKind::make_dir, i});
    for (size_t i : files) plan.ops.push_back({OpKind::write_temp, i});
    if (!files.empty()) plan.ops.push_back({OpKind::sync, 0});
    // Renames parents first: files and specials merged by path.
    std::vector<ApplyOp> placements;
    for (size_t i : files) placements.push_back({OpKind::place, i});
    for (size_t i : specials) placements.push_back({OpKind::place_special, i});
    std::sort(placements.begin(), placements.end(), [&](const ApplyOp& a, const ApplyOp& b) {
        return set.files[a.effect].path < set.files[b.effect].path;
    });
    plan.ops.insert(plan.ops.end(), placements.begin(), placements.end());
    for (size_t i : metadata) plan.ops.push_back({OpKind::set_metadata, i});
    return plan;
}

std::vector<size_t> select_effects(const effects::EffectSet& set,
                                   const std::vector<std::string>& only,
                                   const std::vector<std::string>& exclude) {
    auto absolute = [&](const std::string& glob) {
        return glob.starts_with("/") ? glob : util::join_path(set.run.cwd, glob);
    };
    auto matches = [&](const std::string& path, const std::vector<std::string>& globs) {
        for (const auto& g : globs) {
            const std::string pattern = absolute(g);
            // The path itself or any parent directory (so "data" covers data/**).
            for (std::string p = path; p != "/"; p = util::parent_path(p))
                if (fnmatch(pattern.c_str(), p.c_str(), 0) == 0) return true;
        }
        return false;
    };
    std::vector<size_t> selected;
    std::set<std::string> selected_paths;
    for (size_t i = 0; i < set.files.size(); ++i) {
        const std::string& path = set.files[i].path;
        if (!only.empty() && !matches(path, only)) continue;
        if (matches(path, exclude)) continue;
        selected.push_back(i);
        selected_paths.insert(path);
    }
    // A new file needs its new parent directories.
    std::vector<size_t> needed;
    for (size_t i = 0; i < set.files.size(); ++i) {
        const auto& e = set.files[i];
        const bool creates_dir = e.after && e.after->type == FileType::dir &&
                                 (e.change == Change::created || e.change == Change::replaced);
        if (!creates_dir || selected_paths.contains(e.path)) continue;
        for (const auto& p : selected_paths)
            if (util::path_is_within(p, e.path)) {
                needed.push_back(i);
                break;
            }
    }
    selected.insert(selected.end(), needed.begin(), needed.end());
    std::sort(selected.begin(), selected.end());
    return selected;
}

}  // namespace whatif::apply
