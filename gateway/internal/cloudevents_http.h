// The CloudEvents HTTP protocol binding (version 1.0.2), request side: which content mode a
// request uses, and the events it carries.
//
// - structured: Content-Type application/cloudevents+json; the body is one event in the JSON
//   event format (eventstore::ParseCloudEventJson).
// - batch: Content-Type application/cloudevents-batch+json; the body is a JSON array of events
//   (eventstore::ParseCloudEventBatchJson), appended atomically.
// - binary: any other Content-Type with a ce-specversion header, read as
//   eventstore/content_mode.h says (ce- headers, percent-decoded; the body is the data); a
//   ce- header that appears twice is refused.
// Anything else (another CloudEvents format, a charset other than UTF-8 for JSON formats, no
// ce-specversion in binary mode) is an unsupported media type.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/eventstore/cloudevent.h"
#include "annals/eventstore/content_mode.h"
#include "internal/http.h"
#include "internal/problem.h"

namespace annals::gateway {

using eventstore::kBatchMediaType;
using eventstore::kStructuredMediaType;

enum class ContentMode : uint8_t { kBinary, kStructured, kBatch };

// Why a request carries no acceptable events: the problem kind (kInvalidEvent,
// kUnsupportedMediaType or kTooLarge), the attribute for kInvalidEvent ("json" for a syntax
// error), a sentence, and in a batch the index of the bad event.
struct BindingError {
  ProblemKind kind = ProblemKind::kInvalidEvent;
  std::string attribute;
  std::string detail;
  std::optional<size_t> index;
};

struct DecodedEvents {
  ContentMode mode = ContentMode::kBinary;
  std::vector<eventstore::ParsedEvent> events;  // one, except in batch mode
  std::optional<BindingError> error;            // set: `events` is empty
};

// Decodes the events of an append request. Consumes request->body.
DecodedEvents DecodeEvents(Request* request);

}  // namespace annals::gateway
