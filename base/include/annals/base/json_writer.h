// JsonWriter: a small, allocation-light writer of compact JSON text. Every string it writes is
// escaped per RFC 8259; the caller guarantees UTF-8 input (the ledger only stores UTF-8 text).
// Structural mistakes (a value where a key is due, unbalanced End calls) are programmer errors
// and assert.
//
// Thread-safety: none; one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace annals {

class JsonWriter {
 public:
  JsonWriter() = default;
  // Room for `bytes` of output before the buffer grows (a hint: it does not limit the output).
  explicit JsonWriter(size_t bytes) { out_.reserve(bytes); }

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // A member key; the next call writes its value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-valid JSON text as a value (for example stored event data).
  JsonWriter& Raw(std::string_view json);

  // Shorthands for a member.
  JsonWriter& Member(std::string_view key, std::string_view value) { return Key(key).String(value); }
  JsonWriter& Member(std::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Member(std::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Member(std::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, int value) { return Key(key).Int(value); }
  JsonWriter& Member(std::string_view key, bool value) { return Key(key).Bool(value); }

  // The text so far. Complete when every Begin has had its End.
  const std::string& str() const { return out_; }
  std::string Release() { return std::move(out_); }
  bool complete() const { return stack_.empty() && !out_.empty(); }
  void Clear();

 private:
  void BeforeValue();
  enum class Frame : uint8_t { kObjectKey, kObjectValue, kArray };
  std::string out_;
  std::vector<Frame> stack_;
  bool first_ = true;
};

// Appends `value` to `out` as a quoted, escaped JSON string.
void AppendJsonString(std::string* out, std::string_view value);

}  // namespace annals
