#include "annals/eventstore/content_mode.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

#include "annals/base/percent_encoding.h"
#include "annals/base/time_format.h"

namespace annals::eventstore {
namespace {

char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view TrimSpaces(std::string_view s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") + 1 - first);
}

// Text media types: their bodies are kept as text when they are valid UTF-8.
bool IsTextMediaType(std::string_view essence) {
  return essence.starts_with("text/") || essence == "application/xml" ||
         essence.ends_with("+xml") || essence == "application/javascript" ||
         essence == "application/x-www-form-urlencoded" || essence == "application/yaml";
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

// The binary-mode body as the event's data (content_mode.h).
std::optional<InvalidAttribute> SetData(std::string body, std::string_view content_type,
                                    CloudEvent* event) {
  if (body.empty()) return std::nullopt;
  const std::string essence = MediaTypeEssence(content_type);
  if (essence.empty()) {
    if (JsonSyntaxError(body)) {
      event->set_binary_data(std::move(body));
    } else {
      event->set_text_data(MinifyJson(body));
    }
    return std::nullopt;
  }
  if (IsJsonContentType(essence)) {
    if (auto error = JsonSyntaxError(body)) {
      return InvalidAttribute{"data", fmt::format("the body must be JSON text because Content-Type is {}: "
                                         "{}", essence, *error)};
    }
    event->set_text_data(MinifyJson(body));
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
std::optional<InvalidAttribute> SetAttribute(const std::string& name, std::string value,
                                         CloudEvent* event) {
  if (name == "specversion") {
    event->set_spec_version(std::move(value));
  } else if (name == "id") {
    event->set_id(std::move(value));
  } else if (name == "source") {
    event->set_source(std::move(value));
  } else if (name == "type") {
    event->set_type(std::move(value));
  } else if (name == "datacontenttype") {
    return InvalidAttribute{name, "in binary mode datacontenttype is the Content-Type header; "
                                  "a ce-datacontenttype header must not be sent"};
  } else if (name == "time") {
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (auto reason = ParseRfc3339(value, &seconds, &nanos)) return InvalidAttribute{name, "time " + *reason};
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

}  // namespace

std::string MediaTypeEssence(std::string_view content_type) {
  std::string essence(TrimSpaces(content_type.substr(0, content_type.find(';'))));
  std::transform(essence.begin(), essence.end(), essence.begin(), AsciiLower);
  return essence;
}

std::optional<std::string> DecodeAttributeHeaderValue(std::string_view value) {
  std::optional<std::string> unquoted = Unquote(value);
  auto decoded = PercentDecode(unquoted ? std::string_view(*unquoted) : value, false);
  if (!decoded || !simdjson::validate_utf8(decoded->data(), decoded->size())) return std::nullopt;
  return decoded;
}

std::string MediaTypeCharset(std::string_view content_type) {
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

ParseCloudEventResult DecodeBinaryModeEvent(const std::vector<AttributeHeader>& attributes,
                                            std::optional<std::string_view> content_type,
                                            std::string body) {
  ParseCloudEventResult result;
  ParsedEvent parsed;
  CloudEvent& event = parsed.event;
  for (const AttributeHeader& header : attributes) {
    auto value = DecodeAttributeHeaderValue(header.value);
    if (!value) {
      result.error = {header.name,
                      fmt::format("the header {}{} must be percent-encoded UTF-8 (CloudEvents "
                                  "HTTP binding, 3.1.3.2)",
                                  kAttributeHeaderPrefix, header.name)};
      return result;
    }
    if (auto error = SetAttribute(header.name, std::move(*value), &event)) {
      result.error = std::move(*error);
      return result;
    }
  }
  if (content_type) {
    (*event.mutable_attributes())["datacontenttype"].set_ce_string(std::string(*content_type));
  }
  if (auto error = SetData(std::move(body), content_type.value_or(""), &event)) {
    result.error = std::move(*error);
    return result;
  }
  if (auto invalid = ValidateCloudEvent(event)) {
    result.error = std::move(*invalid);
    return result;
  }
  result.parsed = std::move(parsed);
  return result;
}

}  // namespace annals::eventstore
