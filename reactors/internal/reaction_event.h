// The CloudEvent a reactor emits for a cause (reactor.h): source /annals/reactors/<reactor>, id
// <reactor>-<cause position>, JSON data, and a `time` fixed by the cause (by default the
// ledger's time of it), so a replay proposes the same event under the same key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "annals/eventstore/append.h"
#include "annals/eventstore/record.h"

namespace annals::reactors::internal {

inline eventstore::ProposedEvent ReactionEvent(std::string_view reactor, std::string_view type,
                                               uint64_t cause_position, const std::string& subject,
                                               std::string data, int64_t time_ns) {
  eventstore::ProposedEvent proposed;
  eventstore::CloudEvent& event = proposed.event;
  event.set_id(std::string(reactor) + "-" + std::to_string(cause_position));
  event.set_source("/annals/reactors/" + std::string(reactor));
  event.set_spec_version("1.0");
  event.set_type(std::string(type));
  auto& attributes = *event.mutable_attributes();
  attributes["subject"].set_ce_string(subject);
  attributes["datacontenttype"].set_ce_string("application/json");
  auto* time = attributes["time"].mutable_ce_timestamp();
  time->set_seconds(time_ns / 1'000'000'000);
  time->set_nanos(static_cast<int32_t>(time_ns % 1'000'000'000));
  event.set_text_data(std::move(data));
  return proposed;
}

// The same, at the ledger's time of the cause.
inline eventstore::ProposedEvent ReactionEvent(std::string_view reactor, std::string_view type,
                                               const eventstore::Record& cause,
                                               const std::string& subject, std::string data) {
  return ReactionEvent(reactor, type, cause.position(), subject, std::move(data),
                       cause.recorded_at_ns());
}

}  // namespace annals::reactors::internal
