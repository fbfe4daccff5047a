#include "internal/cloudevents_http.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

#include "annals/base/assert.h"
#include "annals/base/time_format.h"
#include "annals/eventstore/limits.h"
#include "internal/uri.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

constexpr std::string_view kAttributeHeaderPrefix = "ce-";

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view TrimSpaces(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") + 1 - first);
}

// The value of the `charset` parameter of a Content-Type, lower case ("" when absent).
std::string CharsetOf(std::string_view content_type) {
  size_t semicolon = content_type.find(';');
  while (semicolon != std::string_view::npos) {
    content_type.remove_prefix(semicolon + 1);
    semicolon = content_type.find(';');
    std::string_view parameter = TrimSpaces(content_type.substr(0, semicolon));
    const size_t eq = parameter.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(TrimSpaces(parameter.substr(0, eq)));
    std::transform(name.begin(), name.end(), name.begin(), AsciiLower);
    if (name != "charset") continue;
    std::string_view value = TrimSpaces(parameter.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    std::string lower(value);
    std::transform(lower.begin(), lower.end(), lower.begin(), AsciiLower);
    return lower;
  }
  return "";
}

// Text media types: their bodies are kept as text when they are valid UTF-8.
bool IsTextMediaType(std::string_view essence) {
  return essence.starts_with("text/") || essence == "application/xml" ||
         essence.ends_with("+xml") || essence == "application/javascript" ||
         essence == "application/x-www-form-urlencoded" || essence == "application/yaml";
}

BindingError Invalid(std::string attribute, std::string detail) {
  return {ProblemKind::kInvalidEvent, std::move(attribute), std::move(detail), std::nullopt};
}

BindingError Unsupported(std::string detail) {
  return {ProblemKind::kUnsupportedMediaType, "", std::move(detail), std::nullopt};
}

// RFC 9110 quoted-string: DQUOTE *( qdtext / quoted-pair ) DQUOTE. Returns the unquoted
// content, or nullopt when `value` is not exactly one quoted-string.
std::optional<std::string> Unquote(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::nullopt;
  std::string out;
  for (size_t i = 1; i + 1 < value.size(); ++i) {
    char c = value[i];
    if (c == '"') return std::nullopt;
    if (c == '\\') {
      if (i + 2 >= value.size()) return std::nullopt;
      c = value[++i];
    }
    out.push_back(c);
  }
  return out;
}

// The binary-mode body as the event's data (cloudevents_http.h).
std::optional<BindingError> SetData(std::string body, std::string_view content_type,
                                    es::CloudEvent* event) {
  if (body.empty()) return std::nullopt;
  const std::string essence = MediaTypeEssence(content_type);
  if (essence.empty()) {
    if (es::JsonSyntaxError(body)) {
      event->set_binary_data(std::move(body));
    } else {
      event->set_text_data(es::MinifyJson(body));
    }
    return std::nullopt;
  }
  if (es::IsJsonContentType(essence)) {
    if (auto error = es::JsonSyntaxError(body)) {
      return Invalid("data", fmt::format("the body must be JSON text because Content-Type is {}: "
                                         "{}", essence, *error));
    }
    event->set_text_data(es::MinifyJson(body));
    return std::nullopt;
  }
  if (IsTextMediaType(essence) && simdjson::validate_utf8(body.data(), body.size())) {
    event->set_text_data(std::move(body));
  } else {
    event->set_binary_data(std::move(body));
  }
  return std::nullopt;
}

// Puts one decoded ce- header into the event.
std::optional<BindingError> SetAttribute(const std::string& name, std::string value,
                                         es::CloudEvent* event) {
  if (name == "specversion") {
    event->set_spec_version(std::move(value));
  } else if (name == "id") {
    event->set_id(std::move(value));
  } else if (name == "source") {
    event->set_source(std::move(value));
  } else if (name == "type") {
    event->set_type(std::move(value));
  } else if (name == "datacontenttype") {
    return Invalid(name, "in binary mode datacontenttype is the Content-Type header; a "
                         "ce-datacontenttype header must not be sent");
  } else if (name == "time") {
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (auto reason = ParseRfc3339(value, &seconds, &nanos)) return Invalid(name, "time " + *reason);
    auto* time = (*event->mutable_attributes())[name].mutable_ce_timestamp();
    time->set_seconds(seconds);
    time->set_nanos(nanos);
  } else if (name == "dataschema") {
    (*event->mutable_attributes())[name].set_ce_uri(std::move(value));
  } else {
    (*event->mutable_attributes())[name].set_ce_string(std::move(value));
  }
  return std::nullopt;
}

std::optional<BindingError> DecodeBinary(Request* request, es::ParsedEvent* out) {
  es::CloudEvent& event = out->event;
  for (const Header& header : request->headers) {
    if (!header.name.starts_with(kAttributeHeaderPrefix)) continue;
    const std::string name = header.name.substr(kAttributeHeaderPrefix.size());
    if (request->header_count(header.name) > 1) {
      return Invalid(name, fmt::format("the header {} appears more than once", header.name));
    }
    auto value = DecodeHeaderValue(header.value);
    if (!value) {
      return Invalid(name, fmt::format("the header {} must be percent-encoded UTF-8 (CloudEvents "
                                       "HTTP binding, 3.1.3.2)", header.name));
    }
    if (auto error = SetAttribute(name, std::move(*value), &event)) return error;
  }
  const std::string* content_type = request->header("content-type");
  if (content_type != nullptr) {
    (*event.mutable_attributes())["datacontenttype"].set_ce_string(*content_type);
  }
  if (auto error = SetData(std::move(request->body), content_type ? *content_type : "", &event)) {
    return error;
  }
  if (auto invalid = es::ValidateCloudEvent(event)) {
    return Invalid(invalid->attribute, invalid->reason);
  }
  return std::nullopt;
}

DecodedEvents Failed(ContentMode mode, BindingError error) {
  DecodedEvents decoded;
  decoded.mode = mode;
  decoded.error = std::move(error);
  return decoded;
}

}  // namespace

std::string MediaTypeEssence(std::string_view content_type) {
  std::string essence(TrimSpaces(content_type.substr(0, content_type.find(';'))));
  std::transform(essence.begin(), essence.end(), essence.begin(), AsciiLower);
  return essence;
}

std::optional<std::string> DecodeHeaderValue(std::string_view value) {
  std::optional<std::string> unquoted = Unquote(value);
  auto decoded = PercentDecode(unquoted ? std::string_view(*unquoted) : value, false);
  if (!decoded || !simdjson::validate_utf8(decoded->data(), decoded->size())) return std::nullopt;
  return decoded;
}

DecodedEvents DecodeEvents(Request* request) {
  const std::string* content_type = request->header("content-type");
  const std::string essence = content_type ? MediaTypeEssence(*content_type) : "";
  const bool structured = essence == kStructuredMediaType;
  const bool batch = essence == kBatchMediaType;
  const ContentMode mode =
      structured ? ContentMode::kStructured : batch ? ContentMode::kBatch : ContentMode::kBinary;
  if (structured || batch) {
    const std::string charset = CharsetOf(*content_type);
    if (!charset.empty() && charset != "utf-8") {
      return Failed(mode, Unsupported(fmt::format("{} is UTF-8 JSON; charset {} is not read",
                                                  essence, charset)));
    }
  } else if (essence.starts_with("application/cloudevents")) {
    return Failed(mode, Unsupported(fmt::format(
                            "{} is not an event format annals reads: use {} or {}", essence,
                            kStructuredMediaType, kBatchMediaType)));
  } else if (request->header("ce-specversion") == nullptr) {
    return Failed(mode, Unsupported(fmt::format(
                            "not a CloudEvent: send Content-Type {} or {}, or binary mode with "
                            "ce-specversion, ce-id, ce-source and ce-type headers",
                            kStructuredMediaType, kBatchMediaType)));
  }
  DecodedEvents decoded;
  decoded.mode = mode;
  if (structured) {
    es::ParseCloudEventResult parsed = es::ParseCloudEventJson(request->body);
    if (!parsed.parsed) return Failed(mode, Invalid(parsed.error.attribute, parsed.error.reason));
    decoded.events.push_back(std::move(*parsed.parsed));
  } else if (batch) {
    es::ParseBatchResult parsed = es::ParseCloudEventBatchJson(request->body);
    if (!parsed.ok) {
      BindingError error = Invalid(parsed.error.attribute, parsed.error.reason);
      error.index = parsed.bad_index;
      if (parsed.bad_index == es::kBatchEventsMax) error.kind = ProblemKind::kTooLarge;
      return Failed(mode, std::move(error));
    }
    decoded.events = std::move(parsed.events);
  } else {
    es::ParsedEvent event;
    if (auto error = DecodeBinary(request, &event)) return Failed(mode, std::move(*error));
    decoded.events.push_back(std::move(event));
  }
  request->body.clear();
  return decoded;
}

}  // namespace annals::gateway
