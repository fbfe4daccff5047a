#include "internal/cloudevents_http.h"

#include <fmt/format.h>

#include "annals/eventstore/content_mode.h"
#include "annals/eventstore/limits.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

BindingError Invalid(std::string attribute, std::string detail) {
  return {ProblemKind::kInvalidEvent, std::move(attribute), std::move(detail), std::nullopt};
}

BindingError Unsupported(std::string detail) {
  return {ProblemKind::kUnsupportedMediaType, "", std::move(detail), std::nullopt};
}

std::optional<BindingError> DecodeBinary(Request* request, es::ParsedEvent* out) {
  std::vector<es::AttributeHeader> attributes;
  for (const Header& header : request->headers) {
    if (!header.name.starts_with(es::kAttributeHeaderPrefix)) continue;
    std::string name = header.name.substr(es::kAttributeHeaderPrefix.size());
    if (request->header_count(header.name) > 1) {
      return Invalid(name, fmt::format("the header {} appears more than once", header.name));
    }
    attributes.push_back({std::move(name), header.value});
  }
  const std::string* content_type = request->header("content-type");
  es::ParseCloudEventResult decoded = es::DecodeBinaryModeEvent(
      attributes, content_type ? std::optional<std::string_view>(*content_type) : std::nullopt,
      std::move(request->body));
  if (!decoded.parsed) return Invalid(decoded.error.attribute, decoded.error.reason);
  *out = std::move(*decoded.parsed);
  return std::nullopt;
}

DecodedEvents Failed(ContentMode mode, BindingError error) {
  DecodedEvents decoded;
  decoded.mode = mode;
  decoded.error = std::move(error);
  return decoded;
}

}  // namespace

DecodedEvents DecodeEvents(Request* request) {
  const std::string* content_type = request->header("content-type");
  const std::string essence = content_type ? es::MediaTypeEssence(*content_type) : "";
  const bool structured = essence == kStructuredMediaType;
  const bool batch = essence == kBatchMediaType;
  const ContentMode mode =
      structured ? ContentMode::kStructured : batch ? ContentMode::kBatch : ContentMode::kBinary;
  if (structured || batch) {
    const std::string charset = es::MediaTypeCharset(*content_type);
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
