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
}  // namespace

const std::string& GenesisHash() {
  static const std::string kGenesis(kSha256Size, '\0');
  return kGenesis;
}

std::string EncodeRecord(Record* record, std::string_view event_bytes, Sha256Hasher* hasher) {
  ANNALS_ASSERT(record->hash().empty());
  ANNALS_ASSERT(!record->has_event());
  ANNALS_ASSERT(record->prev_hash().size() == kSha256Size);
  ANNALS_ASSERT(record->position() >= 1);
  std::string stored;
  ANNALS_ASSERT(record->SerializeToString(&stored));
  // Field 9 after fields 1-8: the order protobuf itself writes, so the bytes are what a
  // serialization of the whole Record gives.
  stored.push_back(kEventTag);
  PutVarint(&stored, event_bytes.size());
  stored.append(event_bytes);
  const size_t body_size = stored.size();
  std::string hash = hasher->Digest(record->prev_hash(), stored);
  stored.push_back(kHashTag);
  stored.push_back(kHashLength);
  stored.append(hash);
  ANNALS_ASSERT(stored.size() == body_size + kHashSuffixSize);
  record->set_hash(std::move(hash));
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
