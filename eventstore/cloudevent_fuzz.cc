// Fuzz target (libFuzzer): whatever bytes arrive, ParseCloudEventJson returns a value (no crash,
// no sanitizer report), and every event it accepts survives the round trip through
// CloudEventToJson: the same canonical bytes and ledger fields come back, and writing the
// event again gives the same text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "annals/base/assert.h"
#include "annals/eventstore/cloudevent.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace annals::eventstore;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ParseCloudEventResult first = ParseCloudEventJson(input);
  if (!first.parsed) {
    ANNALS_ASSERT(!first.error.reason.empty());  // the attribute may be "" (a member named "")
    return 0;
  }
  const ParsedEvent& parsed = *first.parsed;
  ANNALS_ASSERT(!ValidateCloudEvent(parsed.event).has_value());

  const LedgerExtensions ledger{parsed.stream, parsed.idempotency_key, parsed.origin};
  const std::string json = CloudEventToJson(parsed.event, &ledger);
  const ParseCloudEventResult second = ParseCloudEventJson(json);
  ANNALS_ASSERT_MSG(second.parsed.has_value(), "the written event does not parse back");
  ANNALS_ASSERT(CanonicalBytes(second.parsed->event) == CanonicalBytes(parsed.event));
  ANNALS_ASSERT(second.parsed->stream == parsed.stream);
  ANNALS_ASSERT(second.parsed->idempotency_key == parsed.idempotency_key);
  ANNALS_ASSERT(second.parsed->origin == parsed.origin);
  ANNALS_ASSERT(CloudEventToJson(second.parsed->event, &ledger) == json);

  // The same event as a one-element batch parses the same way.
  const ParseBatchResult batch = ParseCloudEventBatchJson("[" + json + "]");
  ANNALS_ASSERT(batch.ok && batch.events.size() == 1);
  ANNALS_ASSERT(CanonicalBytes(batch.events[0].event) == CanonicalBytes(parsed.event));
  return 0;
}
