#include "annals/eventstore/record_json.h"

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/time_format.h"
#include "annals/eventstore/cloudevent.h"

namespace annals::eventstore {

std::string RecordToJson(const Record& record) {
  JsonWriter w;
  w.BeginObject();
  WriteCloudEventMembers(record.event(), &w);
  w.Member("position", uint64_t{record.position()});
  if (!record.stream().empty()) {
    w.Member("stream", record.stream());
    w.Member("revision", uint64_t{record.revision()});
  }
  w.Member("recorded_at", FormatRfc3339Nanos(record.recorded_at_ns()));
  w.Member("hash", ToHex(record.hash()));
  w.Member("idempotency_key", record.idempotency_key());
  w.Member("origin", record.origin());
  w.EndObject();
  return w.Release();
}

std::string RecordToExportJson(const Record& record, std::string_view local_registry) {
  const CloudEvent& event = record.event();
  std::string_view subject;
  if (auto it = event.attributes().find("subject"); it != event.attributes().end()) {
    subject = it->second.ce_string();
  }
  LedgerExtensions ext;
  if (record.stream() != subject) ext.stream = record.stream();
  if (record.idempotency_key() != event.source() + " " + event.id()) {
    ext.idempotency_key = record.idempotency_key();
  }
  if (record.origin() != local_registry) ext.origin = record.origin();
  return CloudEventToJson(event, &ext);
}

}  // namespace annals::eventstore
