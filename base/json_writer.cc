#include "annals/base/json_writer.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <fmt/format.h>

#include <cmath>

#include "annals/base/assert.h"

namespace annals {

namespace {

// The index of the first byte at or after `from` that a JSON string must escape (a control
// character, '"' or '\\'), or value.size(). Sixteen bytes at a time where SSE2 is there (every
// x86-64): rows are mostly plain text, so most of them pass in one comparison.
size_t NextToEscape(std::string_view value, size_t from) {
  size_t i = from;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i last_control = _mm_set1_epi8(0x1f);
  for (; i + 16 <= value.size(); i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(value.data() + i));
    // byte <= 0x1f (unsigned): max(byte, 0x1f) == 0x1f.
    const __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(bytes, last_control), last_control);
    const __m128i special = _mm_or_si128(
        control, _mm_or_si128(_mm_cmpeq_epi8(bytes, quote), _mm_cmpeq_epi8(bytes, backslash)));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  for (; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return value.size();
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run_start = 0;
  for (size_t i = NextToEscape(value, 0); i < value.size(); i = NextToEscape(value, i + 1)) {
    const auto c = static_cast<unsigned char>(value[i]);
    out->append(value.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
  }
  out->append(value.data() + run_start, value.size() - run_start);
  out->push_back('"');
}

void JsonWriter::Clear() {
  out_.clear();
  stack_.clear();
  first_ = true;
}

void JsonWriter::BeforeValue() {
  if (stack_.empty()) {
    ANNALS_ASSERT_MSG(out_.empty(), "JsonWriter: a second top-level value");
    return;
  }
  switch (stack_.back()) {
    case Frame::kObjectKey: ANNALS_UNREACHABLE();  // a value where a key is due
    case Frame::kObjectValue: stack_.back() = Frame::kObjectKey; break;
    case Frame::kArray:
      if (!first_) out_.push_back(',');
      break;
  }
  first_ = false;
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  stack_.push_back(Frame::kObjectKey);
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  ANNALS_ASSERT(!stack_.empty() && stack_.back() == Frame::kObjectKey);
  stack_.pop_back();
  out_.push_back('}');
  first_ = false;
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  stack_.push_back(Frame::kArray);
  first_ = true;
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  ANNALS_ASSERT(!stack_.empty() && stack_.back() == Frame::kArray);
  stack_.pop_back();
  out_.push_back(']');
  first_ = false;
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  ANNALS_ASSERT(!stack_.empty() && stack_.back() == Frame::kObjectKey);
  if (!first_) out_.push_back(',');
  first_ = false;
  AppendJsonString(&out_, key);
  out_.push_back(':');
  stack_.back() = Frame::kObjectValue;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  BeforeValue();
  AppendJsonString(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", value);
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  fmt::format_to(std::back_inserter(out_), "{}", value);
  return *this;
}

JsonWriter& JsonWriter::Double(double value) {
  BeforeValue();
  if (std::isfinite(value)) {
    fmt::format_to(std::back_inserter(out_), "{}", value);
  } else {
    out_.append("null");  // JSON has no NaN or infinity
  }
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_.append(value ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  ANNALS_ASSERT(!json.empty());
  BeforeValue();
  out_.append(json);
  return *this;
}

}  // namespace annals
