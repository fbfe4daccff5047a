// JSON forms of a stored record, shared by annalsctl and the gateway.
//
// Audit form (RecordToJson): the CloudEvent's members plus the ledger's, in one object:
//   {"specversion":..., "id":..., ..., "data":...,
//    "position":7, "stream":"agent-1", "revision":2, "recorded_at":"2026-...Z",
//    "hash":"<hex>", "idempotency_key":"...", "origin":"local"}
// `stream` and `revision` are omitted for an event in no stream.
//
// Export form (RecordToExportJson): a plain CloudEvent (JSON event format), plus the reserved
// extensions of cloudevent.h only where the ledger cannot derive the field again on import:
// annalsstream when the stream is not the subject, annalskey when the key is not
// "<source> <id>", annalsorigin when the origin is not `local_registry`.
#pragma once

#include <string>
#include <string_view>

#include "annals/eventstore/record.h"

namespace annals::eventstore {

std::string RecordToJson(const Record& record);
std::string RecordToExportJson(const Record& record, std::string_view local_registry);

}  // namespace annals::eventstore
