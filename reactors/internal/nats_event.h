// How annals' events travel over NATS JetStream (docs/replication.md is the reference).
//
// Names: a registry named `a-1` publishes to stream ANNALS_A-1 (the name in upper case), on
// subjects `annals.a-1.<type>`; each dot-separated token of the type is kept, characters other
// than [A-Za-z0-9_-] become '_' and an empty token "_" (the subject only routes; the event
// carries its type).
//
// A published message (EncodeForNats): structured mode, the CloudEvent in the JSON event format
// with the ledger's export extensions (annalsstream when the stream is not the subject,
// annalskey when the key is not "<source> <id>"), headers
//   Content-Type: application/cloudevents+json
//   Nats-Msg-Id: <idempotency key>        (JetStream dedup; the consumer's key)
//   Annals-Position: <position in the publishing ledger>
//
// A received message (DecodeFromNats) may be structured (Content-Type
// application/cloudevents+json) or binary (a ce-specversion header; ce- header names matched
// case-insensitively; eventstore/content_mode.h). The idempotency key is Nats-Msg-Id, else the
// event's own (annalskey, else "<source> <id>"); an annalskey that differs from Nats-Msg-Id, an
// annalsorigin other than the peer, or anything not a valid CloudEvent is malformed.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/eventstore/append.h"
#include "annals/eventstore/record.h"

namespace annals::reactors::internal {

inline constexpr char kMsgIdHeader[] = "Nats-Msg-Id";
inline constexpr char kPositionHeader[] = "Annals-Position";
inline constexpr char kContentTypeHeader[] = "Content-Type";

// True for names replication can carry: 1 to kRegistryNameBytesMax bytes of [a-z0-9_-],
// starting with a letter or a digit.
bool IsReplicableRegistryName(std::string_view name);
std::string StreamName(std::string_view registry);
// "annals.<registry>.>": every subject of the registry's stream.
std::string StreamSubjects(std::string_view registry);
std::string Subject(std::string_view registry, std::string_view type);

struct OutgoingMessage {
  std::string subject;
  std::string payload;
  std::string msg_id;
  uint64_t position = 0;
};
OutgoingMessage EncodeForNats(const eventstore::Record& record, std::string_view registry);

// A message's headers as (name, value) pairs, names as they arrived.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct DecodedMessage {
  std::optional<eventstore::ProposedEvent> event;  // origin = the peer
  std::string error;                               // set when !event: why it is malformed
  uint64_t peer_position = 0;                      // Annals-Position, 0 when absent
};
DecodedMessage DecodeFromNats(const Headers& headers, std::string payload, std::string_view peer);

}  // namespace annals::reactors::internal
