#include "whatif/effects/file_effects.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "whatif/util/unique_fd.hpp"

namespace whatif::effects {

namespace {

// Sequential reads fetch this much of the spill file at a time.
constexpr size_t kReadChunk = 1 << 20;

template <typename T>
void put(std::string& out, T value) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &value, sizeof(T));
    out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
    put<uint32_t>(out, static_cast<uint32_t>(s.size()));
    out += s;
}

enum StateFlags : uint8_t { kHasTarget = 1, kHasHash = 2 };
enum EffectFlags : uint8_t { kHasBefore = 1, kHasAfter = 2 };

void put_state(std::string& out, const FileState& s) {
    put<uint8_t>(out, static_cast<uint8_t>(s.type));
    put<uint64_t>(out, s.size);
    put<uint32_t>(out, s.mode);
    put<uint32_t>(out, s.uid);
    put<uint32_t>(out, s.gid);
    put<int64_t>(out, s.mtime_ns);
    put<uint64_t>(out, s.ino);
    put<uint64_t>(out, s.rdev);
    put<uint8_t>(out, static_cast<uint8_t>((s.target ? kHasTarget : 0) | (s.hash ? kHasHash : 0)));
    if (s.target) put_string(out, *s.target);
    if (s.hash) put<uint64_t>(out, *s.hash);
}

// Reads fields in order; any read past the end makes ok() false.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    template <typename T>
    T get() {
        T value{};
        if (bytes_.size() - at_ < sizeof(T)) {
            ok_ = false;
            return value;
        }
        std::memcpy(&value, bytes_.data() + at_, sizeof(T));
        at_ += sizeof(T);
        return value;
    }
    std::string get_string() {
        const auto size = get<uint32_t>();
        if (!ok_ || bytes_.size() - at_ < size) {
            ok_ = false;
            return {};
        }
        std::string s(bytes_.substr(at_, size));
        at_ += size;
        return s;
    }
    bool ok() const { return ok_; }
    bool at_end() const { return at_ == bytes_.size(); }

  private:
    std::string_view bytes_;
    size_t at_ = 0;
    bool ok_ = true;
};

template <typename E>
bool enum_in_range(uint8_t raw, E last) {
    return raw <= static_cast<uint8_t>(last);
}

std::optional<FileState> get_state(Reader& r) {
    FileState s;
    const auto type = r.get<uint8_t>();
    if (!enum_in_range(type, FileType::device)) return std::nullopt;
    s.type = static_cast<FileType>(type);
    s.size = r.get<uint64_t>();
    s.mode = r.get<uint32_t>();
    s.uid = r.get<uint32_t>();
    s.gid = r.get<uint32_t>();
    s.mtime_ns = r.get<int64_t>();
    s.ino = r.get<uint64_t>();
    s.rdev = r.get<uint64_t>();
    const auto flags = r.get<uint8_t>();
    if ((flags & kHasTarget) != 0) s.target = r.get_string();
    if ((flags & kHasHash) != 0) s.hash = r.get<uint64_t>();
    if (!r.ok()) return std::nullopt;
    return s;
}

std::string default_spill_dir() {
    const char* tmp = std::getenv("TMPDIR");
    if (tmp != nullptr && *tmp == '/') return tmp;
    return access("/var/tmp", W_OK) == 0 ? "/var/tmp" : "/tmp";
}

}  // namespace

void encode_file_effect(const FileEffect& e, std::string& out) {
    put_string(out, e.path);
    put<uint8_t>(out, static_cast<uint8_t>(e.change));
    put<uint8_t>(out, static_cast<uint8_t>(e.type));
    put<uint8_t>(out,
                 static_cast<uint8_t>((e.before ? kHasBefore : 0) | (e.after ? kHasAfter : 0)));
    if (e.before) put_state(out, *e.before);
    if (e.after) put_state(out, *e.after);
}

std::optional<FileEffect> decode_file_effect(std::string_view bytes) {
    Reader r(bytes);
    FileEffect e;
    e.path = r.get_string();
    const auto change = r.get<uint8_t>();
    const auto type = r.get<uint8_t>();
    const auto flags = r.get<uint8_t>();
    if (!r.ok() || !enum_in_range(change, Change::replaced) ||
        !enum_in_range(type, FileType::device))
        return std::nullopt;
    e.change = static_cast<Change>(change);
    e.type = static_cast<FileType>(type);
    if ((flags & kHasBefore) != 0 && !(e.before = get_state(r))) return std::nullopt;
    if ((flags & kHasAfter) != 0 && !(e.after = get_state(r))) return std::nullopt;
    if (!r.ok() || !r.at_end()) return std::nullopt;
    return e;
}

struct FileEffects::Spill {
    UniqueFd fd;
    std::string pending;   // appended records not yet written
    uint64_t written = 0;  // bytes already in the file
};

FileEffects::FileEffects() : spill_dir_(default_spill_dir()) {}
FileEffects::~FileEffects() = default;
FileEffects::FileEffects(FileEffects&&) noexcept = default;
FileEffects& FileEffects::operator=(FileEffects&&) noexcept = default;

void FileEffects::set_spill_dir(std::string dir) {
    spill_dir_ = std::move(dir);
}

bool FileEffects::spilled() const {
    return spill_ != nullptr;
}

void FileEffects::record_io_error(const std::string& what, int err) const {
    if (!error_) error_ = Error::from_errno(what, err);
}

void FileEffects::spill() {
    auto s = std::make_unique<Spill>();
    // Unnamed: nothing is left behind, whatever happens to this process.
    s->fd.reset(open(spill_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!s->fd) {
        std::string tmpl = spill_dir_ + "/.whatif-effects-XXXXXX";
        s->fd.reset(mkostemp(tmpl.data(), O_CLOEXEC));
        if (s->fd) unlink(tmpl.c_str());
    }
    if (!s->fd) {
        record_io_error("create a temporary file in " + spill_dir_, errno);
        return;  // keep everything in memory rather than lose it
    }
    s->pending = std::move(memory_);
    memory_.clear();
    memory_.shrink_to_fit();
    spill_ = std::move(s);
}

void FileEffects::push_back(const FileEffect& effect) {
    std::string& sink = spill_ ? spill_->pending : memory_;
    offsets_.push_back(end_);
    const size_t before = sink.size();
    encode_file_effect(effect, sink);
    end_ += sink.size() - before;
    ignored_.push_back(effect.ignored);
    if (!spill_ && !error_ && memory_.size() > kMemoryBytes) spill();
    if (spill_ && !error_ && spill_->pending.size() >= kReadChunk) {
        const std::string& p = spill_->pending;
        size_t done = 0;
        while (done < p.size()) {
            const ssize_t n = pwrite(spill_->fd.get(), p.data() + done, p.size() - done,
                                     static_cast<off_t>(spill_->written + done));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                record_io_error("write the scan's records to " + spill_dir_, n < 0 ? errno : EIO);
                return;  // kept pending in memory; error() reports it
            }
            done += static_cast<size_t>(n);
        }
        spill_->written += p.size();
        spill_->pending.clear();
    }
}

std::string_view FileEffects::record_bytes(size_t i, std::string& scratch) const {
    const uint64_t start = offsets_[i];
    const uint64_t stop = i + 1 < offsets_.size() ? offsets_[i + 1] : end_;
    if (!spill_) return std::string_view(memory_).substr(start, stop - start);
    if (start >= spill_->written)
        return std::string_view(spill_->pending).substr(start - spill_->written, stop - start);
    scratch.resize(stop - start);
    const ssize_t n =
        pread(spill_->fd.get(), scratch.data(), scratch.size(), static_cast<off_t>(start));
    if (n != static_cast<ssize_t>(scratch.size())) {
        record_io_error("read the scan's records", n < 0 ? errno : EIO);
        return {};
    }
    return scratch;
}

FileEffect FileEffects::operator[](size_t i) const {
    std::string scratch;
    auto decoded = decode_file_effect(record_bytes(i, scratch));
    if (!decoded) {
        if (!error_) error_ = Error::failure("a stored file effect is corrupt");
        return {};
    }
    decoded->ignored = ignored_[i];
    return std::move(*decoded);
}

FileEffects::const_iterator::const_iterator(const FileEffects* list, size_t index)
    : list_(list), index_(index) {}

const FileEffect& FileEffects::const_iterator::operator*() const {
    if (decoded_) return current_;
    const FileEffects& l = *list_;
    const uint64_t start = l.offsets_[index_];
    const uint64_t stop = index_ + 1 < l.offsets_.size() ? l.offsets_[index_ + 1] : l.end_;
    std::string_view bytes;
    if (!l.spill_ || start >= l.spill_->written) {
        std::string unused;
        bytes = l.record_bytes(index_, unused);
    } else {
        if (start < chunk_start_ || stop > chunk_start_ + chunk_.size()) {
            // Refill the window from this record on (the file part only).
            const uint64_t file_stop = std::min<uint64_t>(
                l.spill_->written, start + std::max<uint64_t>(kReadChunk, stop - start));
            chunk_.resize(file_stop - start);
            const ssize_t n =
                pread(l.spill_->fd.get(), chunk_.data(), chunk_.size(), static_cast<off_t>(start));
            chunk_start_ = start;
            if (n != static_cast<ssize_t>(chunk_.size())) {
                l.record_io_error("read the scan's records", n < 0 ? errno : EIO);
                chunk_.clear();
            }
        }
        if (stop <= chunk_start_ + chunk_.size())
            bytes = std::string_view(chunk_).substr(start - chunk_start_, stop - start);
    }
    auto decoded = decode_file_effect(bytes);
    if (decoded) {
        current_ = std::move(*decoded);
    } else {
        current_ = FileEffect{};
        if (!l.error_) l.error_ = Error::failure("a stored file effect is corrupt");
    }
    current_.ignored = l.ignored_[index_];
    decoded_ = true;
    return current_;
}

FileEffects::const_iterator& FileEffects::const_iterator::operator++() {
    ++index_;
    decoded_ = false;
    return *this;
}

}  // namespace whatif::effects
