// The file effects of a run, in scan order: a directory's own effect comes before
// every effect beneath it (DFS pre-order; siblings by name). apply relies on that
// order (parents first for creations, its reverse for removals) instead of sorting.
//
// A run can touch a million files, so effects are not kept as objects: each is
// encoded into a few dozen bytes, in memory until kMemoryBytes, then in an unnamed
// temporary file (O_TMPFILE) in the spill directory (the run directory where there
// is one). What stays in memory is an 8-byte offset and a bit per effect.
// Reading gives decoded copies. An I/O failure of the spill file is sticky:
// error() says what happened, and the run fails with that message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "whatif/effects/file_effect.hpp"
#include "whatif/util/error.hpp"

namespace whatif::effects {

class FileEffects {
  public:
    static constexpr size_t kMemoryBytes = 4 << 20;

    // Spills under $TMPDIR (else /var/tmp) unless set_spill_dir() says otherwise.
    FileEffects();
    ~FileEffects();
    FileEffects(FileEffects&&) noexcept;
    FileEffects& operator=(FileEffects&&) noexcept;
    FileEffects(const FileEffects&) = delete;
    FileEffects& operator=(const FileEffects&) = delete;

    // Where to spill beyond kMemoryBytes (effective for the next spill).
    void set_spill_dir(std::string dir);

    void push_back(const FileEffect& effect);
    size_t size() const { return offsets_.size(); }
    bool empty() const { return offsets_.empty(); }
    // A decoded copy of effect i (a default FileEffect after an I/O error).
    FileEffect operator[](size_t i) const;
    FileEffect at(size_t i) const { return (*this)[i]; }

    bool ignored(size_t i) const { return ignored_[i]; }
    void set_ignored(size_t i, bool value) { ignored_[i] = value; }

    // The first I/O error of the spill file, if any.
    const std::optional<Error>& error() const { return error_; }
    // True once the records live in a file.
    bool spilled() const;

    // Sequential reading, buffered: `for (const FileEffect& e : files)`.
    class const_iterator {
      public:
        using iterator_category = std::input_iterator_tag;
        using value_type = FileEffect;
        using difference_type = std::ptrdiff_t;
        using pointer = const FileEffect*;
        using reference = const FileEffect&;

        const_iterator() = default;
        const_iterator(const FileEffects* list, size_t index);
        reference operator*() const;
        pointer operator->() const { return &**this; }
        const_iterator& operator++();
        bool operator==(const const_iterator& other) const { return index_ == other.index_; }
        size_t index() const { return index_; }

      private:
        const FileEffects* list_ = nullptr;
        size_t index_ = 0;
        mutable bool decoded_ = false;
        mutable FileEffect current_;
        // A window of the spill file: bytes [chunk_start_, chunk_start_ + chunk_.size()).
        mutable std::string chunk_;
        mutable uint64_t chunk_start_ = 0;
    };
    const_iterator begin() const { return {this, 0}; }
    const_iterator end() const { return {this, size()}; }

  private:
    struct Spill;
    // The bytes of record i, read into `scratch` when they are not in memory.
    std::string_view record_bytes(size_t i, std::string& scratch) const;
    void record_io_error(const std::string& what, int err) const;
    void spill();

    std::string memory_;             // records, while not spilled
    std::unique_ptr<Spill> spill_;   // the file, once spilled
    std::vector<uint64_t> offsets_;  // start of each record
    uint64_t end_ = 0;               // end of the last record
    std::vector<bool> ignored_;
    std::string spill_dir_;
    mutable std::optional<Error> error_;

    friend class const_iterator;
};

// The encoding, exposed for tests: append one record, decode one record.
void encode_file_effect(const FileEffect& effect, std::string& out);
std::optional<FileEffect> decode_file_effect(std::string_view bytes);

}  // namespace whatif::effects
