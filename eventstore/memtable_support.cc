#include "internal/memtable_support.h"

#include <algorithm>

#include "annals/base/assert.h"

namespace annals::eventstore::internal::memtable {
namespace {

// The last 8 bytes of an internal key are its sequence number and type.
constexpr size_t kInternalTrailerBytes = 8;

thread_local GetSlot* t_get_slot = nullptr;

uint64_t SortPrefix(const rocksdb::Slice& user_key) {
  uint64_t prefix = 0;
  const size_t n = std::min<size_t>(user_key.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    prefix |= uint64_t{static_cast<uint8_t>(user_key[i])} << (56 - 8 * i);
  }
  return prefix;
}

}  // namespace

rocksdb::Slice UserKeyOfInternal(const rocksdb::Slice& internal_key) {
  ANNALS_ASSERT(internal_key.size() >= kInternalTrailerBytes);
  return rocksdb::Slice(internal_key.data(), internal_key.size() - kInternalTrailerBytes);
}

SortedEntry MakeSortedEntry(const char* entry) {
  return {SortPrefix(UserKeyOfInternal(InternalKeyOf(entry))), entry};
}

void SortEntries(const KeyComparator& compare, SortedEntries* entries, bool presorted) {
  auto in_order = [&] {
    for (size_t i = 1; i < entries->size(); ++i) {
      if (compare((*entries)[i - 1].entry, (*entries)[i].entry) > 0) return false;
    }
    return true;
  };
  if (presorted && in_order()) return;
  std::sort(entries->begin(), entries->end(), [&](const SortedEntry& a, const SortedEntry& b) {
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    return compare(a.entry, b.entry) < 0;
  });
  // The prefixes order keys as the bytewise comparator does; under another, sort again.
  if (!in_order()) {
    std::sort(entries->begin(), entries->end(), [&](const SortedEntry& a, const SortedEntry& b) {
      return compare(a.entry, b.entry) < 0;
    });
  }
}

SortedIterator::SortedIterator(const KeyComparator& compare,
                               std::shared_ptr<const SortedEntries> entries)
    : compare_(compare), entries_(std::move(entries)), pos_(entries_->size()) {}

void SortedIterator::Seek(const rocksdb::Slice& internal_key, const char* /*memtable_key*/) {
  auto it = std::lower_bound(
      entries_->begin(), entries_->end(), internal_key,
      [this](const SortedEntry& e, const rocksdb::Slice& k) { return compare_(e.entry, k) < 0; });
  pos_ = static_cast<size_t>(it - entries_->begin());
}

void SortedIterator::SeekForPrev(const rocksdb::Slice& internal_key, const char* memtable_key) {
  Seek(internal_key, memtable_key);
  if (!Valid()) SeekToLast();
  while (Valid() && compare_(key(), internal_key) > 0) Prev();
}

SlotIterator::~SlotIterator() {
  if (slot_ != nullptr) slot_->iterator = nullptr;
}

void SlotIterator::operator delete(void* p) {
  if (t_get_slot != nullptr && p == t_get_slot->storage) return;  // the slot's own storage
  ::operator delete(p);
}

void* SortingRep::ArenaAllocate(size_t bytes, size_t align) {
  char* memory = nullptr;
  MemTableRep::Allocate(std::max<size_t>(bytes, 1) + align - 1, &memory);  // the arena refuses 0
  const uintptr_t address = reinterpret_cast<uintptr_t>(memory);
  return reinterpret_cast<void*>((address + align - 1) & ~(align - 1));
}

void GetThroughSlot(rocksdb::MemTableRep* rep, const rocksdb::LookupKey& k, void* callback_args,
                    bool (*callback_func)(void* arg, const char* entry)) {
  GetSlot slot{rep};
  GetSlot* const outer = std::exchange(t_get_slot, &slot);
  rep->rocksdb::MemTableRep::Get(k, callback_args, callback_func);
  t_get_slot = outer;
  if (slot.iterator != nullptr) slot.iterator->~SlotIterator();
}

GetSlot* SlotFor(const void* rep, rocksdb::Arena* arena) {
  GetSlot* slot = t_get_slot;
  if (arena != nullptr || slot == nullptr || slot->rep != rep || slot->iterator != nullptr) {
    return nullptr;
  }
  return slot;
}

}  // namespace annals::eventstore::internal::memtable
