// The parts of the CloudEvents protocol bindings that HTTP (gateway) and NATS (replication)
// share: media types, and the binary content mode, where the attributes travel as `ce-<name>`
// headers and the message body is the data.
//
// Binary mode, as both bindings read it:
// - each `ce-<name>` header is the attribute <name> (header names are matched
//   case-insensitively by the caller and handed over in lower case, without the prefix);
// - a value that is one quoted-string is unquoted (RFC 9110), then every value gets one round
//   of percent-decoding and must be valid UTF-8;
// - Content-Type is datacontenttype (a ce-datacontenttype header is refused: the bindings say
//   the content type travels as Content-Type);
// - time is read as an RFC 3339 timestamp, dataschema as a URI, every other attribute as a
//   String;
// - the body is the data:
//     * empty: no data;
//     * JSON Content-Type (application/json, */*+json): JSON text, stored minified, as the JSON
//       event format stores it (so one event sent in binary and in structured mode has one
//       content digest); a body that is not JSON is refused (attribute "data");
//     * no Content-Type: JSON when the body is JSON text, else bytes;
//     * a text Content-Type (text/*, application/xml, */*+xml, ...) and valid UTF-8: text;
//     * anything else: bytes (data_base64 in JSON).
// The event is then checked by ValidateCloudEvent.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/eventstore/cloudevent.h"

namespace annals::eventstore {

inline constexpr std::string_view kStructuredMediaType = "application/cloudevents+json";
inline constexpr std::string_view kBatchMediaType = "application/cloudevents-batch+json";
// The prefix of binary mode's attribute headers (lower case).
inline constexpr std::string_view kAttributeHeaderPrefix = "ce-";

// The media type of a Content-Type value, lower case, without parameters or spaces
// ("Application/JSON; charset=utf-8" -> "application/json").
std::string MediaTypeEssence(std::string_view content_type);

// The value of the `charset` parameter of a Content-Type, lower case ("" when absent).
std::string MediaTypeCharset(std::string_view content_type);

// One attribute header value (binary mode, above). nullopt when the percent-encoding is
// malformed or the result is not valid UTF-8.
std::optional<std::string> DecodeAttributeHeaderValue(std::string_view value);

// One binary-mode attribute header: the attribute name (lower case, without "ce-") and the
// header's value as it arrived (still encoded).
struct AttributeHeader {
  std::string name;
  std::string_view value;
};

// Builds and validates the event of a binary-mode message. `content_type`: the Content-Type
// header, nullopt when absent. On error, the attribute and why (a header value that does not
// decode names its attribute; the reason names the header "ce-<name>").
ParseCloudEventResult DecodeBinaryModeEvent(const std::vector<AttributeHeader>& attributes,
                                            std::optional<std::string_view> content_type,
                                            std::string body);

}  // namespace annals::eventstore
