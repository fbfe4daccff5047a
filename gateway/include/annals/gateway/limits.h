// Every limit of the HTTP gateway, named, with its default and how the limits relate. Each is a
// default of GatewayOptions (server.h) that annalsd can change (docs/annalsd.md); a limit hit is
// answered with a clear RFC 9457 problem (or, for a client too slow to send its request, by
// closing the connection), and nothing is written. docs/limits.md lists the eventstore's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "annals/eventstore/limits.h"
#include "annals/projections/limits.h"

namespace annals::gateway {

// One request body, bytes: a largest atomic batch (kBatchBytesMax of encoded events) sent as
// JSON needs more than its encoded size (member names, quotes, base64), so the default leaves
// room for the JSON around it. Over it: 413.
inline constexpr size_t kBodyBytesMaxDefault = eventstore::kBatchBytesMax + (8 << 20);
// The request line and headers together, bytes. Over it: 431.
inline constexpr uint32_t kHeaderBytesMaxDefault = 16 << 10;
// Open connections. One more is answered 503 and closed.
inline constexpr size_t kConnectionsMaxDefault = 10000;
// A keep-alive connection waiting for its next request is closed after this long.
inline constexpr uint32_t kIdleTimeoutMsDefault = 60000;
// A request's headers and body must arrive within this long from its first byte; writing a
// response gets as long. A slower client is disconnected.
inline constexpr uint32_t kRequestTimeoutMsDefault = 30000;
// Records in one page of an audit or stream read (`limit`); a request without `limit` gets
// kPageSizeDefault.
inline constexpr size_t kPageSizeMaxDefault = eventstore::kReadPageEventsMax;
inline constexpr size_t kPageSizeDefault = 100;
// The longest a `min_position` read waits for a view to reach the position.
inline constexpr uint32_t kMinPositionWaitMsMaxDefault = 5000;
// Stop(): how long in-flight requests get to finish before the server stops anyway.
inline constexpr uint32_t kStopDrainMsDefault = 30000;
// Threads for work that must not block an I/O thread (reads of many records, waits).
inline constexpr size_t kBlockingThreadsDefault = 4;
// A TLS connection must finish its handshake within this long from its accept; a client that
// is slower, never starts (a plain-HTTP client on the HTTPS port says nothing TLS can read), or
// stops half way is disconnected without an answer. Then the request timeouts apply.
inline constexpr uint32_t kTlsHandshakeTimeoutMsDefault = 10000;

// After an error answered before the request body was read (413, 431, 400), the server stops
// sending and reads and discards what the client still sends, at most this many bytes for at
// most this long, so that the client sees the answer instead of a reset connection.
inline constexpr size_t kLingerBytesMax = 64 << 20;
inline constexpr uint32_t kLingerMs = 2000;

// A path parameter or query value, bytes after decoding (a stream name, an event type).
inline constexpr size_t kParameterBytesMax = 4096;

// Admin token hashes (GatewayOptions::admin_token_sha256), at most: a token is compared with
// every one, in constant time. More: annalsd refuses to start.
inline constexpr size_t kAdminTokenHashesMax = 64;
// A federation request waits at most this long for the peers view to reach the ledger's head
// as it was when the request arrived (so a revocation acknowledged before it is seen); a view
// still behind then: 503, the request refused (internal/auth.h).
inline constexpr uint32_t kFederationAuthWaitMsMax = 5000;

// Server-Sent Events (GET /api/v1/events/live, routes_live.cc). Open event streams, at most; one
// more is answered 503. Below the connection limit, so that streams never take every
// connection from the other routes.
inline constexpr size_t kSseConnectionsMaxDefault = 8192;
// Bytes queued for one stream and not yet written to its client (the events the tail offered
// it). A client that reads too slowly to keep its queue under this is disconnected; it resumes
// with Last-Event-ID. A largest event (kEventBytesMax as base64 in its JSON record) must fit.
inline constexpr size_t kSseQueueBytesMaxDefault = 4 << 20;
// A stream with nothing written for this long gets a comment line ": ping", so that proxies
// do not close it as idle.
inline constexpr uint32_t kSseHeartbeatMsDefault = 15000;
// Records read at once by the tail thread, and by a stream replaying the history before it
// follows the tail (its next page is read once this one is written: flow control; a page keeps
// at most about sse_queue_bytes_max of it for the client, and reads the rest again).
inline constexpr size_t kSseReadPageEvents = 256;

// View answers kept rendered (internal/answer_cache.h): at most this many, of at most this many
// bytes in all. A store over either limit empties the cache first.
inline constexpr size_t kAnswerCacheEntriesMax = 4096;
inline constexpr size_t kAnswerCacheBytesMax = 64 << 20;
static_assert(kSseConnectionsMaxDefault < kConnectionsMaxDefault);
static_assert(kSseQueueBytesMaxDefault >= 2 * eventstore::kEventBytesMax,
              "a largest event fits a stream's queue");
static_assert(kSseReadPageEvents <= eventstore::kReadPageEventsMax, "a page is one read");

static_assert(kBodyBytesMaxDefault >= eventstore::kBatchBytesMax,
              "a largest batch must fit one request body");
static_assert(kPageSizeDefault >= 1 && kPageSizeDefault <= kPageSizeMaxDefault);
static_assert(kPageSizeMaxDefault <= eventstore::kReadPageEventsMax,
              "a page is one ledger read");
static_assert(kStopDrainMsDefault > eventstore::kEnqueueWaitMsMax,
              "an append waiting for room in the ledger's queue when Stop() begins is answered");
static_assert(kStopDrainMsDefault >= kRequestTimeoutMsDefault,
              "a request being read when Stop() begins may finish");
static_assert(kTlsHandshakeTimeoutMsDefault <= kIdleTimeoutMsDefault &&
                  kTlsHandshakeTimeoutMsDefault <= kRequestTimeoutMsDefault,
              "a connection that has sent no request yet is held no longer than an idle one");
static_assert(kParameterBytesMax >= eventstore::kStreamBytesMax &&
              kParameterBytesMax >= eventstore::kTypeBytesMax);
static_assert(kLingerBytesMax >= kBodyBytesMaxDefault, "a refused largest body can be drained");
static_assert(kFederationAuthWaitMsMax <= projections::kWaitForMsMax &&
                  kFederationAuthWaitMsMax < kStopDrainMsDefault,
              "the runner honours the whole wait, and a waiting request is answered at a stop");

}  // namespace annals::gateway
