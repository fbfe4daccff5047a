#include "internal/hash_sort_memtable.h"

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/base/assert.h"

namespace annals::eventstore::internal {
namespace {

using rocksdb::KeyHandle;
using rocksdb::MemTableRep;
using rocksdb::Slice;
using KeyComparator = MemTableRep::KeyComparator;

// An entry of a bucket list. The entry RocksDB encodes (varint32 length, internal key, value)
// follows it in the same allocation.
struct Node {
  std::atomic<Node*> next{nullptr};
  const char* entry() const { return reinterpret_cast<const char*>(this + 1); }
};
static_assert(sizeof(Node) == alignof(Node));

// The last 8 bytes of an internal key are its sequence number and type.
constexpr size_t kInternalTrailerBytes = 8;

Slice UserKeyOfInternal(const Slice& internal_key) {
  ANNALS_ASSERT(internal_key.size() >= kInternalTrailerBytes);
  return Slice(internal_key.data(), internal_key.size() - kInternalTrailerBytes);
}

// The first 8 bytes of a user key, big-endian, zero-padded: for the bytewise comparator, a
// smaller prefix means a smaller key; equal prefixes decide nothing.
uint64_t SortPrefix(const Slice& user_key) {
  uint64_t prefix = 0;
  const size_t n = std::min<size_t>(user_key.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    prefix |= uint64_t{static_cast<uint8_t>(user_key[i])} << (56 - 8 * i);
  }
  return prefix;
}

struct SortedEntry {
  uint64_t prefix;
  const char* entry;
};
using SortedEntries = std::vector<SortedEntry>;

// Total order over a sorted snapshot of the entries.
class SortedIterator final : public MemTableRep::Iterator {
 public:
  SortedIterator(const KeyComparator& compare, std::shared_ptr<const SortedEntries> entries)
      : compare_(compare), entries_(std::move(entries)), pos_(entries_->size()) {}

  bool Valid() const override { return pos_ < entries_->size(); }
  const char* key() const override { return (*entries_)[pos_].entry; }
  void Next() override { ++pos_; }
  void Prev() override { pos_ = pos_ == 0 ? entries_->size() : pos_ - 1; }
  void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
    auto it = std::lower_bound(
        entries_->begin(), entries_->end(), internal_key,
        [this](const SortedEntry& e, const Slice& k) { return compare_(e.entry, k) < 0; });
    pos_ = static_cast<size_t>(it - entries_->begin());
  }
  void SeekForPrev(const Slice& internal_key, const char* memtable_key) override {
    Seek(internal_key, memtable_key);
    if (!Valid()) SeekToLast();
    while (Valid() && compare_(key(), internal_key) > 0) Prev();
  }
  void SeekToFirst() override { pos_ = 0; }
  void SeekToLast() override { pos_ = entries_->empty() ? 0 : entries_->size() - 1; }

 private:
  const KeyComparator& compare_;
  std::shared_ptr<const SortedEntries> entries_;
  size_t pos_;  // entries_->size() when not valid
};

class BucketIterator;

// RocksDB 7.8's MemTableRep::Get seeks an iterator from GetDynamicPrefixIterator() and never
// deletes it, and the key it seeks (a LookupKey) is not in RocksDB's public headers, so a rep
// cannot seek it itself. HashSortRep::Get runs the base Get with this slot installed for its
// thread: GetDynamicPrefixIterator then builds the iterator in the slot's storage, on Get's own
// frame, and Get destroys it afterwards (unless RocksDB deleted it already: the iterator's
// operator delete leaves slot storage alone).
struct GetSlot {
  const void* rep;
  alignas(std::max_align_t) std::byte storage[64];
  BucketIterator* iterator = nullptr;  // built in storage and not yet destroyed
};
thread_local GetSlot* t_get_slot = nullptr;

class HashSortRep final : public MemTableRep {
 public:
  HashSortRep(const KeyComparator& compare, rocksdb::Allocator* allocator,
              const rocksdb::SliceTransform* prefix_extractor, size_t bucket_count)
      : MemTableRep(allocator),
        compare_(compare),
        prefix_extractor_(prefix_extractor),
        bucket_mask_(bucket_count - 1),
        buckets_(std::make_unique<std::atomic<Node*>[]>(bucket_count)) {
    ANNALS_ASSERT(std::has_single_bit(bucket_count));
  }

  // The node goes in RocksDB's arena, aligned, with the entry right behind it.
  KeyHandle Allocate(const size_t len, char** buf) override {
    char* memory = nullptr;
    MemTableRep::Allocate(len + sizeof(Node) + alignof(Node) - 1, &memory);
    const uintptr_t address = reinterpret_cast<uintptr_t>(memory);
    Node* node = new (reinterpret_cast<void*>((address + alignof(Node) - 1) & ~(alignof(Node) - 1)))
        Node;
    *buf = reinterpret_cast<char*>(node + 1);
    return node;
  }

  // One thread inserts; readers follow the lists with acquire loads, and a node is published
  // (release) only once its entry and its next pointer are written.
  void Insert(KeyHandle handle) override {
    Node* node = static_cast<Node*>(handle);
    std::atomic<Node*>* link = &BucketOf(InternalKeyOf(node->entry()));
    Node* next = link->load(std::memory_order_relaxed);
    while (next != nullptr && compare_(next->entry(), node->entry()) < 0) {
      link = &next->next;
      next = link->load(std::memory_order_relaxed);
    }
    node->next.store(next, std::memory_order_relaxed);
    link->store(node, std::memory_order_release);
    entries_.fetch_add(1, std::memory_order_relaxed);
  }

  bool Contains(const char* entry) const override {
    for (const Node* n = First(InternalKeyOf(entry)); n != nullptr;
         n = n->next.load(std::memory_order_acquire)) {
      const int c = compare_(n->entry(), entry);
      if (c == 0) return true;
      if (c > 0) return false;
    }
    return false;
  }

  void MarkReadOnly() override { read_only_.store(true, std::memory_order_release); }

  size_t ApproximateMemoryUsage() override {
    // The nodes live in RocksDB's arena, which it counts itself.
    return (bucket_mask_ + 1) * sizeof(std::atomic<Node*>);
  }

  // The first node of `internal_key`'s bucket at or after it.
  const Node* SeekInBucket(const Slice& internal_key) const {
    const Node* n = First(internal_key);
    while (n != nullptr && compare_(n->entry(), internal_key) < 0) {
      n = n->next.load(std::memory_order_acquire);
    }
    return n;
  }

  void Get(const rocksdb::LookupKey& k, void* callback_args,
           bool (*callback_func)(void* arg, const char* entry)) override;

  MemTableRep::Iterator* GetIterator(rocksdb::Arena* arena) override {
    return Place<SortedIterator>(arena, compare_, Sorted());
  }
  MemTableRep::Iterator* GetDynamicPrefixIterator(rocksdb::Arena* arena) override;

  MemTableRep::Iterator* NewSortedIterator() { return new SortedIterator(compare_, Sorted()); }

 private:
  static Slice InternalKeyOf(const char* entry) { return rocksdb::GetLengthPrefixedSlice(entry); }

  std::atomic<Node*>& BucketOf(const Slice& internal_key) const {
    Slice key = UserKeyOfInternal(internal_key);
    if (prefix_extractor_ != nullptr && prefix_extractor_->InDomain(key)) {
      key = prefix_extractor_->Transform(key);
    }
    const size_t hash = std::hash<std::string_view>{}(std::string_view(key.data(), key.size()));
    return buckets_[hash & bucket_mask_];
  }
  const Node* First(const Slice& internal_key) const {
    return BucketOf(internal_key).load(std::memory_order_acquire);
  }

  // The entries in order: once for a read-only memtable, a fresh copy for a writable one.
  std::shared_ptr<const SortedEntries> Sorted() {
    if (!read_only_.load(std::memory_order_acquire)) return Collect();
    std::lock_guard lock(sorted_mu_);
    if (sorted_ == nullptr) sorted_ = Collect();
    return sorted_;
  }

  std::shared_ptr<const SortedEntries> Collect() const {
    auto sorted = std::make_shared<SortedEntries>();
    sorted->reserve(entries_.load(std::memory_order_relaxed));
    for (size_t b = 0; b <= bucket_mask_; ++b) {
      for (const Node* n = buckets_[b].load(std::memory_order_acquire); n != nullptr;
           n = n->next.load(std::memory_order_acquire)) {
        sorted->push_back({SortPrefix(UserKeyOfInternal(InternalKeyOf(n->entry()))), n->entry()});
      }
    }
    std::sort(sorted->begin(), sorted->end(), [this](const SortedEntry& a, const SortedEntry& b) {
      if (a.prefix != b.prefix) return a.prefix < b.prefix;
      return compare_(a.entry, b.entry) < 0;
    });
    // The prefixes order keys as the bytewise comparator does; under another, sort again.
    for (size_t i = 1; i < sorted->size(); ++i) {
      if (compare_((*sorted)[i - 1].entry, (*sorted)[i].entry) > 0) {
        std::sort(sorted->begin(), sorted->end(),
                  [this](const SortedEntry& a, const SortedEntry& b) {
                    return compare_(a.entry, b.entry) < 0;
                  });
        break;
      }
    }
    return sorted;
  }

  // An iterator RocksDB destroys by calling its destructor alone (arena) or by delete (none).
  template <typename T, typename... Args>
  MemTableRep::Iterator* Place(rocksdb::Arena* arena, Args&&... args) {
    if (arena == nullptr) return new T(std::forward<Args>(args)...);
    std::lock_guard lock(placed_mu_);
    placed_.push_back(std::make_unique<std::byte[]>(sizeof(T)));
    return new (placed_.back().get()) T(std::forward<Args>(args)...);
  }

  const KeyComparator& compare_;
  const rocksdb::SliceTransform* prefix_extractor_;
  const size_t bucket_mask_;
  std::unique_ptr<std::atomic<Node*>[]> buckets_;
  std::atomic<size_t> entries_{0};
  std::atomic<bool> read_only_{false};

  std::mutex sorted_mu_;
  std::shared_ptr<const SortedEntries> sorted_;  // guarded by sorted_mu_; once read-only

  std::mutex placed_mu_;
  std::vector<std::unique_ptr<std::byte[]>> placed_;  // guarded by placed_mu_
};

// Reads one bucket from a Seek; moved onto the total order by anything else.
class BucketIterator final : public MemTableRep::Iterator {
 public:
  explicit BucketIterator(HashSortRep* rep, GetSlot* slot = nullptr) : rep_(rep), slot_(slot) {}
  ~BucketIterator() override {
    if (slot_ != nullptr) slot_->iterator = nullptr;
  }
  static void operator delete(void* p) {
    if (t_get_slot != nullptr && p == t_get_slot->storage) return;  // the slot's own storage
    ::operator delete(p);
  }

  bool Valid() const override { return sorted_ ? sorted_->Valid() : node_ != nullptr; }
  const char* key() const override { return sorted_ ? sorted_->key() : node_->entry(); }
  void Next() override {
    if (sorted_) {
      sorted_->Next();
    } else {
      node_ = node_->next.load(std::memory_order_acquire);
    }
  }
  void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
    sorted_.reset();
    node_ = rep_->SeekInBucket(internal_key);
  }
  void Prev() override {
    ToSorted();
    sorted_->Prev();
  }
  void SeekForPrev(const Slice& internal_key, const char* memtable_key) override {
    ToSorted();
    sorted_->SeekForPrev(internal_key, memtable_key);
  }
  void SeekToFirst() override {
    ToSorted();
    sorted_->SeekToFirst();
  }
  void SeekToLast() override {
    ToSorted();
    sorted_->SeekToLast();
  }

 private:
  // The total order, positioned at the current entry (or nowhere).
  void ToSorted() {
    if (sorted_) return;
    sorted_.reset(rep_->NewSortedIterator());
    if (node_ != nullptr) sorted_->Seek(rocksdb::GetLengthPrefixedSlice(node_->entry()), nullptr);
  }

  HashSortRep* rep_;
  GetSlot* slot_;  // null unless built in a Get's slot
  const Node* node_ = nullptr;
  std::unique_ptr<MemTableRep::Iterator> sorted_;
};
static_assert(sizeof(BucketIterator) <= sizeof(GetSlot::storage));

MemTableRep::Iterator* HashSortRep::GetDynamicPrefixIterator(rocksdb::Arena* arena) {
  GetSlot* slot = t_get_slot;
  if (arena == nullptr && slot != nullptr && slot->rep == this && slot->iterator == nullptr) {
    slot->iterator = new (slot->storage) BucketIterator(this, slot);
    return slot->iterator;
  }
  return Place<BucketIterator>(arena, this);
}

void HashSortRep::Get(const rocksdb::LookupKey& k, void* callback_args,
                      bool (*callback_func)(void* arg, const char* entry)) {
  GetSlot slot{this};
  GetSlot* const outer = std::exchange(t_get_slot, &slot);
  MemTableRep::Get(k, callback_args, callback_func);
  t_get_slot = outer;
  if (slot.iterator != nullptr) slot.iterator->~BucketIterator();
}

}  // namespace

HashSortRepFactory::HashSortRepFactory(size_t bucket_count)
    : bucket_count_(std::bit_ceil(std::max<size_t>(bucket_count, 1))) {}

rocksdb::MemTableRep* HashSortRepFactory::CreateMemTableRep(
    const rocksdb::MemTableRep::KeyComparator& compare, rocksdb::Allocator* allocator,
    const rocksdb::SliceTransform* prefix_extractor, rocksdb::Logger* /*logger*/) {
  return new HashSortRep(compare, allocator, prefix_extractor, bucket_count_);
}

}  // namespace annals::eventstore::internal
