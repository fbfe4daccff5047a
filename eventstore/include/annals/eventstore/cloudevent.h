// CloudEvents 1.0.2 in annals: validation of an event, its canonical bytes and digest, and the
// JSON event format (structured mode) in and out.
//
// Representation (docs/ledger_format.md, "The CloudEvent"): events are held as the official
// protobuf message io.cloudevents.v1.CloudEvent.
// - id, source, specversion, type: the message's own fields.
// - datacontenttype, dataschema, subject, time and extensions: in `attributes`; time as
//   ce_timestamp, dataschema as ce_uri, the rest as ce_string, ce_integer or ce_boolean
//   (extensions keep their JSON type). Events built in code may also give extensions the kinds
//   ce_uri, ce_uri_ref, ce_timestamp and ce_bytes.
// - data: JSON data (datacontenttype absent, application/json or */*+json) is kept as its
//   minified JSON text in text_data (a JSON string keeps its quotes: "\"Hello\""); any other
//   string data as text_data verbatim (non-string data under a non-JSON type as minified JSON
//   text); data_base64 as binary_data. protobuf data (proto_data) is refused.
// - time is written back in UTC with "Z" (annals/base/time_format.h: the fraction only when
//   nanos != 0, trailing zeros trimmed), whatever offset it arrived with.
//
// Thread-safety: all functions are thread-safe (no shared state).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/v1/cloudevents.pb.h"

namespace annals::eventstore {

using CloudEvent = io::cloudevents::v1::CloudEvent;
using CloudEventAttributeValue = io::cloudevents::v1::CloudEvent_CloudEventAttributeValue;

// Why an event was refused: the attribute (CloudEvents name, "data", or for a domain event a
// data field as "data.peer_id") and a sentence saying what is wrong.
struct InvalidAttribute {
  std::string attribute;
  std::string reason;
};

// Checks an event against CloudEvents 1.0.2 and the limits of limits.h: required attributes
// present and non-empty; specversion "1.0"; source a URI-reference; dataschema an absolute URI;
// datacontenttype an RFC 2046 media type; subject non-empty; time a valid ce_timestamp;
// extension names lower-case a-z0-9 and not reserved (names starting "annals" are the ledger's
// own, see docs); context attributes of their own kind (datacontenttype and subject ce_string,
// dataschema ce_uri, time ce_timestamp); sizes within limits; every string valid UTF-8 and,
// for String attributes, free of control characters and noncharacters (1.0.2 "Type System");
// text data under a JSON content type valid JSON; no protobuf data and no unknown protobuf
// fields (attribute "event": JSON could not carry them); and for a type of the domain event
// catalog (docs/events.md, annals/schemas/event_data.h), JSON data that fits its type's schema
// (the attribute is then the field, such as "data.relation"). Returns nullopt when valid.
std::optional<InvalidAttribute> ValidateCloudEvent(const CloudEvent& event);

// True when `datacontenttype` (may be empty: absent) says the data is JSON.
bool IsJsonContentType(std::string_view datacontenttype);

// Why `text` is not one complete JSON value (simdjson's message), or nullopt when it is.
std::optional<std::string> JsonSyntaxError(std::string_view text);
// `json` without insignificant whitespace: how JSON data is stored. REQUIRES: `json` is valid
// JSON text (JsonSyntaxError gives nullopt).
std::string MinifyJson(std::string_view json);

// The canonical bytes of an event: its deterministic protobuf serialization (attributes sorted
// by name). Equal events have equal bytes; content_digest = SHA-256 of these bytes.
std::string CanonicalBytes(const CloudEvent& event);
std::string ContentDigest(const CloudEvent& event);

// The reserved extension attributes that carry ledger fields through JSON lines (export and
// import): stream, explicit idempotency key, origin. They are removed from the event before it
// is appended; an event may not carry them otherwise.
inline constexpr std::string_view kStreamExtension = "annalsstream";
inline constexpr std::string_view kKeyExtension = "annalskey";
inline constexpr std::string_view kOriginExtension = "annalsorigin";

// One structured-mode event parsed from JSON, with the ledger fields found in its reserved
// extensions (empty when absent).
struct ParsedEvent {
  CloudEvent event;
  std::string stream;
  std::string idempotency_key;
  std::string origin;
};

// Parses one JSON object in the CloudEvents JSON event format and validates it
// (ValidateCloudEvent). The input must be valid UTF-8 JSON; any error names the attribute
// ("json" for a syntax error, with the byte offset when known). A member may appear once; a
// null member counts as absent; extensions must be strings, booleans or integers within 32
// bits. The whole input is checked: anything after the object is an error.
struct ParseCloudEventResult {
  std::optional<ParsedEvent> parsed;
  InvalidAttribute error;  // set when !parsed
};
ParseCloudEventResult ParseCloudEventJson(std::string_view json);

// Parses a JSON array of events (application/cloudevents-batch+json), at most kBatchEventsMax.
// On the first bad event, returns its index and error and nothing else (a syntax error after
// the last event has the index events.size()).
struct ParseBatchResult {
  std::vector<ParsedEvent> events;
  bool ok = false;
  size_t bad_index = 0;
  InvalidAttribute error;
};
ParseBatchResult ParseCloudEventBatchJson(std::string_view json);

// The event as a JSON object in the CloudEvents JSON event format (compact, one line):
// specversion, id, source, type, the reserved extensions, the attributes in name order, then
// data or data_base64. When `ledger` is given, its non-empty fields are added as the reserved
// extensions above, so that ParseCloudEventJson gives the same event and ledger fields back.
// Extension values of kind ce_uri, ce_uri_ref, ce_timestamp and ce_bytes (which JSON cannot
// tell apart) are written as strings and read back as ce_string: only events of the JSON
// shape (every event ParseCloudEventJson returns) give back equal canonical bytes.
// REQUIRES: ValidateCloudEvent(event) passes (an invalid event may assert).
struct LedgerExtensions {
  std::string_view stream;
  std::string_view idempotency_key;
  std::string_view origin;
};
std::string CloudEventToJson(const CloudEvent& event, const LedgerExtensions* ledger = nullptr);

// Writes the event's attributes and data as members of the object `out` has open: for readers
// that put ledger members (position, hash, ...) beside the event in one object.
void WriteCloudEventMembers(const CloudEvent& event, JsonWriter* out);

}  // namespace annals::eventstore
