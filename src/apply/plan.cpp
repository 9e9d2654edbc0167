#include "whatif/apply/plan.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <map>
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
    // The effects' own order has every directory before what lies beneath it (scan
    // order, or path order in runs stored by older versions): creations follow it,
    // removals and modes go in reverse. No sort, so a million effects cost a few
    // passes over the list.
    std::vector<size_t> sorted = selected;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    ApplyPlan plan;
    std::vector<size_t> removals, dirs, files, metadata;
    std::vector<ApplyOp> placements;  // files and specials, in list order
    const std::set<std::string> decoy_paths = effects::paths_holding_decoy_content(set);
    for (size_t i : sorted) {
        if (i >= set.files.size()) continue;
        const effects::FileEffect e = set.files[i];
        const bool after_is_dir = e.after && e.after->type == FileType::dir;
        const bool before_is_dir = e.before && e.before->type == FileType::dir;
        if (e.after && e.after->type == FileType::device) {
            plan.refused.push_back(i);
            continue;
        }
        if (e.after && e.change != Change::deleted && decoy_paths.contains(e.path)) {
            plan.decoy_content.push_back(i);
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
            placements.push_back({OpKind::place, i});
        } else {
            placements.push_back({OpKind::place_special, i});
            metadata.push_back(i);
        }
    }
    for (auto it = removals.rbegin(); it != removals.rend(); ++it)
        plan.ops.push_back({OpKind::remove, *it});
    for (size_t i : dirs) plan.ops.push_back({OpKind::make_dir, i});
    for (size_t i : files) plan.ops.push_back({OpKind::write_temp, i});
    if (!files.empty()) plan.ops.push_back({OpKind::sync, 0});
    plan.ops.insert(plan.ops.end(), placements.begin(), placements.end());
    for (auto it = metadata.rbegin(); it != metadata.rend(); ++it)
        plan.ops.push_back({OpKind::set_metadata, *it});
    return plan;
}

std::vector<size_t> select_effects(const effects::EffectSet& set,
                                   const std::vector<std::string>& only,
                                   const std::vector<std::string>& exclude) {
    std::vector<size_t> selected;
    if (only.empty() && exclude.empty()) {
        selected.resize(set.files.size());
        for (size_t i = 0; i < selected.size(); ++i) selected[i] = i;
        return selected;
    }
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
    // Directories the run creates that the filter left out, in case a selected
    // effect lies beneath one of them.
    std::map<std::string, size_t> unselected_new_dirs;
    std::vector<bool> is_selected(set.files.size(), false);
    for (auto it = set.files.begin(); it != set.files.end(); ++it) {
        const auto& e = *it;
        if ((only.empty() || matches(e.path, only)) && !matches(e.path, exclude)) {
            is_selected[it.index()] = true;
            continue;
        }
        const bool creates_dir = e.after && e.after->type == FileType::dir &&
                                 (e.change == Change::created || e.change == Change::replaced);
        if (creates_dir) unselected_new_dirs.emplace(e.path, it.index());
    }
    // A new file needs its new parent directories.
    if (!unselected_new_dirs.empty())
        for (auto it = set.files.begin(); it != set.files.end(); ++it) {
            if (!is_selected[it.index()]) continue;
            for (std::string p = util::parent_path(it->path); p != "/" && !p.empty();
                 p = util::parent_path(p))
                if (auto dir = unselected_new_dirs.find(p); dir != unselected_new_dirs.end())
                    is_selected[dir->second] = true;
        }
    for (size_t i = 0; i < is_selected.size(); ++i)
        if (is_selected[i]) selected.push_back(i);
    return selected;
}

}  // namespace whatif::apply
