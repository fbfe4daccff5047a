// Key layouts of the ledger's column families (docs/ledger_format.md is the reference).
//
//   records  be64(position)                             -> stored Record bytes (record.h)
//   idem     SHA-256(idempotency key)                   -> be64(position) || content_digest
//   streams  NameHash(stream) || be64(revision)         -> be64(position)
//   types    NameHash(type) || be64(position)           -> "" (empty)
//   default  meta keys (kMeta*)                         -> their values
//
// Index keys hash the names: fixed-width keys whose comparisons end in the first bytes (long
// shared prefixes such as "spiffe://registry.example/..." made RocksDB's memtable spend its time
// in memcmp), and no byte of a name is special. A hash names its entry; the record it points to
// holds the name itself, and every read through an index checks that name (a collision is
// reported as Corruption, never returned as data).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"

namespace annals::eventstore::internal {

inline constexpr char kRecordsFamily[] = "records";
inline constexpr char kIdemFamily[] = "idem";
inline constexpr char kStreamsFamily[] = "streams";
inline constexpr char kTypesFamily[] = "types";

inline constexpr char kMetaFormat[] = "format";
inline constexpr char kMetaRegistry[] = "registry_name";
inline constexpr char kMetaCreatedAt[] = "created_at_ns";
inline constexpr char kFormatVersion[] = "1";
// Decimal position: the streams and types families hold the entries of every record up to it
// (the indexer thread writes them behind the records; docs/ledger_format.md, "The indexes").
// Absent in ledgers written before the indexer, whose indexes were written with the records.
inline constexpr char kMetaIndexedThrough[] = "indexed_through";
// "checkpoint/<name>" -> decimal position (Ledger::SaveCheckpoint).
inline constexpr char kMetaCheckpointPrefix[] = "checkpoint/";

inline constexpr size_t kIdemValueSize = kFixed64Size + kSha256Size;
// Bytes of SHA-256 that name a stream or a type in an index key: 128 bits.
inline constexpr size_t kNameHashSize = 16;
inline constexpr size_t kIndexKeySize = kNameHashSize + kFixed64Size;

inline std::string RecordKey(uint64_t position) { return BigEndian64(position); }

inline std::string IdemKey(std::string_view idempotency_key) { return Sha256(idempotency_key); }

inline std::string IdemValue(uint64_t position, std::string_view digest) {
  std::string v = BigEndian64(position);
  v.append(digest);
  return v;
}

// The prefix shared by every index key of one stream or type.
inline std::string NameHash(std::string_view name) {
  return Sha256(name).substr(0, kNameHashSize);
}

// NameHash(name) || be64(n): n is a revision (streams) or a position (types).
inline std::string IndexKey(std::string_view name_hash, uint64_t n) {
  std::string k;
  k.reserve(kIndexKeySize);
  k.append(name_hash);
  PutBigEndian64(&k, n);
  return k;
}

// IndexKey in a buffer of its own, for the hot path (no allocation).
class IndexKeyBytes {
 public:
  IndexKeyBytes(std::string_view name_hash, uint64_t n) {
    ANNALS_ASSERT(name_hash.size() == kNameHashSize);
    std::memcpy(bytes_, name_hash.data(), kNameHashSize);
    EncodeBigEndian64(bytes_ + kNameHashSize, n);
  }
  std::string_view view() const { return {bytes_, kIndexKeySize}; }

 private:
  char bytes_[kIndexKeySize];
};

inline std::string StreamKey(std::string_view stream, uint64_t revision) {
  return IndexKey(NameHash(stream), revision);
}

}  // namespace annals::eventstore::internal
