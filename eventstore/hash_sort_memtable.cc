#include "internal/memtables.h"

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include "annals/base/assert.h"
#include "internal/memtable_support.h"

namespace annals::eventstore::internal {
namespace {

using rocksdb::KeyHandle;
using rocksdb::MemTableRep;
using rocksdb::Slice;
using memtable::InternalKeyOf;
using memtable::KeyComparator;
using memtable::SortedEntries;
using memtable::UserKeyOfInternal;

// An entry of a bucket list. The entry RocksDB encodes (varint32 length, internal key, value)
// follows it in the same allocation.
struct Node {
  std::atomic<Node*> next{nullptr};
  const char* entry() const { return reinterpret_cast<const char*>(this + 1); }
};
static_assert(sizeof(Node) == alignof(Node));

class HashSortRep final : public memtable::SortingRep {
 public:
  HashSortRep(const KeyComparator& compare, rocksdb::Allocator* allocator,
              const rocksdb::SliceTransform* prefix_extractor, size_t bucket_count)
      : SortingRep(compare, allocator), buckets_(prefix_extractor, bucket_count) {}

  // The node goes in RocksDB's arena, aligned, with the entry right behind it.
  KeyHandle Allocate(const size_t len, char** buf) override {
    Node* node = new (ArenaAllocate(sizeof(Node) + len, alignof(Node))) Node;
    *buf = reinterpret_cast<char*>(node + 1);
    return node;
  }

  void Insert(KeyHandle handle) override {
    Node* node = static_cast<Node*>(handle);
    memtable::LinkInOrder(&BucketOf(InternalKeyOf(node->entry())), node, compare_,
                          [](const Node* n) { return n->entry(); });
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

  size_t ApproximateMemoryUsage() override {
    // The nodes live in RocksDB's arena, which it counts itself.
    return buckets_.bytes();
  }

  // The first node of `internal_key`'s bucket at or after it.
  const Node* SeekInBucket(const Slice& internal_key) const {
    const Node* n = First(internal_key);
    while (n != nullptr && compare_(n->entry(), internal_key) < 0) {
      n = n->next.load(std::memory_order_acquire);
    }
    return n;
  }

  MemTableRep::Iterator* GetDynamicPrefixIterator(rocksdb::Arena* arena) override;

 private:
  std::atomic<Node*>& BucketOf(const Slice& internal_key) const {
    return buckets_.For(buckets_.PrefixOf(UserKeyOfInternal(internal_key)));
  }
  const Node* First(const Slice& internal_key) const {
    return BucketOf(internal_key).load(std::memory_order_acquire);
  }

  std::shared_ptr<const SortedEntries> Collect() const override {
    auto sorted = std::make_shared<SortedEntries>();
    sorted->reserve(entries_.load(std::memory_order_relaxed));
    for (size_t b = 0; b < buckets_.count(); ++b) {
      for (const Node* n = buckets_[b].load(std::memory_order_acquire); n != nullptr;
           n = n->next.load(std::memory_order_acquire)) {
        sorted->push_back(memtable::MakeSortedEntry(n->entry()));
      }
    }
    memtable::SortEntries(compare_, sorted.get());
    return sorted;
  }

  memtable::PrefixBuckets<Node> buckets_;
};

// Reads one bucket from a Seek; moved onto the total order by anything else.
class BucketIterator final : public memtable::SlotIterator {
 public:
  BucketIterator(memtable::GetSlot* slot, HashSortRep* rep) : SlotIterator(slot), rep_(rep) {}

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
  const Node* node_ = nullptr;
  std::unique_ptr<MemTableRep::Iterator> sorted_;
};

MemTableRep::Iterator* HashSortRep::GetDynamicPrefixIterator(rocksdb::Arena* arena) {
  return NewPrefixIterator<BucketIterator>(arena, this);
}

}  // namespace

rocksdb::MemTableRep* NewHashSortRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                     rocksdb::Allocator* allocator,
                                     const rocksdb::SliceTransform* prefix_extractor,
                                     size_t bucket_count) {
  return new HashSortRep(compare, allocator, prefix_extractor, bucket_count);
}

}  // namespace annals::eventstore::internal
