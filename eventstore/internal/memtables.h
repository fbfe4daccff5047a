// annals' own RocksDB memtable representations, through RocksDB's MemTableRepFactory extension
// point (docs/decisions.md, "Memtables of our own for the dedup index and the stream and type
// indexes"). What they share is in memtable_support.h.
//
// HashSortRep (HashSortRepFactory), for a column family that is read by whole key and scanned
// rarely: the dedup index (the idem family). Lookups go through hash buckets, each a short list
// kept in internal-key order, as in RocksDB's HashLinkList; a scan, and above all the flush,
// collects the entries and sorts them once, with std::sort over (8-byte key prefix, entry)
// pairs. HashLinkList builds a skiplist at flush instead, inserting each random key (about 3 us
// a key at 600k keys, a third of batch-256's CPU at full size: docs/BENCHMARKS.md); RocksDB's
// VectorRep sorts cheaply but sorts the whole memtable again for every lookup.
//
// Contract, as RocksDB's MemTableRep asks:
// - Inserts come from one thread at a time (allow_concurrent_memtable_write = false); lookups
//   and iterators may run beside them and see every entry inserted before they began.
// - GetIterator is in total order. On a read-only memtable (the flush) the sorted entries are
//   built once and shared; on a writable one each iterator sorts its own copy.
// - GetDynamicPrefixIterator (and Get, which uses it) reads the bucket of the sought key's
//   prefix (the column family's prefix extractor; the whole user key without one or outside its
//   domain): from the first entry at or after the key, in order within the bucket. Entries of
//   other prefixes that share the bucket follow in order, as with HashLinkList; reversing or
//   seeking to either end moves the iterator onto the total order.
// - Any comparator is correct. The fast sort assumes the bytewise one and is checked: when the
//   sorted entries are out of order under the family's comparator, they are sorted again with it.
// - Iterators RocksDB places in its arena (memtable iterators of DB iterators and of the flush)
//   are kept by the rep until it is destroyed (memtable_support.h, PlacedIterators): one small
//   object per such iterator over the memtable's life.
//
// PrefixRunRep (PrefixRunRepFactory), for a column family whose keys arrive in increasing order
// within each prefix (the family's prefix extractor's) and are read by prefix: the stream and
// type indexes, NameHash(name) || be64(n). Each prefix has a run, an append-only
// array of its entries found through hash buckets: an insert is a bucket lookup and an append,
// a prefix seek a binary search in one run, and the flush a sort of the runs by prefix (each
// run is in order already). RocksDB's skiplist inserts each entry among every other name's
// (14% of batch-256's CPU at full size, docs/BENCHMARKS.md); its hash skiplist searches one
// name's long bucket list per insert.
//
// Contract, as RocksDB's MemTableRep asks:
// - The family has a prefix extractor (CreateMemTableRep asserts it); a key outside its domain
//   is a run of its own (its whole user key is the prefix).
// - Inserts come from one thread at a time (allow_concurrent_memtable_write = false); lookups
//   and iterators may run beside them and see every entry inserted before they began.
// - An entry that does not follow its run's last entry is kept in order in a list beside the
//   run: correct, slower (an iterator over that run copies and merges it). The ledger never
//   writes one.
// - GetDynamicPrefixIterator (prefix-mode reads, and Get): Seek and SeekForPrev read the run of
//   the sought key's prefix, nothing else; after one, SeekToFirst, SeekToLast and Prev stay in
//   that run (RocksDB's prefix-mode SeekForPrev is a Seek, then SeekToLast and Prev). Without a
//   run sought first, SeekToFirst and SeekToLast read the total order.
// - GetIterator is in total order: the runs sorted by their first entries and concatenated,
//   checked against the comparator (memtable_support.h, SortEntries). On a read-only memtable
//   (the flush) this is built once and shared.
#pragma once

#include <rocksdb/memtablerep.h>

#include <algorithm>
#include <bit>
#include <cstddef>

namespace annals::eventstore::internal {

// Each rep's own constructor, in hash_sort_memtable.cc and prefix_run_memtable.cc.
rocksdb::MemTableRep* NewHashSortRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                     rocksdb::Allocator* allocator,
                                     const rocksdb::SliceTransform* prefix_extractor,
                                     size_t bucket_count);
rocksdb::MemTableRep* NewPrefixRunRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                      rocksdb::Allocator* allocator,
                                      const rocksdb::SliceTransform* prefix_extractor,
                                      size_t bucket_count);

enum class MemTableKind { kHashSort, kPrefixRun };

// The factory of one kind's memtables, each with `bucket_count` hash buckets (rounded up to a
// power of two; 8 bytes a bucket).
template <MemTableKind kKind>
class MemTableFactory final : public rocksdb::MemTableRepFactory {
 public:
  explicit MemTableFactory(size_t bucket_count)
      : bucket_count_(std::bit_ceil(std::max<size_t>(bucket_count, 1))) {}

  const char* Name() const override {
    return kKind == MemTableKind::kHashSort ? "AnnalsHashSortRep" : "AnnalsPrefixRunRep";
  }

  using rocksdb::MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* prefix_extractor,
                                          rocksdb::Logger* /*logger*/) override {
    if constexpr (kKind == MemTableKind::kHashSort) {
      return NewHashSortRep(compare, allocator, prefix_extractor, bucket_count_);
    } else {
      return NewPrefixRunRep(compare, allocator, prefix_extractor, bucket_count_);
    }
  }

 private:
  size_t bucket_count_;
};

using HashSortRepFactory = MemTableFactory<MemTableKind::kHashSort>;
using PrefixRunRepFactory = MemTableFactory<MemTableKind::kPrefixRun>;

}  // namespace annals::eventstore::internal
