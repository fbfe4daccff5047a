// What a writer hands the ledger, and what the ledger answers. The append contract of
// DESIGN.md: each proposed event gets exactly one AppendOutcome, given only once its fate is
// durable (or it was refused, which writes nothing).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/eventstore/cloudevent.h"

namespace annals::eventstore {

// The result code of one event. Stored and sent (CLI, HTTP, metrics): the numbers are fixed and a
// retired number is never reused.
enum class AppendCode : uint8_t {
  kAppended = 1,       // new event written: position, revision, hash
  kDuplicate = 2,      // same key, same content: nothing written; position/hash of the original
  kKeyReuse = 3,       // same key, other content: nothing written; position of the original
  kWrongRevision = 4,  // expected revision does not match: nothing written; actual revision
  kInvalidEvent = 5,   // the event breaks CloudEvents or a domain schema: nothing written
  kTooLarge = 6,       // over kEventBytesMax (or the batch over kBatchBytesMax / kBatchEventsMax)
  kUnavailable = 7,    // storage failing, overloaded or closing: not acknowledged (see below)
  kBatchAborted = 8,   // not written because another event of its atomic batch was refused
};

// "appended", "duplicate", "key_reuse", "wrong_revision", "invalid", "too_large", "unavailable",
// "batch_aborted": the names used in JSON output.
std::string_view AppendCodeName(AppendCode code);

// True for the outcomes a writer may treat as success: the event is in the ledger.
inline bool IsRecorded(AppendCode code) {
  return code == AppendCode::kAppended || code == AppendCode::kDuplicate;
}

// The optimistic-concurrency check of a stream, made against the stream's state just before
// the event (after the earlier events of its own batch).
struct ExpectedRevision {
  enum class Kind : uint8_t {
    kAny = 0,           // no check
    kNoStream = 1,      // the stream must have no event yet
    kStreamExists = 2,  // the stream must have at least one event
    kExact = 3,         // the stream's last revision must be `revision`
  };
  Kind kind = Kind::kAny;
  uint64_t revision = 0;  // with kExact

  static ExpectedRevision Any() { return {}; }
  static ExpectedRevision NoStream() { return {Kind::kNoStream, 0}; }
  static ExpectedRevision StreamExists() { return {Kind::kStreamExists, 0}; }
  static ExpectedRevision Exact(uint64_t r) { return {Kind::kExact, r}; }
};

// The written form of an expected revision, as the CLI and the `Expected-Revision` header take
// it: "any", "no_stream", "exists", or a stream revision in decimal. nullopt for anything else.
std::optional<ExpectedRevision> ParseExpectedRevision(std::string_view text);

// One event a writer proposes.
struct ProposedEvent {
  CloudEvent event;
  // The stream; empty: the event's `subject`, else no stream (only in $all). Names: 1 to
  // kStreamBytesMax bytes of UTF-8 without control characters, not starting with '$'.
  std::string stream;
  // The idempotency key; empty: "<source> <id>" (a space cannot occur in a URI-reference, so
  // the derived form is unambiguous).
  std::string idempotency_key;
  // The registry that first recorded it; empty: this ledger's registry name.
  std::string origin;
  ExpectedRevision expected;
};

// The answer for one proposed event.
//
// kUnavailable means "not acknowledged": the event was not written, or (when the storage failed
// between the write and its sync) may become durable later. Retrying with the same idempotency
// key is always safe and tells which: a Duplicate then means it was recorded.
struct AppendOutcome {
  AppendCode code = AppendCode::kUnavailable;
  uint64_t position = 0;  // kAppended: the new position; kDuplicate/kKeyReuse: the original's
  uint64_t revision = 0;  // kAppended/kDuplicate with a stream: the revision in the stream
  std::string stream;     // kAppended/kDuplicate: the stream ("" when none)
  std::string hash;       // kAppended/kDuplicate: the record's 32-byte hash
  // kWrongRevision: the stream's actual last revision, or nullopt when it has no event.
  std::optional<uint64_t> actual_revision;
  // kInvalidEvent/kTooLarge/kUnavailable/kBatchAborted: what was wrong.
  InvalidAttribute error;

  bool recorded() const { return IsRecorded(code); }
};

}  // namespace annals::eventstore
