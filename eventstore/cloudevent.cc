#include "annals/eventstore/cloudevent.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/unknown_field_set.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/base/assert.h"
#include "annals/base/sha256.h"
#include "annals/base/time_format.h"
#include "annals/eventstore/limits.h"
#include "annals/schemas/event_data.h"

namespace annals::eventstore {
namespace {

using Refusal = std::optional<InvalidAttribute>;
using AttrCase = CloudEventAttributeValue::AttrCase;
using Timestamp = google::protobuf::Timestamp;

Refusal Refuse(std::string_view attribute, std::string reason) {
  return InvalidAttribute{std::string(attribute), std::move(reason)};
}

// ---------------------------------------------------------------------------------------------
// Strings (CloudEvents 1.0.2, "Type System")

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAsciiAlpha(char c) { return IsAsciiLower(c) || (c >= 'A' && c <= 'Z'); }
bool IsHexDigit(char c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// The code point that starts at text[*i], which must be valid UTF-8; advances *i past it.
char32_t NextCodePoint(std::string_view text, size_t* i) {
  const auto lead = static_cast<unsigned char>(text[*i]);
  const int continuation_count = lead < 0x80 ? 0 : lead < 0xE0 ? 1 : lead < 0xF0 ? 2 : 3;
  char32_t code_point = continuation_count == 0 ? lead : lead & (0x3F >> continuation_count);
  for (int k = 1; k <= continuation_count; ++k) {
    code_point = (code_point << 6) | (static_cast<unsigned char>(text[*i + k]) & 0x3F);
  }
  *i += continuation_count + 1;
  return code_point;
}

// The spec disallows these in a String: most have no agreed meaning, and a newline cannot travel
// in an HTTP header.
bool IsDisallowedCodePoint(char32_t c) {
  const bool control = c <= 0x1F || (c >= 0x7F && c <= 0x9F);
  const bool noncharacter = (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
  return control || noncharacter;
}

Refusal CheckSize(std::string_view name, std::string_view value, size_t bytes_max) {
  if (value.size() <= bytes_max) return std::nullopt;
  return Refuse(name, fmt::format("{} is {} bytes long; at most {} bytes are allowed", name,
                                  value.size(), bytes_max));
}

// A CloudEvents String: at most `bytes_max` bytes of UTF-8 without control characters or
// noncharacters (surrogates cannot occur in valid UTF-8).
Refusal CheckString(std::string_view name, std::string_view value, size_t bytes_max) {
  if (auto refusal = CheckSize(name, value, bytes_max)) return refusal;
  if (!simdjson::validate_utf8(value)) {
    return Refuse(name, fmt::format("{} is not valid UTF-8", name));
  }
  for (size_t i = 0; i < value.size();) {
    const size_t offset = i;
    const char32_t c = NextCodePoint(value, &i);
    if (IsDisallowedCodePoint(c)) {
      return Refuse(name, fmt::format("{} contains the disallowed character U+{:04X} at byte {}",
                                      name, static_cast<uint32_t>(c), offset));
    }
  }
  return std::nullopt;
}

Refusal CheckRequiredString(std::string_view name, std::string_view value, size_t bytes_max) {
  if (value.empty()) return Refuse(name, fmt::format("{} is required and must not be empty", name));
  return CheckString(name, value, bytes_max);
}

// ---------------------------------------------------------------------------------------------
// URIs (RFC 3986) and media types (RFC 2046, RFC 2045 tokens)

bool IsUriCharacter(char c) {
  static constexpr std::string_view kPunctuation = "-._~:/?#[]@!$&'()*+,;=";
  return IsAsciiAlpha(c) || IsAsciiDigit(c) || kPunctuation.find(c) != std::string_view::npos;
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAsciiAlpha(s[0])) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '+' || c == '-' || c == '.';
  });
}

// A URI-reference: RFC 3986 characters only, well-formed percent-encoding, at most one '#', and
// a ':' before the first '/', '?' or '#' only after a valid scheme (else a reader would take the
// text before it for one). `absolute` also requires the scheme.
Refusal CheckUri(std::string_view name, std::string_view value, bool absolute) {
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '%') {
      if (i + 2 >= value.size() || !IsHexDigit(value[i + 1]) || !IsHexDigit(value[i + 2])) {
        return Refuse(name, fmt::format("{} has a malformed percent-encoding at byte {}", name, i));
      }
      i += 2;
    } else if (!IsUriCharacter(c)) {
      return Refuse(name, fmt::format("{} contains the byte 0x{:02X} at byte {}, which RFC 3986 "
                                      "does not allow in a URI",
                                      name, static_cast<unsigned char>(c), i));
    }
  }
  if (std::count(value.begin(), value.end(), '#') > 1) {
    return Refuse(name, fmt::format("{} has more than one '#'", name));
  }
  const size_t scheme_end = value.find_first_of(":/?#");
  const bool has_scheme = scheme_end != std::string_view::npos && value[scheme_end] == ':';
  if (has_scheme && !IsScheme(value.substr(0, scheme_end))) {
    return Refuse(name, fmt::format("{} has an invalid URI scheme before its first ':'", name));
  }
  if (absolute && !has_scheme) {
    return Refuse(name, fmt::format("{} must be an absolute URI (with a scheme)", name));
  }
  return std::nullopt;
}

// token = 1*<any CHAR except SPACE, CTLs, or tspecials> (RFC 2045, 5.1)
bool IsTokenCharacter(char c) {
  static constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?=";
  return c > 0x20 && c < 0x7F && kSpecials.find(c) == std::string_view::npos;
}

// Advances *i over a token; false when there is none.
bool SkipToken(std::string_view s, size_t* i) {
  const size_t start = *i;
  while (*i < s.size() && IsTokenCharacter(s[*i])) ++*i;
  return *i > start;
}

// Advances *i over a quoted-string; false when it is not one or is not closed.
bool SkipQuotedString(std::string_view s, size_t* i) {
  if (*i >= s.size() || s[*i] != '"') return false;
  for (++*i; *i < s.size(); ++*i) {
    if (s[*i] == '\\') {
      ++*i;  // the escaped character, whatever it is
    } else if (s[*i] == '"') {
      ++*i;
      return true;
    }
  }
  return false;
}

void SkipSpaces(std::string_view s, size_t* i) {
  while (*i < s.size() && s[*i] == ' ') ++*i;
}

// type "/" subtype *( OWS ";" OWS attribute "=" ( token / quoted-string ) )
bool IsMediaType(std::string_view s) {
  size_t i = 0;
  if (!SkipToken(s, &i) || i >= s.size() || s[i] != '/') return false;
  ++i;
  if (!SkipToken(s, &i)) return false;
  while (true) {
    SkipSpaces(s, &i);
    if (i == s.size()) return true;
    if (s[i] != ';') return false;
    ++i;
    SkipSpaces(s, &i);
    if (!SkipToken(s, &i) || i >= s.size() || s[i] != '=') return false;
    ++i;
    if (!SkipToken(s, &i) && !SkipQuotedString(s, &i)) return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Timestamps (RFC 3339). google.protobuf.Timestamp spans 0001-01-01 to 9999-12-31 UTC.

constexpr int32_t kNanosPerSecond = 1000000000;

bool IsValidTimestamp(const Timestamp& t) {
  return t.seconds() >= kRfc3339SecondsMin && t.seconds() <= kRfc3339SecondsMax &&
         t.nanos() >= 0 && t.nanos() < kNanosPerSecond;
}

// An RFC 3339 date-time as a Timestamp, or the reason it is not one.
std::optional<std::string> ParseTimestamp(std::string_view text, Timestamp* out) {
  int64_t seconds = 0;
  int32_t nanos = 0;
  if (auto reason = ParseRfc3339(text, &seconds, &nanos)) return "time " + *reason;
  out->set_seconds(seconds);
  out->set_nanos(nanos);
  ANNALS_ASSERT(IsValidTimestamp(*out));
  return std::nullopt;
}

// Written the one way annals writes times (annals/base/time_format.h): UTC with "Z", the
// fraction trimmed of trailing zeros and only when nanos != 0, so one Timestamp has one text.
std::string FormatTimestamp(const Timestamp& t) {
  ANNALS_ASSERT(IsValidTimestamp(t));
  return FormatRfc3339(t.seconds(), t.nanos());
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648, section 4: standard alphabet, padded)

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string EncodeBase64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t count = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k) {
      group = (group << 8) | (k < count ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (size_t k = 0; k < 4; ++k) {
      out.push_back(k <= count ? kBase64Alphabet[(group >> (18 - 6 * k)) & 0x3F] : '=');
    }
  }
  return out;
}

int Base64Value(char c) {
  const size_t at = kBase64Alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

// Strict: a multiple of 4 characters, '=' only as the final padding, no whitespace, and zero
// padding bits, so that every byte string has exactly one accepted text.
bool DecodeBase64(std::string_view text, std::string* bytes) {
  if (text.size() % 4 != 0) return false;
  bytes->clear();
  bytes->reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    size_t pad_count = 0;
    if (last && text[i + 3] == '=') pad_count = text[i + 2] == '=' ? 2 : 1;
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      const int value = k < 4 - pad_count ? Base64Value(text[i + k]) : 0;
      if (value < 0) return false;
      group = (group << 6) | static_cast<uint32_t>(value);
    }
    const uint32_t unused_bits_mask = pad_count == 0 ? 0 : pad_count == 1 ? 0xFF : 0xFFFF;
    if ((group & unused_bits_mask) != 0) return false;
    for (size_t k = 0; k < 3 - pad_count; ++k) {
      bytes->push_back(static_cast<char>(group >> (16 - 8 * k)));
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// JSON text

// ---------------------------------------------------------------------------------------------
// Attributes

constexpr std::string_view kDataContentType = "datacontenttype";
constexpr std::string_view kDataSchema = "dataschema";
constexpr std::string_view kSubject = "subject";
constexpr std::string_view kTime = "time";
constexpr std::string_view kReservedPrefix = "annals";

std::string_view KindName(AttrCase kind) {
  switch (kind) {
    case CloudEventAttributeValue::kCeBoolean: return "ce_boolean";
    case CloudEventAttributeValue::kCeInteger: return "ce_integer";
    case CloudEventAttributeValue::kCeString: return "ce_string";
    case CloudEventAttributeValue::kCeBytes: return "ce_bytes";
    case CloudEventAttributeValue::kCeUri: return "ce_uri";
    case CloudEventAttributeValue::kCeUriRef: return "ce_uri_ref";
    case CloudEventAttributeValue::kCeTimestamp: return "ce_timestamp";
    case CloudEventAttributeValue::ATTR_NOT_SET: return "no value";
  }
  ANNALS_UNREACHABLE();
}

// The kind an optional context attribute must have; ATTR_NOT_SET for an extension (any kind).
AttrCase RequiredKind(std::string_view name) {
  if (name == kDataContentType || name == kSubject) return CloudEventAttributeValue::kCeString;
  if (name == kDataSchema) return CloudEventAttributeValue::kCeUri;
  if (name == kTime) return CloudEventAttributeValue::kCeTimestamp;
  return CloudEventAttributeValue::ATTR_NOT_SET;
}

// The attribute names in byte order: the map's own order is unspecified, and both the first
// refusal and the JSON output must not depend on it.
std::vector<std::string_view> SortedNames(const CloudEvent& event) {
  std::vector<std::string_view> names;
  names.reserve(event.attributes_size());
  for (const auto& [name, value] : event.attributes()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string_view ContentTypeOf(const CloudEvent& event) {
  const auto it = event.attributes().find(std::string(kDataContentType));
  if (it == event.attributes().end() || !it->second.has_ce_string()) return {};
  return it->second.ce_string();
}

Refusal CheckAttributeName(std::string_view name) {
  if (name == "id" || name == "source" || name == "specversion" || name == "type") {
    return Refuse(name, fmt::format("{} is a field of the event, not an attribute", name));
  }
  if (name == "data") return Refuse(name, "data is the event's data, not an attribute");
  if (name.empty() || name.size() > kExtensionNameBytesMax) {
    return Refuse(name, fmt::format("an attribute name must be 1 to {} bytes long",
                                    kExtensionNameBytesMax));
  }
  if (!std::all_of(name.begin(), name.end(),
                   [](char c) { return IsAsciiLower(c) || IsAsciiDigit(c); })) {
    return Refuse(name, "an attribute name may hold only the characters a-z and 0-9");
  }
  if (name.starts_with(kReservedPrefix)) {
    return Refuse(name, "attribute names starting with \"annals\" are reserved for the ledger");
  }
  return std::nullopt;
}

// The checks every value of its kind must pass, whatever attribute holds it.
Refusal CheckAttributeKind(std::string_view name, const CloudEventAttributeValue& value) {
  const size_t bytes_max = name == kSubject ? kSubjectBytesMax : kAttributeValueBytesMax;
  switch (value.attr_case()) {
    case CloudEventAttributeValue::kCeBoolean:
    case CloudEventAttributeValue::kCeInteger: return std::nullopt;
    case CloudEventAttributeValue::kCeString:
      return CheckString(name, value.ce_string(), bytes_max);
    case CloudEventAttributeValue::kCeBytes: return CheckSize(name, value.ce_bytes(), bytes_max);
    case CloudEventAttributeValue::kCeUri:
      if (auto refusal = CheckSize(name, value.ce_uri(), bytes_max)) return refusal;
      return CheckUri(name, value.ce_uri(), /*absolute=*/true);
    case CloudEventAttributeValue::kCeUriRef:
      if (auto refusal = CheckSize(name, value.ce_uri_ref(), bytes_max)) return refusal;
      return CheckUri(name, value.ce_uri_ref(), /*absolute=*/false);
    case CloudEventAttributeValue::kCeTimestamp:
      if (IsValidTimestamp(value.ce_timestamp())) return std::nullopt;
      return Refuse(name, fmt::format("{} is outside the years 0001 to 9999 or has nanos outside "
                                      "0 to 999999999", name));
    case CloudEventAttributeValue::ATTR_NOT_SET: break;
  }
  return Refuse(name, fmt::format("{} has no value", name));
}

Refusal CheckAttribute(std::string_view name, const CloudEventAttributeValue& value) {
  if (auto refusal = CheckAttributeName(name)) return refusal;
  const AttrCase required = RequiredKind(name);
  if (required != CloudEventAttributeValue::ATTR_NOT_SET && value.attr_case() != required) {
    return Refuse(name, fmt::format("{} must be a {}, not {}", name, KindName(required),
                                    KindName(value.attr_case())));
  }
  if (auto refusal = CheckAttributeKind(name, value)) return refusal;
  if (name == kDataContentType && !IsMediaType(value.ce_string())) {
    return Refuse(name, "datacontenttype must be an RFC 2046 media type such as "
                        "\"application/json; charset=utf-8\"");
  }
  if (name == kSubject && value.ce_string().empty()) {
    return Refuse(name, "subject must not be empty when present");
  }
  return std::nullopt;
}

Refusal CheckAttributes(const CloudEvent& event) {
  if (static_cast<size_t>(event.attributes_size()) > kAttributesMax) {
    return Refuse("attributes", fmt::format("the event has {} optional and extension attributes; "
                                            "at most {} are allowed",
                                            event.attributes_size(), kAttributesMax));
  }
  for (std::string_view name : SortedNames(event)) {
    if (auto refusal = CheckAttribute(name, event.attributes().at(std::string(name)))) {
      return refusal;
    }
  }
  return std::nullopt;
}

Refusal CheckRequiredAttributes(const CloudEvent& event) {
  if (event.spec_version().empty()) return Refuse("specversion", "specversion is required");
  if (event.spec_version() != "1.0") {
    return Refuse("specversion", "specversion must be \"1.0\" (CloudEvents 1.0.2)");
  }
  if (auto refusal = CheckRequiredString("id", event.id(), kIdBytesMax)) return refusal;
  if (event.source().empty()) return Refuse("source", "source is required and must not be empty");
  if (auto refusal = CheckSize("source", event.source(), kSourceBytesMax)) return refusal;
  if (auto refusal = CheckUri("source", event.source(), /*absolute=*/false)) return refusal;
  return CheckRequiredString("type", event.type(), kTypeBytesMax);
}

Refusal CheckData(const CloudEvent& event) {
  switch (event.data_case()) {
    case CloudEvent::DATA_NOT_SET:
    case CloudEvent::kBinaryData: return std::nullopt;
    case CloudEvent::kProtoData: return Refuse("data", "protobuf data is not supported");
    case CloudEvent::kTextData: break;
  }
  const std::string& text = event.text_data();
  if (!simdjson::validate_utf8(text)) return Refuse("data", "text data is not valid UTF-8");
  const std::string_view content_type = ContentTypeOf(event);
  if (!IsJsonContentType(content_type)) return std::nullopt;
  // A catalog type's data is parsed once, by its schema check (CheckDomainData), which refuses
  // what is not JSON as well.
  if (schemas::IsCatalogType(event.type())) return std::nullopt;
  if (auto error = JsonSyntaxError(text)) {
    return Refuse("data", fmt::format("data must be JSON text because datacontenttype is {}: {}",
                                      content_type.empty() ? "absent" : "a JSON type", *error));
  }
  return std::nullopt;
}

// Unknown fields would enter the digest while JSON cannot carry them, so the event would not
// survive an export and import.
bool CarriesUnknownFields(const google::protobuf::Message& message) {
  return !message.GetReflection()->GetUnknownFields(message).empty();
}

bool HasUnknownFields(const CloudEvent& event) {
  if (CarriesUnknownFields(event)) return true;
  for (const auto& [name, value] : event.attributes()) {
    if (CarriesUnknownFields(value)) return true;
    if (value.has_ce_timestamp() && CarriesUnknownFields(value.ce_timestamp())) return true;
  }
  return false;
}

// A domain event (docs/events.md) carries JSON data that fits its type's schema.
Refusal CheckDomainData(const CloudEvent& event) {
  if (!schemas::IsCatalogType(event.type())) return std::nullopt;
  if (!IsJsonContentType(ContentTypeOf(event))) {
    return Refuse(kDataContentType, fmt::format("{} carries JSON data: datacontenttype must be "
                                                "application/json or absent", event.type()));
  }
  if (event.data_case() == CloudEvent::kBinaryData) {
    return Refuse("data", fmt::format("{} carries JSON data, not data_base64", event.type()));
  }
  // text_data() is empty when the event has no data: ValidateEventData refuses that.
  if (auto error = schemas::ValidateEventData(event.type(), event.text_data())) {
    return Refuse(error->field, std::move(error->reason));
  }
  return std::nullopt;
}

}  // namespace

std::optional<InvalidAttribute> ValidateCloudEvent(const CloudEvent& event) {
  if (auto refusal = CheckRequiredAttributes(event)) return refusal;
  if (auto refusal = CheckAttributes(event)) return refusal;
  if (auto refusal = CheckData(event)) return refusal;
  if (HasUnknownFields(event)) {
    return Refuse("event", "the event carries unknown protobuf fields, which JSON cannot carry");
  }
  return CheckDomainData(event);
}

bool IsJsonContentType(std::string_view datacontenttype) {
  std::string essence(datacontenttype.substr(0, datacontenttype.find(';')));
  std::transform(essence.begin(), essence.end(), essence.begin(), AsciiLower);
  const size_t first = essence.find_first_not_of(' ');
  if (first == std::string::npos) return true;  // absent: JSON by the JSON event format's rule
  const std::string_view type =
      std::string_view(essence).substr(first, essence.find_last_not_of(' ') + 1 - first);
  const size_t slash = type.find('/');
  return type == "application/json" || type == "text/json" ||
         (slash != std::string_view::npos && type.substr(slash + 1).ends_with("+json"));
}

std::string CanonicalBytes(const CloudEvent& event) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);  // map entries (attributes) sorted by key
    const bool serialized = event.SerializePartialToCodedStream(&coded);
    ANNALS_ASSERT(serialized && !coded.HadError());
  }  // the coded stream trims `bytes` to what was written when it is destroyed
  return bytes;
}

std::string ContentDigest(const CloudEvent& event) { return Sha256(CanonicalBytes(event)); }

// ---------------------------------------------------------------------------------------------
// Reading the JSON event format

namespace {

namespace ondemand = simdjson::ondemand;

// JSON members of an event that are not attributes, plus the reserved extensions: the bound on
// members per object is kAttributesMax + this.
constexpr size_t kNonAttributeMembersMax = 9;

// A document simdjson could not start on (empty, not UTF-8, unclosed string, ...): there is no
// position to tell.
InvalidAttribute DocumentError(simdjson::error_code error) {
  return {"json", std::string(simdjson::error_message(error))};
}

// simdjson calls a misspelt true, false or null a type error; say what it is.
constexpr std::string_view kBadLiteral = "a JSON literal must be true, false or null";

// One JSON document being read: where syntax errors are located.
struct JsonSource {
  const char* begin;
  ondemand::document* document;

  InvalidAttribute SyntaxError(std::string_view what) const {
    const char* location = nullptr;
    std::string reason(what);
    if (document->current_location().get(location) == simdjson::SUCCESS) {
      reason += fmt::format(" (near byte {})", location - begin);
    }
    return {"json", std::move(reason)};
  }
  InvalidAttribute SyntaxError(simdjson::error_code error) const {
    return SyntaxError(simdjson::error_message(error));
  }
};

// What one event object holds while its members are read; the data is settled once the content
// type is known, which may come after it. The views point into the padded input or the parser's
// string buffer, both alive until the document is done.
struct EventMembers {
  ParsedEvent parsed;
  std::set<std::string, std::less<>> seen;
  std::optional<std::string_view> data_json;    // the data value as raw JSON text
  std::optional<std::string_view> data_string;  // the data value unescaped, when a string
  std::optional<std::string> data_base64;       // decoded
};

// Reads a member that must be a string. A refusal names the member.
Refusal ReadString(const JsonSource& src, std::string_view name, ondemand::value& value,
                   std::string_view* out) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return src.SyntaxError(error);
  if (type != ondemand::json_type::string) {
    return Refuse(name, fmt::format("{} must be a JSON string", name));
  }
  if (auto error = value.get_string().get(*out)) return src.SyntaxError(error);
  return std::nullopt;
}

Refusal ReadInteger(const JsonSource& src, std::string_view name, ondemand::value& value,
                    int32_t* out) {
  ondemand::number_type kind;
  if (auto error = value.get_number_type().get(kind)) return src.SyntaxError(error);
  if (kind == ondemand::number_type::floating_point_number) {
    return Refuse(name, "extension values must be string, integer or boolean");
  }
  int64_t wide = 0;
  const simdjson::error_code error = value.get_int64().get(wide);
  // An integer beyond int64 shows up as the wrong type or out of range.
  const bool too_large =
      error == simdjson::INCORRECT_TYPE || error == simdjson::NUMBER_OUT_OF_RANGE;
  if (error != simdjson::SUCCESS && !too_large) return src.SyntaxError(error);
  if (too_large || wide < std::numeric_limits<int32_t>::min() ||
      wide > std::numeric_limits<int32_t>::max()) {
    return Refuse(name, fmt::format("{} is outside the CloudEvents Integer range (32 bits)", name));
  }
  *out = static_cast<int32_t>(wide);
  return std::nullopt;
}

CloudEventAttributeValue* NewAttribute(std::string_view name, EventMembers* members) {
  return &(*members->parsed.event.mutable_attributes())[std::string(name)];
}

Refusal ReadExtension(const JsonSource& src, std::string_view name, ondemand::json_type type,
                      ondemand::value& value, EventMembers* members) {
  if (static_cast<size_t>(members->parsed.event.attributes_size()) >= kAttributesMax) {
    return Refuse(name, fmt::format("an event may have at most {} optional and extension "
                                    "attributes", kAttributesMax));
  }
  switch (type) {
    case ondemand::json_type::string: {
      std::string_view text;
      if (auto refusal = ReadString(src, name, value, &text)) return refusal;
      NewAttribute(name, members)->set_ce_string(std::string(text));
      return std::nullopt;
    }
    case ondemand::json_type::boolean: {
      bool flag = false;
      if (value.get_bool().get(flag) != simdjson::SUCCESS) return src.SyntaxError(kBadLiteral);
      NewAttribute(name, members)->set_ce_boolean(flag);
      return std::nullopt;
    }
    case ondemand::json_type::number: {
      int32_t number = 0;
      if (auto refusal = ReadInteger(src, name, value, &number)) return refusal;
      NewAttribute(name, members)->set_ce_integer(number);
      return std::nullopt;
    }
    default:
      return Refuse(name, "extension values must be string, integer or boolean");
  }
}

// The raw JSON text of any value (simdjson 3.0 offers raw text per kind only).
Refusal ReadRawJson(const JsonSource& src, ondemand::json_type type, ondemand::value& value,
                    std::string_view* out) {
  simdjson::error_code error = simdjson::SUCCESS;
  if (type == ondemand::json_type::object) {
    ondemand::object object;
    error = value.get_object().get(object);
    if (!error) error = object.raw_json().get(*out);
  } else if (type == ondemand::json_type::array) {
    ondemand::array array;
    error = value.get_array().get(array);
    if (!error) error = array.raw_json().get(*out);
  } else {
    *out = value.raw_json_token();
  }
  if (error) return src.SyntaxError(error);
  return std::nullopt;
}

Refusal ReadData(const JsonSource& src, ondemand::json_type type, ondemand::value& value,
                 EventMembers* members) {
  std::string_view raw;
  if (auto refusal = ReadRawJson(src, type, value, &raw)) return refusal;
  members->data_json = raw;
  if (type != ondemand::json_type::string) return std::nullopt;
  std::string_view text;
  if (auto error = value.get_string().get(text)) return src.SyntaxError(error);
  members->data_string = text;
  return std::nullopt;
}

Refusal ReadDataBase64(const JsonSource& src, ondemand::value& value, EventMembers* members) {
  std::string_view text;
  if (auto refusal = ReadString(src, "data_base64", value, &text)) return refusal;
  std::string bytes;
  if (!DecodeBase64(text, &bytes)) {
    return Refuse("data_base64", "data_base64 must be padded base64 (RFC 4648, section 4)");
  }
  members->data_base64 = std::move(bytes);
  return std::nullopt;
}

// annalsstream, annalskey, annalsorigin: ledger fields, not attributes.
Refusal ReadLedgerField(const JsonSource& src, std::string_view name, ondemand::value& value,
                        size_t bytes_max, std::string* out) {
  std::string_view text;
  if (auto refusal = ReadString(src, name, value, &text)) return refusal;
  if (auto refusal = CheckRequiredString(name, text, bytes_max)) return refusal;
  *out = std::string(text);
  return std::nullopt;
}

// Where a member goes that is a string field of the message or a string-valued context
// attribute; nullptr for any other member.
std::string* StringMemberTarget(std::string_view name, EventMembers* members) {
  CloudEvent& event = members->parsed.event;
  if (name == "specversion") return event.mutable_spec_version();
  if (name == "id") return event.mutable_id();
  if (name == "source") return event.mutable_source();
  if (name == "type") return event.mutable_type();
  if (name == kDataContentType || name == kSubject) {
    return NewAttribute(name, members)->mutable_ce_string();
  }
  if (name == kDataSchema) return NewAttribute(name, members)->mutable_ce_uri();
  return nullptr;
}

Refusal ReadTime(const JsonSource& src, ondemand::value& value, EventMembers* members) {
  std::string_view text;
  if (auto refusal = ReadString(src, kTime, value, &text)) return refusal;
  Timestamp time;
  if (auto reason = ParseTimestamp(text, &time)) return Refuse(kTime, std::move(*reason));
  *NewAttribute(kTime, members)->mutable_ce_timestamp() = time;
  return std::nullopt;
}

Refusal ReadMember(const JsonSource& src, std::string_view name, ondemand::json_type type,
                   ondemand::value& value, EventMembers* members) {
  ParsedEvent& parsed = members->parsed;
  if (std::string* target = StringMemberTarget(name, members)) {
    std::string_view text;
    if (auto refusal = ReadString(src, name, value, &text)) return refusal;
    target->assign(text);
    return std::nullopt;
  }
  if (name == kTime) return ReadTime(src, value, members);
  if (name == "data") return ReadData(src, type, value, members);
  if (name == "data_base64") return ReadDataBase64(src, value, members);
  if (name == kStreamExtension) {
    return ReadLedgerField(src, name, value, kStreamBytesMax, &parsed.stream);
  }
  if (name == kKeyExtension) {
    return ReadLedgerField(src, name, value, kIdempotencyKeyBytesMax, &parsed.idempotency_key);
  }
  if (name == kOriginExtension) {
    return ReadLedgerField(src, name, value, kOriginBytesMax, &parsed.origin);
  }
  return ReadExtension(src, name, type, value, members);
}

// Null is treated as absent (as the JSON event format does for attributes); the literal is
// still checked, since nothing else would.
Refusal ReadField(const JsonSource& src, ondemand::field& field, EventMembers* members) {
  std::string_view name;
  if (auto error = field.unescaped_key().get(name)) return src.SyntaxError(error);
  if (members->seen.size() >= kAttributesMax + kNonAttributeMembersMax) {
    return Refuse(name, "the event object has too many members");
  }
  if (!members->seen.emplace(name).second) {
    return Refuse(name, fmt::format("the member \"{}\" appears more than once", name));
  }
  ondemand::value& value = field.value();
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return src.SyntaxError(error);
  if (type != ondemand::json_type::null) return ReadMember(src, name, type, value, members);
  bool is_null = false;
  if (value.is_null().get(is_null) != simdjson::SUCCESS || !is_null) {
    return src.SyntaxError(kBadLiteral);
  }
  return std::nullopt;
}

// Data as the header describes: JSON content type -> minified JSON text; otherwise a string
// value verbatim, or any other value as minified JSON text.
Refusal SettleData(EventMembers* members) {
  CloudEvent& event = members->parsed.event;
  if (members->data_json && members->data_base64) {
    return Refuse("data_base64", "an event carries data or data_base64, not both");
  }
  if (members->data_base64) {
    event.set_binary_data(std::move(*members->data_base64));
  } else if (members->data_string && !IsJsonContentType(ContentTypeOf(event))) {
    event.set_text_data(std::string(*members->data_string));
  } else if (members->data_json) {
    if (auto error = JsonSyntaxError(*members->data_json)) {
      return Refuse("data", fmt::format("data is not valid JSON: {}", *error));
    }
    event.set_text_data(MinifyJson(*members->data_json));
  }
  return std::nullopt;
}

// Reads one event object and validates it. `Value` is the document or an array element.
template <typename Value>
Refusal ReadEvent(const JsonSource& src, Value& value, ParsedEvent* out) {
  ondemand::json_type type;
  if (auto error = value.type().get(type)) return src.SyntaxError(error);
  if (type != ondemand::json_type::object) return Refuse("json", "an event must be a JSON object");
  ondemand::object object;
  if (auto error = value.get_object().get(object)) return src.SyntaxError(error);
  EventMembers members;
  for (auto field_result : object) {
    ondemand::field field;
    if (auto error = std::move(field_result).get(field)) return src.SyntaxError(error);
    if (auto refusal = ReadField(src, field, &members)) return refusal;
  }
  if (auto refusal = SettleData(&members)) return refusal;
  if (auto refusal = ValidateCloudEvent(members.parsed.event)) return refusal;
  *out = std::move(members.parsed);
  return std::nullopt;
}

// Anything after the top-level value is an error; simdjson reports the end as out of bounds.
Refusal CheckAtEnd(const JsonSource& src) {
  const char* location = nullptr;
  if (src.document->current_location().get(location) != simdjson::SUCCESS) return std::nullopt;
  return Refuse("json", fmt::format("unexpected text after the JSON value at byte {}",
                                    location - src.begin));
}

}  // namespace

ParseCloudEventResult ParseCloudEventJson(std::string_view json) {
  const simdjson::padded_string padded(json);
  ondemand::parser parser;
  ondemand::document document;
  const JsonSource src{padded.data(), &document};
  if (auto error = parser.iterate(padded).get(document)) {
    return {std::nullopt, DocumentError(error)};
  }
  ParsedEvent parsed;
  if (auto refusal = ReadEvent(src, document, &parsed)) return {std::nullopt, std::move(*refusal)};
  if (auto refusal = CheckAtEnd(src)) return {std::nullopt, std::move(*refusal)};
  return {std::move(parsed), {}};
}

namespace {

Refusal GetBatchArray(const JsonSource& src, ondemand::array* array) {
  ondemand::json_type type;
  if (auto error = src.document->type().get(type)) return src.SyntaxError(error);
  if (type != ondemand::json_type::array) {
    return Refuse("json", "a batch must be a JSON array of events");
  }
  if (auto error = src.document->get_array().get(*array)) return src.SyntaxError(error);
  return std::nullopt;
}

ParseBatchResult BatchRefused(size_t index, InvalidAttribute error) {
  ParseBatchResult result;
  result.bad_index = index;
  result.error = std::move(error);
  return result;
}

}  // namespace

ParseBatchResult ParseCloudEventBatchJson(std::string_view json) {
  const simdjson::padded_string padded(json);
  ondemand::parser parser;
  ondemand::document document;
  const JsonSource src{padded.data(), &document};
  if (auto error = parser.iterate(padded).get(document)) {
    return BatchRefused(0, DocumentError(error));
  }
  ondemand::array array;
  if (auto refusal = GetBatchArray(src, &array)) return BatchRefused(0, std::move(*refusal));
  ParseBatchResult result;
  for (auto element_result : array) {
    const size_t index = result.events.size();
    if (index == kBatchEventsMax) {
      return BatchRefused(index, {"json", fmt::format("a batch holds at most {} events",
                                                      kBatchEventsMax)});
    }
    ondemand::value element;
    if (auto error = std::move(element_result).get(element)) {
      return BatchRefused(index, src.SyntaxError(error));
    }
    ParsedEvent parsed;
    if (auto refusal = ReadEvent(src, element, &parsed)) {
      return BatchRefused(index, std::move(*refusal));
    }
    result.events.push_back(std::move(parsed));
  }
  if (auto refusal = CheckAtEnd(src)) {
    return BatchRefused(result.events.size(), std::move(*refusal));
  }
  result.ok = true;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Writing the JSON event format

namespace {

// The JSON event format's encoding of each attribute type.
void WriteAttributeValue(const CloudEventAttributeValue& value, JsonWriter* out) {
  switch (value.attr_case()) {
    case CloudEventAttributeValue::kCeBoolean: out->Bool(value.ce_boolean()); return;
    case CloudEventAttributeValue::kCeInteger: out->Int(value.ce_integer()); return;
    case CloudEventAttributeValue::kCeString: out->String(value.ce_string()); return;
    case CloudEventAttributeValue::kCeBytes: out->String(EncodeBase64(value.ce_bytes())); return;
    case CloudEventAttributeValue::kCeUri: out->String(value.ce_uri()); return;
    case CloudEventAttributeValue::kCeUriRef: out->String(value.ce_uri_ref()); return;
    case CloudEventAttributeValue::kCeTimestamp:
      out->String(FormatTimestamp(value.ce_timestamp()));
      return;
    case CloudEventAttributeValue::ATTR_NOT_SET: break;
  }
  ANNALS_UNREACHABLE();  // ValidateCloudEvent refuses a value without a kind
}

void WriteData(const CloudEvent& event, JsonWriter* out) {
  switch (event.data_case()) {
    case CloudEvent::DATA_NOT_SET: return;
    case CloudEvent::kBinaryData:
      out->Member("data_base64", EncodeBase64(event.binary_data()));
      return;
    case CloudEvent::kTextData:
      // JSON data is stored as its JSON text; anything else is text and becomes a JSON string.
      if (IsJsonContentType(ContentTypeOf(event))) {
        out->Key("data").Raw(event.text_data());
      } else {
        out->Member("data", event.text_data());
      }
      return;
    case CloudEvent::kProtoData: break;
  }
  ANNALS_UNREACHABLE();  // ValidateCloudEvent refuses protobuf data
}

void WriteMembers(const CloudEvent& event, const LedgerExtensions* ledger, JsonWriter* out) {
  out->Member("specversion", event.spec_version())
      .Member("id", event.id())
      .Member("source", event.source())
      .Member("type", event.type());
  if (ledger != nullptr) {
    if (!ledger->stream.empty()) out->Member(kStreamExtension, ledger->stream);
    if (!ledger->idempotency_key.empty()) out->Member(kKeyExtension, ledger->idempotency_key);
    if (!ledger->origin.empty()) out->Member(kOriginExtension, ledger->origin);
  }
  for (std::string_view name : SortedNames(event)) {
    out->Key(name);
    WriteAttributeValue(event.attributes().at(std::string(name)), out);
  }
  WriteData(event, out);
}

}  // namespace

std::string CloudEventToJson(const CloudEvent& event, const LedgerExtensions* ledger) {
  JsonWriter out;
  out.BeginObject();
  WriteMembers(event, ledger, &out);
  out.EndObject();
  return out.Release();
}

void WriteCloudEventMembers(const CloudEvent& event, JsonWriter* out) {
  WriteMembers(event, nullptr, out);
}

// JSON text (cloudevent.h). A full DOM parse: the on-demand parser skips what it is not asked to
// read without checking it, so raw data text is checked with this.
std::optional<std::string> JsonSyntaxError(std::string_view text) {
  // One parser per thread: its buffers grow to the largest text seen and are reused (a fresh
  // parser allocates them for every event).
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  const simdjson::error_code error = parser.parse(text.data(), text.size()).get(ignored);
  if (error != simdjson::SUCCESS) return std::string(simdjson::error_message(error));
  return std::nullopt;
}

std::string MinifyJson(std::string_view json) {
  std::string out(json.size() + simdjson::SIMDJSON_PADDING, '\0');
  size_t out_size = 0;
  const simdjson::error_code error =
      simdjson::minify(json.data(), json.size(), out.data(), out_size);
  ANNALS_ASSERT(error == simdjson::SUCCESS);
  ANNALS_ASSERT(out_size <= json.size());
  out.resize(out_size);
  return out;
}

}  // namespace annals::eventstore
