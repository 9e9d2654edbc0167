#include "whatif/effects/content_diff.hpp"

#include <dtl/dtl.hpp>

#include <sstream>
#include <vector>

#include "whatif/util/fs.hpp"
#include "whatif/util/strings.hpp"

namespace whatif::effects {

namespace {

// git's rule: a NUL byte in the first 8,000 bytes makes a file binary.
bool looks_binary(const std::string* content) {
    if (content == nullptr) return false;
    return content->find('\0', 0) < std::min<size_t>(content->size(), 8000);
}

std::vector<std::string> split_lines(const std::string* content, bool& ends_with_newline) {
    std::vector<std::string> lines;
    ends_with_newline = true;
    if (content == nullptr || content->empty()) return lines;
    size_t start = 0;
    while (start < content->size()) {
        const size_t nl = content->find('\n', start);
        if (nl == std::string::npos) {
            lines.push_back(content->substr(start));
            ends_with_newline = false;
            break;
        }
        lines.push_back(content->substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

}  // namespace

Result<std::string> unified_diff(const std::string* before, const std::string* after,
                                 std::string_view shown_path) {
    const std::string path = util::shell_quote_for_display(shown_path);
    std::string header = "--- " + (before != nullptr ? "a" + path : std::string("/dev/null")) +
                         "\n+++ " + (after != nullptr ? "b" + path : std::string("/dev/null")) +
                         "\n";
    if (looks_binary(before) || looks_binary(after)) {
        return "Binary files differ: " + path + " (" +
               (before ? util::human_bytes(before->size()) : std::string("absent")) + " -> " +
               (after ? util::human_bytes(after->size()) : std::string("absent")) + ")\n";
    }
    bool before_nl = true, after_nl = true;
    const std::vector<std::string> a = split_lines(before, before_nl);
    const std::vector<std::string> b = split_lines(after, after_nl);
    if (a == b) {
        if (before_nl == after_nl) return std::string();
        return header + "(only the newline at the end of the file differs)\n";
    }
    dtl::Diff<std::string> diff(a, b);
    diff.onHuge();  // bounded memory on long files
    diff.compose();
    diff.composeUnifiedHunks();
    std::ostringstream out;
    diff.printUnifiedFormat(out);
    std::string text = header + out.str();
    if (before_nl != after_nl) text += "\\ the newline at the end of the file differs\n";
    return text;
}

std::vector<DiffSnippet> diff_snippets(
    const FileEffects& files, const std::function<std::string(const std::string&)>& upper_of,
    const std::set<std::string>& withheld, size_t max_files, size_t max_lines) {
    constexpr uint64_t kMaxBytes = 256 << 10;
    std::vector<DiffSnippet> out;
    for (const auto& e : files) {
        if (out.size() == max_files) break;
        if (e.ignored || (e.change != Change::modified && e.change != Change::created)) continue;
        if (!e.after || e.after->type != FileType::file || withheld.contains(e.path)) continue;
        std::optional<std::string> before, after;
        if (e.before && e.before->type == FileType::file) {
            auto text = util::read_regular_file(e.path, kMaxBytes);
            if (!text) continue;
            before = std::move(*text);
        }
        auto text = util::read_regular_file(upper_of(e.path), kMaxBytes);
        if (!text) continue;
        after = std::move(*text);
        auto diff = unified_diff(before ? &*before : nullptr, &*after, e.path);
        if (!diff || diff->empty() || diff->starts_with("Binary files")) continue;
        DiffSnippet snippet{e.path, {}, false};
        size_t lines = 0, at = 0;
        while (at < diff->size() && lines < max_lines) {
            const size_t nl = diff->find('\n', at);
            const size_t end = nl == std::string::npos ? diff->size() : nl + 1;
            snippet.diff.append(*diff, at, end - at);
            at = end;
            ++lines;
        }
        snippet.cut = at < diff->size();
        out.push_back(std::move(snippet));
    }
    return out;
}

}  // namespace whatif::effects
