// What annals' own RocksDB memtable representations (memtables.h) share: a memtable entry's
// keys, the sort of a whole memtable for a scan or the flush, an iterator over the sorted
// entries, and two ways around what RocksDB 7.8 (Debian's) keeps out of its public headers:
// - its Arena: an iterator RocksDB asks to have placed in its arena is kept by the rep
//   (PlacedIterators) until the memtable is dropped;
// - its LookupKey: a rep cannot read the key a Get seeks, and the base MemTableRep::Get, which
//   seeks through GetDynamicPrefixIterator(), never deletes that iterator. GetThroughSlot runs
//   the base Get with a slot installed for its thread; GetDynamicPrefixIterator builds the
//   iterator in that slot (SlotFor), on Get's own frame, and GetThroughSlot destroys it after.
#pragma once

#include <rocksdb/memtablerep.h>
#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/base/assert.h"

namespace annals::eventstore::internal::memtable {

using KeyComparator = rocksdb::MemTableRep::KeyComparator;

// The internal key of an entry (RocksDB encodes varint32 length, internal key, value).
inline rocksdb::Slice InternalKeyOf(const char* entry) {
  return rocksdb::GetLengthPrefixedSlice(entry);
}
// An internal key without its 8-byte trailer (sequence number and type).
rocksdb::Slice UserKeyOfInternal(const rocksdb::Slice& internal_key);

// An entry and the first 8 bytes of its user key, big-endian, zero-padded: under the bytewise
// comparator a smaller prefix means a smaller key (equal prefixes decide nothing).
struct SortedEntry {
  uint64_t prefix;
  const char* entry;
};
using SortedEntries = std::vector<SortedEntry>;
SortedEntry MakeSortedEntry(const char* entry);

// Puts `entries` in `compare`'s order: a sort by prefix, then by `compare` among equal
// prefixes, checked pair by pair; under a comparator that is not bytewise, sorted again by it.
// `presorted`: the entries are probably in order already (only the check runs if they are).
void SortEntries(const KeyComparator& compare, SortedEntries* entries, bool presorted = false);

// Total order over sorted entries shared by its iterators.
class SortedIterator final : public rocksdb::MemTableRep::Iterator {
 public:
  SortedIterator(const KeyComparator& compare, std::shared_ptr<const SortedEntries> entries);

  bool Valid() const override { return pos_ < entries_->size(); }
  const char* key() const override { return (*entries_)[pos_].entry; }
  void Next() override { ++pos_; }
  void Prev() override { pos_ = pos_ == 0 ? entries_->size() : pos_ - 1; }
  void Seek(const rocksdb::Slice& internal_key, const char* memtable_key) override;
  void SeekForPrev(const rocksdb::Slice& internal_key, const char* memtable_key) override;
  void SeekToFirst() override { pos_ = 0; }
  void SeekToLast() override { pos_ = entries_->empty() ? 0 : entries_->size() - 1; }

 private:
  const KeyComparator& compare_;
  std::shared_ptr<const SortedEntries> entries_;
  size_t pos_;  // entries_->size() when not valid
};

// Iterators placed "in the arena": kept until the rep is destroyed.
class PlacedIterators {
 public:
  template <typename T, typename... Args>
  rocksdb::MemTableRep::Iterator* Place(rocksdb::Arena* arena, Args&&... args) {
    if (arena == nullptr) return new T(std::forward<Args>(args)...);
    std::lock_guard lock(mu_);
    placed_.push_back(std::make_unique<std::byte[]>(sizeof(T)));
    return new (placed_.back().get()) T(std::forward<Args>(args)...);
  }

 private:
  std::mutex mu_;
  std::vector<std::unique_ptr<std::byte[]>> placed_;  // guarded by mu_
};

struct GetSlot;

// The base of a rep's dynamic prefix iterator, so that it can live in a Get's slot.
class SlotIterator : public rocksdb::MemTableRep::Iterator {
 public:
  explicit SlotIterator(GetSlot* slot) : slot_(slot) {}
  ~SlotIterator() override;
  // Leaves a slot's storage alone (should RocksDB delete the iterator after all).
  static void operator delete(void* p);

 private:
  GetSlot* slot_;  // null unless built in a Get's slot
};

struct GetSlot {
  static constexpr size_t kStorageBytes = 128;
  const void* rep;
  alignas(std::max_align_t) std::byte storage[kStorageBytes];
  SlotIterator* iterator = nullptr;  // built in storage and not yet destroyed
};

// The base Get of `rep`, with a slot for its iterator.
void GetThroughSlot(rocksdb::MemTableRep* rep, const rocksdb::LookupKey& k, void* callback_args,
                    bool (*callback_func)(void* arg, const char* entry));
// The slot waiting for `rep`'s iterator on this thread, when `arena` is null; else null.
GetSlot* SlotFor(const void* rep, rocksdb::Arena* arena);

// Links `node` into the list that starts at `*link`, kept in `compare`'s order of
// entry_of(node). One writer; readers follow the list with acquire loads, and the node is
// published (release) only once its entry and its next pointer are written.
template <typename N, typename EntryOf>
void LinkInOrder(std::atomic<N*>* link, N* node, const KeyComparator& compare, EntryOf entry_of) {
  N* next = link->load(std::memory_order_relaxed);
  while (next != nullptr && compare(entry_of(next), entry_of(node)) < 0) {
    link = &next->next;
    next = link->load(std::memory_order_relaxed);
  }
  node->next.store(next, std::memory_order_relaxed);
  link->store(node, std::memory_order_release);
}

// A fixed array of hash buckets, each the head of a list of T, chosen by an entry's prefix:
// the column family's prefix extractor's, or the whole user key without one or outside its
// domain. Readers load the heads with acquire; the one writer publishes with release.
template <typename T>
class PrefixBuckets {
 public:
  // `count`: a power of two.
  PrefixBuckets(const rocksdb::SliceTransform* prefix_extractor, size_t count)
      : prefix_extractor_(prefix_extractor),
        mask_(count - 1),
        heads_(std::make_unique<std::atomic<T*>[]>(count)) {
    ANNALS_ASSERT(std::has_single_bit(count));
  }

  std::string_view PrefixOf(const rocksdb::Slice& user_key) const {
    const rocksdb::Slice prefix =
        prefix_extractor_ != nullptr && prefix_extractor_->InDomain(user_key)
            ? prefix_extractor_->Transform(user_key)
            : user_key;
    return {prefix.data(), prefix.size()};
  }
  // The prefix of a memtable entry.
  std::string_view PrefixOfEntry(const char* entry) const {
    return PrefixOf(UserKeyOfInternal(InternalKeyOf(entry)));
  }
  std::atomic<T*>& For(std::string_view prefix) const {
    return heads_[std::hash<std::string_view>{}(prefix) & mask_];
  }

  size_t count() const { return mask_ + 1; }
  std::atomic<T*>& operator[](size_t b) const { return heads_[b]; }
  size_t bytes() const { return count() * sizeof(std::atomic<T*>); }

 private:
  const rocksdb::SliceTransform* prefix_extractor_;
  const size_t mask_;
  std::unique_ptr<std::atomic<T*>[]> heads_;
};

// What both reps share: Get through a slot, the read-only mark, and the total-order iterator
// over Collect()'s sorted entries, built once when the memtable is read-only (the flush) and
// per iterator while it is writable.
class SortingRep : public rocksdb::MemTableRep {
 public:
  SortingRep(const KeyComparator& compare, rocksdb::Allocator* allocator)
      : MemTableRep(allocator), compare_(compare) {}

  void Get(const rocksdb::LookupKey& k, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override {
    GetThroughSlot(this, k, callback_args, callback_func);
  }
  void MarkReadOnly() override { read_only_.store(true, std::memory_order_release); }
  rocksdb::MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    return placed_.Place<SortedIterator>(arena, compare_, Sorted());
  }
  // The total order on the heap (for a prefix iterator moving onto it).
  rocksdb::MemTableRep::Iterator* NewSortedIterator() {
    return new SortedIterator(compare_, Sorted());
  }
  const KeyComparator& compare() const { return compare_; }

 protected:
  // Every entry, in order (SortEntries).
  virtual std::shared_ptr<const SortedEntries> Collect() const = 0;

  // A prefix iterator T (a SlotIterator taking the slot, then `args`): in this thread's Get
  // slot when Get asked for it, else placed.
  template <typename T, typename... Args>
  rocksdb::MemTableRep::Iterator* NewPrefixIterator(rocksdb::Arena* arena, Args&&... args) {
    if (GetSlot* slot = SlotFor(this, arena); slot != nullptr) {
      static_assert(sizeof(T) <= GetSlot::kStorageBytes);
      auto* it = new (slot->storage) T(slot, std::forward<Args>(args)...);
      slot->iterator = it;
      return it;
    }
    return placed_.Place<T>(arena, nullptr, std::forward<Args>(args)...);
  }

  // `bytes` (at least 1) from RocksDB's arena, aligned to `align` (a power of two). Writer only.
  void* ArenaAllocate(size_t bytes, size_t align);

  const KeyComparator& compare_;
  std::atomic<size_t> entries_{0};  // inserted so far

 private:
  std::shared_ptr<const SortedEntries> Sorted() {
    if (!read_only_.load(std::memory_order_acquire)) return Collect();
    std::lock_guard lock(sorted_mu_);
    if (sorted_ == nullptr) sorted_ = Collect();
    return sorted_;
  }

  std::atomic<bool> read_only_{false};
  std::mutex sorted_mu_;
  std::shared_ptr<const SortedEntries> sorted_;  // guarded by sorted_mu_; once read-only
  PlacedIterators placed_;
};

}  // namespace annals::eventstore::internal::memtable
