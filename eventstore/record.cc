#include "annals/eventstore/record.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "annals/base/assert.h"

namespace annals::eventstore {

namespace {
constexpr char kEventTag = 0x4A;  // (9 << 3) | 2: field 9, length-delimited
constexpr char kHashTag = 0x7A;  // (15 << 3) | 2: field 15, wire type length-delimited
constexpr char kHashLength = 0x20;
static_assert((15 << 3 | 2) == 0x7A);
static_assert((9 << 3 | 2) == 0x4A);

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
static_assert(kSha256Size == 0x20);

// Tags of Record's fields 1-8: (number << 3) | wire type (0 varint, 2 length-delimited).
constexpr char kPositionTag = 0x08;
constexpr char kStreamTag = 0x12;
constexpr char kRevisionTag = 0x18;
constexpr char kKeyTag = 0x22;
constexpr char kDigestTag = 0x2A;
constexpr char kRecordedAtTag = 0x30;
constexpr char kOriginTag = 0x3A;
constexpr char kPrevHashTag = 0x42;
static_assert((1 << 3 | 0) == 0x08 && (2 << 3 | 2) == 0x12 && (3 << 3 | 0) == 0x18 &&
              (4 << 3 | 2) == 0x22 && (5 << 3 | 2) == 0x2A && (6 << 3 | 0) == 0x30 &&
              (7 << 3 | 2) == 0x3A && (8 << 3 | 2) == 0x42);
// Bytes of fields 1-8 besides their strings' contents, at most: tags, lengths and varints.
constexpr size_t kRecordFieldsOverheadBytesMax = 64;

// proto3 leaves a zero scalar and an empty string out.
void PutVarintField(std::string* out, char tag, uint64_t v) {
  if (v == 0) return;
  out->push_back(tag);
  PutVarint(out, v);
}
void PutBytesField(std::string* out, char tag, std::string_view bytes) {
  if (bytes.empty()) return;
  out->push_back(tag);
  PutVarint(out, bytes.size());
  out->append(bytes);
}
}  // namespace

const std::string& GenesisHash() {
  static const std::string kGenesis(kSha256Size, '\0');
  return kGenesis;
}

std::string EncodeRecord(Record* record, std::string_view event_bytes, Sha256Hasher* hasher) {
  ANNALS_ASSERT(record->hash().empty());
  ANNALS_ASSERT(!record->has_event());
  const RecordFields fields{record->position(),       record->stream(),
                            record->revision(),       record->idempotency_key(),
                            record->content_digest(), record->recorded_at_ns(),
                            record->origin(),         record->prev_hash()};
  std::string hash;
  std::string stored = EncodeRecordFields(fields, event_bytes, hasher, &hash);
  // The body begins with exactly protobuf's serialization of the record (a Record with fields
  // RecordFields lacks, unknown ones say, would not): checked here, where it costs nothing
  // that matters (the writer calls EncodeRecordFields itself).
  std::string serialized;
  ANNALS_ASSERT(record->SerializeToString(&serialized));
  ANNALS_ASSERT(stored.compare(0, serialized.size(), serialized) == 0 &&
                stored[serialized.size()] == kEventTag);
  record->set_hash(std::move(hash));
  return stored;
}

std::string EncodeRecordFields(const RecordFields& fields, std::string_view event_bytes,
                               Sha256Hasher* hasher, std::string* hash) {
  ANNALS_ASSERT(fields.prev_hash.size() == kSha256Size);
  ANNALS_ASSERT(fields.position >= 1);
  std::string stored;
  stored.reserve(kRecordFieldsOverheadBytesMax + fields.stream.size() +
                 fields.idempotency_key.size() + fields.content_digest.size() +
                 fields.origin.size() + event_bytes.size() + kHashSuffixSize);
  PutVarintField(&stored, kPositionTag, fields.position);
  PutBytesField(&stored, kStreamTag, fields.stream);
  PutVarintField(&stored, kRevisionTag, fields.revision);
  PutBytesField(&stored, kKeyTag, fields.idempotency_key);
  PutBytesField(&stored, kDigestTag, fields.content_digest);
  PutVarintField(&stored, kRecordedAtTag, static_cast<uint64_t>(fields.recorded_at_ns));
  PutBytesField(&stored, kOriginTag, fields.origin);
  PutBytesField(&stored, kPrevHashTag, fields.prev_hash);
  // Field 9 after fields 1-8: the order protobuf itself writes, so the bytes are what a
  // serialization of the whole Record gives. Written even when empty (a record always has an
  // event).
  stored.push_back(kEventTag);
  PutVarint(&stored, event_bytes.size());
  stored.append(event_bytes);
  const size_t body_size = stored.size();
  *hash = hasher->Digest(fields.prev_hash, stored);
  stored.push_back(kHashTag);
  stored.push_back(kHashLength);
  stored.append(*hash);
  ANNALS_ASSERT(stored.size() == body_size + kHashSuffixSize);
  return stored;
}

Status DecodeRecord(std::string_view stored, Record* record) {
  if (stored.size() < kHashSuffixSize) {
    return Status::Corruption("record shorter than its hash suffix");
  }
  const size_t body_size = stored.size() - kHashSuffixSize;
  if (stored[body_size] != kHashTag || stored[body_size + 1] != kHashLength) {
    return Status::Corruption("record does not end with its hash field");
  }
  if (!record->ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return Status::Corruption("record does not parse");
  }
  if (record->hash() != stored.substr(body_size + 2)) {
    return Status::Corruption("record carries a second hash field");
  }
  if (record->prev_hash().size() != kSha256Size) {
    return Status::Corruption("record prev_hash is not 32 bytes");
  }
  return Status::Ok();
}

namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// The field `tag` names, as a view into `in`'s array: the next length-delimited field with that
// tag, skipping the others; nullopt when the bytes end or do not parse first.
std::optional<std::string_view> FindField(CodedInputStream& in, uint32_t tag) {
  for (uint32_t t = in.ReadTag(); t != 0; t = in.ReadTag()) {
    if (t != tag) {
      if (!WireFormatLite::SkipField(&in, t)) return std::nullopt;
      continue;
    }
    uint32_t length = 0;
    const void* data = nullptr;
    int available = 0;
    if (!in.ReadVarint32(&length) || !in.GetDirectBufferPointer(&data, &available) ||
        static_cast<uint32_t>(available) < length) {
      return std::nullopt;
    }
    return std::string_view(static_cast<const char*>(data), length);
  }
  return std::nullopt;
}

// CloudEvent.type: field 4, length-delimited (schemas/annals/v1/cloudevents.proto).
constexpr uint32_t kCloudEventTypeTag = (4 << 3) | 2;

}  // namespace

std::optional<std::string_view> PeekEventType(std::string_view stored) {
  if (stored.size() < kHashSuffixSize || stored.size() > INT32_MAX) return std::nullopt;
  CodedInputStream record(reinterpret_cast<const uint8_t*>(stored.data()),
                          static_cast<int>(stored.size() - kHashSuffixSize));
  const std::optional<std::string_view> event = FindField(record, static_cast<uint8_t>(kEventTag));
  if (!event) return std::nullopt;
  CodedInputStream fields(reinterpret_cast<const uint8_t*>(event->data()),
                          static_cast<int>(event->size()));
  return FindField(fields, kCloudEventTypeTag);
}

Status DecodeRecordAt(uint64_t position, std::string_view stored, Record* record) {
  Status s = DecodeRecord(stored, record);
  if (s.ok() && record->position() != position) {
    s = Status::Corruption("record stored under another position (" +
                           std::to_string(record->position()) + ")");
  }
  return s.ok() ? s : s.WithContext("position " + std::to_string(position));
}

Status CheckRecordHash(std::string_view stored, const Record& decoded, Sha256Hasher* hasher) {
  ANNALS_ASSERT(stored.size() >= kHashSuffixSize);
  const std::string_view body = stored.substr(0, stored.size() - kHashSuffixSize);
  if (hasher->Digest(decoded.prev_hash(), body) != decoded.hash()) {
    return Status::Corruption("record hash does not match its bytes");
  }
  return Status::Ok();
}

}  // namespace annals::eventstore
