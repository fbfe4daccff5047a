#include "internal/nats_event.h"

#include <fmt/format.h>

#include <algorithm>

#include "annals/base/coding.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/eventstore/content_mode.h"
#include "annals/eventstore/record_json.h"
#include "annals/reactors/limits.h"

namespace annals::reactors::internal {
namespace es = annals::eventstore;

namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return out;
}

const std::string* FindHeader(const Headers& headers, std::string_view lower_name) {
  for (const auto& [name, value] : headers) {
    if (Lower(name) == lower_name) return &value;
  }
  return nullptr;
}

DecodedMessage Malformed(std::string error) {
  DecodedMessage decoded;
  decoded.error = std::move(error);
  return decoded;
}

}  // namespace

bool IsReplicableRegistryName(std::string_view name) {
  if (name.empty() || name.size() > kRegistryNameBytesMax || name[0] == '-' || name[0] == '_') {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::string StreamName(std::string_view registry) {
  std::string name = "ANNALS_";
  for (char c : registry) name.push_back((c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c);
  return name;
}

std::string StreamSubjects(std::string_view registry) {
  return fmt::format("annals.{}.>", registry);
}

std::string Subject(std::string_view registry, std::string_view type) {
  std::string subject = fmt::format("annals.{}.", registry);
  bool token_empty = true;
  for (char c : type) {
    if (c == '.') {
      if (token_empty) subject.push_back('_');
      subject.push_back('.');
      token_empty = true;
      continue;
    }
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_';
    subject.push_back(plain ? c : '_');
    token_empty = false;
  }
  if (token_empty) subject.push_back('_');
  return subject;
}

OutgoingMessage EncodeForNats(const es::Record& record, std::string_view registry) {
  OutgoingMessage message;
  message.subject = Subject(registry, record.event().type());
  message.payload = es::RecordToExportJson(record, registry);
  message.msg_id = record.idempotency_key();
  message.position = record.position();
  return message;
}

DecodedMessage DecodeFromNats(const Headers& headers, std::string payload, std::string_view peer) {
  if (payload.size() > kMessageBytesMax) {
    return Malformed(fmt::format("the message has {} bytes; at most {} are read", payload.size(),
                                 kMessageBytesMax));
  }
  const std::string* content_type = FindHeader(headers, "content-type");
  const std::string essence = content_type ? es::MediaTypeEssence(*content_type) : "";
  es::ParseCloudEventResult parsed;
  if (essence == es::kStructuredMediaType) {
    const std::string charset = es::MediaTypeCharset(*content_type);
    if (!charset.empty() && charset != "utf-8") {
      return Malformed(fmt::format("{} is UTF-8 JSON; charset {} is not read", essence, charset));
    }
    parsed = es::ParseCloudEventJson(payload);
  } else if (FindHeader(headers, "ce-specversion") != nullptr) {
    std::vector<es::AttributeHeader> attributes;
    for (const auto& [name, value] : headers) {
      std::string lower = Lower(name);
      if (!lower.starts_with(es::kAttributeHeaderPrefix)) continue;
      lower.erase(0, es::kAttributeHeaderPrefix.size());
      for (const es::AttributeHeader& seen : attributes) {
        if (seen.name == lower) return Malformed("the header ce-" + lower + " appears twice");
      }
      attributes.push_back({std::move(lower), value});
    }
    parsed = es::DecodeBinaryModeEvent(
        attributes, content_type ? std::optional<std::string_view>(*content_type) : std::nullopt,
        std::move(payload));
  } else {
    return Malformed(fmt::format("not a CloudEvent: Content-Type {} or ce- headers expected",
                                 es::kStructuredMediaType));
  }
  if (!parsed.parsed) {
    return Malformed(fmt::format("invalid event: {}: {}", parsed.error.attribute,
                                 parsed.error.reason));
  }
  es::ParsedEvent& event = *parsed.parsed;
  if (!event.origin.empty() && event.origin != peer) {
    return Malformed(fmt::format("the event's origin is {}; a peer publishes only its own ({})",
                                 event.origin, peer));
  }
  std::string key = event.idempotency_key;
  if (const std::string* msg_id = FindHeader(headers, "nats-msg-id")) {
    if (!key.empty() && key != *msg_id) {
      return Malformed("annalskey and Nats-Msg-Id differ: one event has one key");
    }
    key = *msg_id;
  }
  DecodedMessage decoded;
  if (const std::string* position = FindHeader(headers, "annals-position")) {
    const std::optional<uint64_t> parsed = ParseDecimal(*position);
    if (!parsed) {
      return Malformed("Annals-Position must be a decimal position, not \"" + *position + "\"");
    }
    decoded.peer_position = *parsed;
  }
  es::ProposedEvent proposed;
  proposed.event = std::move(event.event);
  proposed.stream = std::move(event.stream);
  proposed.idempotency_key = std::move(key);
  proposed.origin = std::string(peer);
  decoded.event = std::move(proposed);
  return decoded;
}

}  // namespace annals::reactors::internal
