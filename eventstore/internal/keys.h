// Key layouts of the ledger's column families (docs/ledger_format.md is the reference).
//
//   records  be64(position)                      -> stored Record bytes (record.h)
//   idem     idempotency key bytes               -> be64(position) || content_digest (32)
//   streams  stream || 0x00 || be64(revision)    -> be64(position)
//   types    type || 0x00 || be64(position)      -> "" (empty)
//   default  meta keys (kMeta*)                  -> their values
#pragma once

#include <cstdint>
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

inline constexpr size_t kIdemValueSize = kFixed64Size + kSha256Size;

inline std::string RecordKey(uint64_t position) { return BigEndian64(position); }

inline std::string IdemValue(uint64_t position, std::string_view digest) {
  std::string v = BigEndian64(position);
  v.append(digest);
  return v;
}

// stream || 0x00 || be64(revision). Stream names never contain 0x00 (checked at append).
inline std::string StreamKey(std::string_view stream, uint64_t revision) {
  std::string k;
  k.reserve(stream.size() + 1 + kFixed64Size);
  k.append(stream);
  k.push_back('\0');
  PutBigEndian64(&k, revision);
  return k;
}

inline std::string TypeKey(std::string_view type, uint64_t position) {
  return StreamKey(type, position);  // same shape: name || 0x00 || be64
}

// The prefix shared by every key of one name in streams or types.
inline std::string NamePrefix(std::string_view name) {
  std::string k(name);
  k.push_back('\0');
  return k;
}

}  // namespace annals::eventstore::internal
