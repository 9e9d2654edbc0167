#include "whatif/effects/content_diff.hpp"

#include <git2.h>

#include <memory>

#include "whatif/util/strings.hpp"

namespace whatif::effects {

namespace {

struct LibGit2 {
    LibGit2() { git_libgit2_init(); }
    ~LibGit2() { git_libgit2_shutdown(); }
};

std::string git_error_text() {
    const git_error* e = git_error_last();
    return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

}  // namespace

Result<std::string> unified_diff(const std::string* before, const std::string* after, std::string_view shown_path) {
    static LibGit2 library;
    // libgit2 writes "a/" and "b/" itself: give it the path without its leading '/'.
    std::string_view rel = shown_path;
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    const std::string a_path(rel), b_path(rel);
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    opts.context_lines = 3;
    git_patch* raw_patch = nullptr;
    if (git_patch_from_buffers(&raw_patch, before ? before->data() : nullptr, before ? before->size() : 0,
                               before ? a_path.c_str() : nullptr, after ? after->data() : nullptr,
                               after ? after->size() : 0, after ? b_path.c_str() : nullptr, &opts) != 0)
        return fail("diff of " + std::string(shown_path) + ": " + git_error_text());
    std::unique_ptr<git_patch, decltype(&git_patch_free)> patch(raw_patch, git_patch_free);
    const git_diff_delta* delta = git_patch_get_delta(patch.get());
    if (delta != nullptr && (delta->flags & GIT_DIFF_FLAG_BINARY) != 0) {
        return "Binary files differ: " + std::string(shown_path) + " (" +
               (before ? util::human_bytes(before->size()) : std::string("absent")) + " -> " +
               (after ? util::human_bytes(after->size()) : std::string("absent")) + ")\n";
    }
    git_buf buf = GIT_BUF_INIT;
    if (git_patch_to_buf(&buf, patch.get()) != 0) return fail("diff of " + std::string(shown_path) + ": " + git_error_text());
    std::string text(buf.ptr, buf.size);
    git_buf_dispose(&buf);
    return text;
}

}  // namespace whatif::effects
