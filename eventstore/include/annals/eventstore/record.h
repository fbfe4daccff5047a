// The stored record: encoding, decoding and the checks made before a record is written and
// after it is read. Layout (docs/ledger_format.md, "Records"):
//
//   stored = body || 0x7A 0x20 || hash          (0x7A: field 15, length-delimited; 0x20: 32)
//   body   = protobuf serialization of annals.v1.Record without `event` and `hash`
//            || 0x4A varint(size) event_bytes     (field 9: the event's canonical bytes)
//   hash   = SHA-256(prev_hash || body)
//
// so the stored bytes parse as one Record with every field, and the hash covers exactly the
// bytes before it: verification needs no re-serialization.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "annals/base/sha256.h"
#include "annals/base/status.h"
#include "annals/v1/record.pb.h"

namespace annals::eventstore {

using Record = annals::v1::Record;

// The 32 zero bytes that stand for the hash before position 1.
const std::string& GenesisHash();

inline constexpr size_t kHashSuffixSize = 2 + kSha256Size;

// Encodes a record into stored bytes and sets record->hash. `record` carries every field but
// `event` and `hash` (both must be empty; `prev_hash` set); `event_bytes` are the event's
// canonical bytes (CanonicalBytes), written as field 9 after the others, so the stored event is
// byte for byte the one its content_digest was computed over. `hasher` is the caller's
// per-thread context.
std::string EncodeRecord(Record* record, std::string_view event_bytes, Sha256Hasher* hasher);

// A record's fields but `event` and `hash`, as views into the caller's strings.
struct RecordFields {
  uint64_t position = 0;
  std::string_view stream;
  uint64_t revision = 0;
  std::string_view idempotency_key;
  std::string_view content_digest;
  int64_t recorded_at_ns = 0;
  std::string_view origin;
  std::string_view prev_hash;  // kSha256Size bytes
};

// EncodeRecord without a Record: the same stored bytes, byte for byte (fields in number order,
// proto3's zero values and empty strings left out, as protobuf writes them; ledger_test compares
// the two), and the record's hash in *hash. The writer stages every event through this: it
// saves building a Record and copying its strings into it.
std::string EncodeRecordFields(const RecordFields& fields, std::string_view event_bytes,
                               Sha256Hasher* hasher, std::string* hash);

// Decodes stored bytes. Checks the suffix layout and that it parses; does not recompute the
// hash (CheckRecordHash does). Corruption names what is wrong.
Status DecodeRecord(std::string_view stored, Record* record);
// DecodeRecord of the bytes stored under `position`, and the check that the record names the
// same position. Corruption says which position.
Status DecodeRecordAt(uint64_t position, std::string_view stored, Record* record);

// The event's type, read from stored bytes without decoding the record (a few varints and a
// view into `stored`); nullopt when the bytes do not have the layout above (DecodeRecord then
// says what is wrong). For readers that skip most records by type.
std::optional<std::string_view> PeekEventType(std::string_view stored);

// Recomputes the hash of stored bytes from its body and `prev_hash`; Corruption on mismatch.
Status CheckRecordHash(std::string_view stored, const Record& decoded, Sha256Hasher* hasher);

}  // namespace annals::eventstore
