// HashSortRep: a RocksDB memtable representation for a column family that is read by whole key
// and scanned rarely, the dedup index (the idem family). Lookups go through hash buckets, each a
// short list kept in internal-key order, as in RocksDB's HashLinkList; a scan, and above all the
// flush, collects the entries and sorts them once, with std::sort over (8-byte key prefix,
// entry) pairs. HashLinkList builds a skiplist at flush instead, inserting each random key
// (about 3 us a key at 600k keys, a third of batch-256's CPU at full size: docs/BENCHMARKS.md);
// RocksDB's VectorRep sorts cheaply but sorts the whole memtable again for every lookup.
// docs/decisions.md, "A memtable of our own for the dedup index", says why this is not one of
// RocksDB's.
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
//   are kept by the rep until it is destroyed: RocksDB's Arena is not in its public headers.
//   That is one small object per such iterator over the memtable's life.
#pragma once

#include <rocksdb/memtablerep.h>

#include <cstddef>

namespace annals::eventstore::internal {

class HashSortRepFactory final : public rocksdb::MemTableRepFactory {
 public:
  // `bucket_count`: rounded up to a power of two; the bucket array is 8 bytes a bucket.
  explicit HashSortRepFactory(size_t bucket_count);

  static const char* kClassName() { return "AnnalsHashSortRep"; }
  const char* Name() const override { return kClassName(); }

  using rocksdb::MemTableRepFactory::CreateMemTableRep;
  rocksdb::MemTableRep* CreateMemTableRep(const rocksdb::MemTableRep::KeyComparator& compare,
                                          rocksdb::Allocator* allocator,
                                          const rocksdb::SliceTransform* prefix_extractor,
                                          rocksdb::Logger* logger) override;

 private:
  size_t bucket_count_;
};

}  // namespace annals::eventstore::internal
