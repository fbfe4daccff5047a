// A recorded domain event as the reactors read it: its JSON `data` (EVENTS.md: an event of a
// catalogued type had its data checked against its schema at append), and whose it is.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/record.h"

namespace annals::reactors::internal {

// The record's data as a JSON object, parsed by `parser` (valid until its next parse).
// Corruption when it is not one: a catalogued type's data was checked at append.
inline Result<simdjson::dom::element> ParseData(simdjson::dom::parser& parser,
                                                const eventstore::Record& record) {
  simdjson::dom::element data;
  if (parser.parse(record.event().text_data()).get(data) != simdjson::SUCCESS ||
      !data.is_object()) {
    return Status::Corruption("position " + std::to_string(record.position()) +
                              ": the event's data is not a JSON object");
  }
  return data;
}

// The string member `name` of `data`; "" when absent or not a string.
inline std::string StringMember(const simdjson::dom::element& data, std::string_view name) {
  std::string_view value;
  if (data[name].get_string().get(value) != simdjson::SUCCESS) return "";
  return std::string(value);
}

// Whether `record` is this registry's own (recorded here, not replicated from a peer): the
// reactors act on their registry's own events only (EVENTS.md, "Whose events a view reads").
inline bool IsOwn(const eventstore::Ledger& ledger, const eventstore::Record& record) {
  return record.origin().empty() || record.origin() == ledger.registry_name();
}

}  // namespace annals::reactors::internal
