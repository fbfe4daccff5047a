#include "internal/memtables.h"

#include <rocksdb/slice.h>
#include <rocksdb/slice_transform.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string_view>
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

// A run's entries live in chunks of 4, 8, 16, ... entries (chunk c holds 4 << c), so a run of
// one entry costs one small chunk and a long one a few allocations.
constexpr size_t kFirstChunkEntries = 4;
// Directory slots of a run's first directory (up to 60 entries); each new one doubles.
constexpr size_t kFirstDirectorySlots = 4;

struct ChunkSlot {
  size_t chunk;
  size_t offset;
};
ChunkSlot SlotOf(size_t i) {
  const size_t chunk = std::bit_width(i / kFirstChunkEntries + 1) - 1;
  return {chunk, i - kFirstChunkEntries * ((size_t{1} << chunk) - 1)};
}

// An entry kept beside its run (it did not follow the run's last entry).
struct SideNode {
  std::atomic<SideNode*> next{nullptr};
  const char* entry = nullptr;
};

struct Run {
  std::atomic<Run*> next_in_bucket{nullptr};
  const char* prefix = nullptr;  // in the arena
  size_t prefix_size = 0;
  // Entries [0, size) are in order and published: the writer fills an entry and the chunk and
  // directory holding it before it stores size (release).
  std::atomic<size_t> size{0};
  std::atomic<const char***> directory{nullptr};
  std::atomic<SideNode*> side{nullptr};  // in order; rarely anything
  // The writer's own.
  size_t directory_slots = 0;
  const char* last = nullptr;

  std::string_view Prefix() const { return {prefix, prefix_size}; }
};

// One run as a reader sees it: its array, or (when entries sit beside it) a merged copy.
class RunView {
 public:
  RunView() = default;
  RunView(size_t size, const char* const* const* directory) : size_(size), dir_(directory) {}
  explicit RunView(std::shared_ptr<const std::vector<const char*>> merged)
      : size_(merged->size()), merged_(std::move(merged)) {}

  size_t size() const { return size_; }
  const char* at(size_t i) const {
    if (merged_) return (*merged_)[i];
    const ChunkSlot slot = SlotOf(i);
    return dir_[slot.chunk][slot.offset];
  }
  // The first index whose entry is not before `internal_key`.
  size_t LowerBound(const KeyComparator& compare, const Slice& internal_key) const {
    size_t lo = 0;
    size_t hi = size_;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      if (compare(at(mid), internal_key) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }

 private:
  size_t size_ = 0;
  const char* const* const* dir_ = nullptr;
  std::shared_ptr<const std::vector<const char*>> merged_;
};

class PrefixRunRep final : public memtable::SortingRep {
 public:
  PrefixRunRep(const KeyComparator& compare, rocksdb::Allocator* allocator,
               const rocksdb::SliceTransform* prefix_extractor, size_t bucket_count)
      : SortingRep(compare, allocator), buckets_(prefix_extractor, bucket_count) {
    ANNALS_ASSERT_MSG(prefix_extractor != nullptr, "PrefixRunRep needs a prefix extractor");
  }

  void Insert(KeyHandle handle) override {
    const char* entry = static_cast<const char*>(handle);
    Run* run = FindOrAddRun(buckets_.PrefixOfEntry(entry));
    if (run->last != nullptr && compare_(entry, run->last) <= 0) {
      InsertBeside(run, entry);
    } else {
      Append(run, entry);
    }
    entries_.fetch_add(1, std::memory_order_relaxed);
  }

  bool Contains(const char* entry) const override {
    const Run* run = FindRun(buckets_.PrefixOfEntry(entry));
    if (run == nullptr) return false;
    const RunView view = ViewOf(run);
    const Slice internal_key = InternalKeyOf(entry);
    const size_t i = view.LowerBound(compare_, internal_key);
    return i < view.size() && compare_(view.at(i), internal_key) == 0;
  }

  size_t ApproximateMemoryUsage() override {
    // Runs, chunks and entries live in RocksDB's arena, which it counts itself.
    return buckets_.bytes();
  }

  MemTableRep::Iterator* GetDynamicPrefixIterator(rocksdb::Arena* arena) override;

  // The run of `internal_key`'s prefix, as a reader sees it now (empty when there is none).
  RunView ViewOfKey(const Slice& internal_key) const {
    const Run* run = FindRun(buckets_.PrefixOf(UserKeyOfInternal(internal_key)));
    return run == nullptr ? RunView() : ViewOf(run);
  }

 private:
  const Run* FindRun(std::string_view prefix) const {
    for (const Run* run = buckets_.For(prefix).load(std::memory_order_acquire); run != nullptr;
         run = run->next_in_bucket.load(std::memory_order_acquire)) {
      if (run->Prefix() == prefix) return run;
    }
    return nullptr;
  }

  // `count` zeroed objects of T from RocksDB's arena, aligned for T.
  template <typename T>
  T* AllocateArray(size_t count) {
    void* memory = ArenaAllocate(count * sizeof(T), alignof(T));
    std::memset(memory, 0, count * sizeof(T));
    return static_cast<T*>(memory);
  }

  // Writer only.
  Run* FindOrAddRun(std::string_view prefix) {
    std::atomic<Run*>& bucket = buckets_.For(prefix);
    for (Run* run = bucket.load(std::memory_order_relaxed); run != nullptr;
         run = run->next_in_bucket.load(std::memory_order_relaxed)) {
      if (run->Prefix() == prefix) return run;
    }
    Run* run = new (AllocateArray<Run>(1)) Run;
    char* prefix_copy = AllocateArray<char>(prefix.size());
    std::memcpy(prefix_copy, prefix.data(), prefix.size());
    run->prefix = prefix_copy;
    run->prefix_size = prefix.size();
    run->next_in_bucket.store(bucket.load(std::memory_order_relaxed), std::memory_order_relaxed);
    bucket.store(run, std::memory_order_release);
    return run;
  }

  void Append(Run* run, const char* entry) {
    const size_t i = run->size.load(std::memory_order_relaxed);
    const ChunkSlot slot = SlotOf(i);
    const char*** directory = run->directory.load(std::memory_order_relaxed);
    if (slot.chunk >= run->directory_slots) {
      const size_t slots = std::max(kFirstDirectorySlots, run->directory_slots * 2);
      const char*** grown = AllocateArray<const char**>(slots);
      if (directory != nullptr) {
        std::copy(directory, directory + run->directory_slots, grown);
      }
      run->directory.store(grown, std::memory_order_release);
      run->directory_slots = slots;
      directory = grown;
    }
    if (slot.offset == 0) {
      directory[slot.chunk] = AllocateArray<const char*>(kFirstChunkEntries << slot.chunk);
    }
    directory[slot.chunk][slot.offset] = entry;
    run->last = entry;
    run->size.store(i + 1, std::memory_order_release);
  }

  void InsertBeside(Run* run, const char* entry) {
    SideNode* node = new (AllocateArray<SideNode>(1)) SideNode;
    node->entry = entry;
    memtable::LinkInOrder(&run->side, node, compare_, [](const SideNode* n) { return n->entry; });
  }

  RunView ViewOf(const Run* run) const {
    const size_t size = run->size.load(std::memory_order_acquire);
    const RunView array(size, run->directory.load(std::memory_order_acquire));
    const SideNode* side = run->side.load(std::memory_order_acquire);
    if (side == nullptr) return array;
    std::vector<const char*> beside;
    for (; side != nullptr; side = side->next.load(std::memory_order_acquire)) {
      beside.push_back(side->entry);
    }
    auto merged = std::make_shared<std::vector<const char*>>();
    merged->reserve(size + beside.size());
    size_t a = 0;
    size_t b = 0;
    while (a < size || b < beside.size()) {
      if (b == beside.size() || (a < size && compare_(array.at(a), beside[b]) <= 0)) {
        merged->push_back(array.at(a++));
      } else {
        merged->push_back(beside[b++]);
      }
    }
    return RunView(std::move(merged));
  }

  // The runs in the order of their first entries, each run's entries after the other.
  std::shared_ptr<const SortedEntries> Collect() const override {
    std::vector<RunView> views;
    SortedEntries firsts;  // entry: a run's first; prefix: its index in views (after the sort)
    for (size_t b = 0; b < buckets_.count(); ++b) {
      for (const Run* run = buckets_[b].load(std::memory_order_acquire); run != nullptr;
           run = run->next_in_bucket.load(std::memory_order_acquire)) {
        RunView view = ViewOf(run);
        if (view.size() == 0) continue;
        firsts.push_back(memtable::MakeSortedEntry(view.at(0)));
        views.push_back(std::move(view));
      }
    }
    std::vector<size_t> order(views.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (firsts[a].prefix != firsts[b].prefix) return firsts[a].prefix < firsts[b].prefix;
      return compare_(firsts[a].entry, firsts[b].entry) < 0;
    });
    auto sorted = std::make_shared<SortedEntries>();
    sorted->reserve(entries_.load(std::memory_order_relaxed));
    for (size_t v : order) {
      for (size_t i = 0; i < views[v].size(); ++i) {
        sorted->push_back(memtable::MakeSortedEntry(views[v].at(i)));
      }
    }
    memtable::SortEntries(compare_, sorted.get(), /*presorted=*/true);
    return sorted;
  }

  memtable::PrefixBuckets<Run> buckets_;
};

// Reads the run of the last Seek's prefix; the total order when no run was sought.
class RunIterator final : public memtable::SlotIterator {
 public:
  RunIterator(memtable::GetSlot* slot, PrefixRunRep* rep) : SlotIterator(slot), rep_(rep) {}

  bool Valid() const override {
    return sorted_ ? sorted_->Valid() : in_run_ && pos_ < view_.size();
  }
  const char* key() const override { return sorted_ ? sorted_->key() : view_.at(pos_); }
  void Next() override {
    if (sorted_) {
      sorted_->Next();
    } else {
      ++pos_;
    }
  }
  void Prev() override {
    if (sorted_) {
      sorted_->Prev();
    } else {
      pos_ = pos_ == 0 ? view_.size() : pos_ - 1;
    }
  }
  void Seek(const Slice& internal_key, const char* /*memtable_key*/) override {
    sorted_.reset();
    in_run_ = true;
    view_ = rep_->ViewOfKey(internal_key);
    pos_ = view_.LowerBound(rep_->compare(), internal_key);
  }
  void SeekForPrev(const Slice& internal_key, const char* memtable_key) override {
    Seek(internal_key, memtable_key);
    if (pos_ < view_.size() && rep_->compare()(view_.at(pos_), internal_key) == 0) return;
    Prev();
  }
  void SeekToFirst() override {
    if (in_run_) {
      pos_ = 0;
    } else {
      ToSorted()->SeekToFirst();
    }
  }
  void SeekToLast() override {
    if (in_run_) {
      pos_ = view_.size() == 0 ? 0 : view_.size() - 1;
    } else {
      ToSorted()->SeekToLast();
    }
  }

 private:
  MemTableRep::Iterator* ToSorted() {
    if (!sorted_) sorted_.reset(rep_->NewSortedIterator());
    return sorted_.get();
  }

  PrefixRunRep* rep_;
  bool in_run_ = false;  // a Seek chose the run
  RunView view_;
  size_t pos_ = 0;  // view_.size() when not valid
  std::unique_ptr<MemTableRep::Iterator> sorted_;
};

MemTableRep::Iterator* PrefixRunRep::GetDynamicPrefixIterator(rocksdb::Arena* arena) {
  return NewPrefixIterator<RunIterator>(arena, this);
}

}  // namespace

rocksdb::MemTableRep* NewPrefixRunRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                      rocksdb::Allocator* allocator,
                                      const rocksdb::SliceTransform* prefix_extractor,
                                      size_t bucket_count) {
  return new PrefixRunRep(compare, allocator, prefix_extractor, bucket_count);
}

}  // namespace annals::eventstore::internal
