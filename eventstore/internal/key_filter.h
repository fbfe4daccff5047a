// KeyFilter: an in-memory filter of the ledger's idempotency keys, answering "certainly not in
// the ledger" or "maybe". An append with a new key (almost every append) is answered by one
// probe here instead of a RocksDB lookup, whose cost grows with the ledger (a bloom filter probe
// per L0 file and per level: docs/decisions.md, "The key filter").
//
// A blocked bloom filter: a key sets kProbes bits inside one 64-byte block, so a probe touches
// one cache line. Keys are the idem family's keys, SHA-256 digests (keys.h: IdemKey), already
// uniform: their bytes are the hash, nothing is hashed again.
//
// Contract: MayContain(k) is true for every k added before (no false negatives); for other keys
// it is true with a probability of about 1-2% while at most capacity() keys were added. Add and
// MayContain may run on different threads at once (the words are atomics): a builder thread
// fills a new filter from RocksDB while the writer adds the keys it writes. A key added on one
// thread is seen by a probe on another only after a happens-before between them (the ledger's
// ready flag).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

namespace annals::eventstore::internal {

class KeyFilter {
 public:
  // Sized for `capacity_keys` keys at the limits' kKeyFilterBitsPerKey, at most
  // kKeyFilterBytesMax.
  explicit KeyFilter(uint64_t capacity_keys);
  KeyFilter(const KeyFilter&) = delete;
  KeyFilter& operator=(const KeyFilter&) = delete;

  // `idem_key`: an idem family key (32 bytes of SHA-256).
  void Add(std::string_view idem_key);
  bool MayContain(std::string_view idem_key) const;
  // Starts loading the cache line a later MayContain or Add of `idem_key` touches (the filter is
  // far larger than the caches: a probe is otherwise a miss to memory).
  void Prefetch(std::string_view idem_key) const;

  // The keys it was sized for (before the byte cap).
  uint64_t capacity() const { return capacity_; }
  uint64_t bytes() const { return blocks_ * kBlockBytes; }

 private:
  static constexpr uint64_t kBlockBytes = 64;
  static constexpr uint64_t kBlockWords = kBlockBytes / 8;
  static constexpr int kProbes = 6;

  // The block of a key and its probe bits (9 bits each: a bit of the block's 512).
  struct Probe {
    uint64_t block;
    uint16_t bits[kProbes];
  };
  Probe ProbeOf(std::string_view idem_key) const;

  uint64_t capacity_;
  uint64_t blocks_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

}  // namespace annals::eventstore::internal
