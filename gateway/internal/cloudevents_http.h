// The CloudEvents HTTP protocol binding (version 1.0.2), request side: which content mode a
// request uses, and the events it carries.
//
// - structured: Content-Type application/cloudevents+json; the body is one event in the JSON
//   event format (eventstore::ParseCloudEventJson).
// - batch: Content-Type application/cloudevents-batch+json; the body is a JSON array of events
//   (eventstore::ParseCloudEventBatchJson), appended atomically.
// - binary: any other Content-Type with a ce-specversion header. Each ce-<name> header is the
//   attribute <name> (header names are case-insensitive; attribute names are lower case). A
//   value that is one quoted-string is unquoted (RFC 9110), then every value gets one round of
//   percent-decoding and must be valid UTF-8. Content-Type is datacontenttype (a
//   ce-datacontenttype header is refused, as the binding requires). time is read as an RFC 3339
//   timestamp, dataschema as a URI, every other attribute as a String. The body is the data:
//     * empty: no data;
//     * JSON Content-Type (application/json, */*+json): JSON text, stored minified, as the JSON
//       event format stores it (so the same event sent in binary and structured mode has the
//       same content digest); a body that is not JSON is refused (attribute "data");
//     * no Content-Type: JSON when the body is JSON text, else bytes;
//     * a text Content-Type (text/*, application/xml, */*+xml, ...) and valid UTF-8: text;
//     * anything else: bytes (data_base64 in JSON).
//   The event is then checked by eventstore::ValidateCloudEvent.
// Anything else (another CloudEvents format, a charset other than UTF-8 for JSON formats, no
// ce-specversion in binary mode) is an unsupported media type.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/eventstore/cloudevent.h"
#include "internal/http.h"
#include "internal/problem.h"

namespace annals::gateway {

inline constexpr std::string_view kStructuredMediaType = "application/cloudevents+json";
inline constexpr std::string_view kBatchMediaType = "application/cloudevents-batch+json";

enum class ContentMode : uint8_t { kBinary, kStructured, kBatch };

// Why a request carries no acceptable events: the problem kind (kInvalidEvent,
// kUnsupportedMediaType or kTooLarge), the attribute for kInvalidEvent ("json" for a syntax
// error), a sentence, and in a batch the index of the bad event.
struct BindingError {
  ProblemKind kind = ProblemKind::kInvalidEvent;
  std::string attribute;
  std::string detail;
  std::optional<size_t> index;
};

struct DecodedEvents {
  ContentMode mode = ContentMode::kBinary;
  std::vector<eventstore::ParsedEvent> events;  // one, except in batch mode
  std::optional<BindingError> error;            // set: `events` is empty
};

// Decodes the events of an append request. Consumes request->body.
DecodedEvents DecodeEvents(Request* request);

// One HTTP header value as a CloudEvents attribute value (binary mode, above). nullopt when the
// percent-encoding is malformed or the result is not valid UTF-8.
std::optional<std::string> DecodeHeaderValue(std::string_view value);

// The media type of a Content-Type value, lower case, without parameters or spaces
// ("Application/JSON; charset=utf-8" -> "application/json").
std::string MediaTypeEssence(std::string_view content_type);

}  // namespace annals::gateway
