// Reading a record's event as a view needs it: what its type is to the view, its data as a JSON
// object, its fields, its time. Views call these on their fold thread with their own parser
// (simdjson's parser is not thread-safe and is reused across events to avoid allocations).
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/eventstore/record.h"

namespace annals::projections::internal {

// registry.agent.registered / card_updated / deprecated / removed: an agent's own history (of
// this registry, or of a peer by the record's origin).
bool IsAgentEvent(std::string_view type);

// What a view makes of an event type: a view classifies a record's type through a table of
// these (type names from annals/schemas/event_types.h).
template <typename Kind>
struct TypeKind {
  std::string_view type;
  Kind kind;
};

// The kind `table` gives `type`; `other` when the table does not name it.
template <typename Kind, size_t N>
constexpr Kind Classify(const TypeKind<Kind> (&table)[N], std::string_view type, Kind other) {
  for (const TypeKind<Kind>& entry : table) {
    if (entry.type == type) return entry.kind;
  }
  return other;
}

// The event's data as a JSON object; nullopt when it has no JSON object data. The object lives
// until the next call with the same parser.
std::optional<simdjson::dom::object> ParseData(simdjson::dom::parser& parser,
                                               const eventstore::Record& record);

// A member as a string: "" when absent or not a string.
std::string_view StringField(const simdjson::dom::object& object, std::string_view key);
// A member as an integer: `fallback` when absent or not an integer.
int64_t IntField(const simdjson::dom::object& object, std::string_view key, int64_t fallback);
// A member as an object or array; nullopt when absent or of another kind.
std::optional<simdjson::dom::object> ObjectField(const simdjson::dom::object& object,
                                                 std::string_view key);
std::optional<simdjson::dom::array> ArrayField(const simdjson::dom::object& object,
                                               std::string_view key);
// Minified JSON text of any element.
std::string ToJson(const simdjson::dom::element& element);

// When the event happened, as the views show it: the CloudEvent `time` attribute (RFC 3339,
// UTC), else the ledger's recorded_at. Deterministic for a given record.
std::string EventTime(const eventstore::Record& record);

}  // namespace annals::projections::internal
