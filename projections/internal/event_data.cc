#include "internal/event_data.h"

#include "annals/base/time_format.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/schemas/event_types.h"

namespace annals::projections::internal {

bool IsAgentEvent(std::string_view type) {
  namespace types = schemas::event_types;
  return type == types::kAgentRegistered || type == types::kAgentCardUpdated ||
         type == types::kAgentDeprecated || type == types::kAgentRemoved;
}

std::optional<simdjson::dom::object> ParseData(simdjson::dom::parser& parser,
                                               const eventstore::Record& record) {
  const auto& event = record.event();
  if (event.data_case() != eventstore::CloudEvent::kTextData) return std::nullopt;
  auto ct = event.attributes().find("datacontenttype");
  std::string_view content_type;
  if (ct != event.attributes().end()) content_type = ct->second.ce_string();
  if (!eventstore::IsJsonContentType(content_type)) return std::nullopt;
  simdjson::dom::object object;
  if (parser.parse(event.text_data()).get_object().get(object) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return object;
}

std::string_view StringField(const simdjson::dom::object& object, std::string_view key) {
  std::string_view value;
  if (object[key].get_string().get(value) != simdjson::SUCCESS) return {};
  return value;
}

int64_t IntField(const simdjson::dom::object& object, std::string_view key, int64_t fallback) {
  int64_t value = 0;
  if (object[key].get_int64().get(value) != simdjson::SUCCESS) return fallback;
  return value;
}

std::optional<simdjson::dom::object> ObjectField(const simdjson::dom::object& object,
                                                 std::string_view key) {
  simdjson::dom::object value;
  if (object[key].get_object().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::optional<simdjson::dom::array> ArrayField(const simdjson::dom::object& object,
                                               std::string_view key) {
  simdjson::dom::array value;
  if (object[key].get_array().get(value) != simdjson::SUCCESS) return std::nullopt;
  return value;
}

std::string ToJson(const simdjson::dom::element& element) { return simdjson::minify(element); }

std::string EventTime(const eventstore::Record& record) {
  const auto& attributes = record.event().attributes();
  auto it = attributes.find("time");
  if (it != attributes.end() && it->second.has_ce_timestamp()) {
    return FormatRfc3339(it->second.ce_timestamp().seconds(), it->second.ce_timestamp().nanos());
  }
  return FormatRfc3339Nanos(record.recorded_at_ns());
}

}  // namespace annals::projections::internal
