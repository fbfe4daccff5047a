// Every limit of the eventstore, named, with its default and how the limits relate. A limit hit
// is refused with a clear error (TooLarge, InvalidEvent naming the attribute, or a Status of
// kResourceExhausted); nothing is written. docs/limits.md lists them for operators.
#pragma once

#include <cstddef>
#include <cstdint>

#include "annals/schemas/limits.h"

namespace annals::eventstore {

// One stored record (the encoded Record, CloudEvent included): 1 MiB.
inline constexpr size_t kEventBytesMax = 1 << 20;
// Events in one atomic batch.
inline constexpr size_t kBatchEventsMax = 4096;
// Encoded bytes of one atomic batch: 16 MiB.
inline constexpr size_t kBatchBytesMax = 16 << 20;
// Attribute sizes (bytes, UTF-8).
inline constexpr size_t kIdBytesMax = 256;
inline constexpr size_t kSourceBytesMax = 1024;
inline constexpr size_t kTypeBytesMax = 256;
inline constexpr size_t kSubjectBytesMax = 1024;
inline constexpr size_t kAttributeValueBytesMax = 4096;  // any other attribute value
inline constexpr size_t kExtensionNameBytesMax = 64;
inline constexpr size_t kAttributesMax = 64;  // optional + extension attributes of one event
inline constexpr size_t kStreamBytesMax = 256;
inline constexpr size_t kIdempotencyKeyBytesMax = 1400;  // source + " " + id fits
inline constexpr size_t kOriginBytesMax = 256;

// The writer: requests waiting in the queue (a request is one event or one batch). A producer
// waits for room at most kEnqueueWaitMsMax, then gets Unavailable.
inline constexpr size_t kQueueRequestsMax = 16384;
inline constexpr uint32_t kEnqueueWaitMsMax = 5000;
// One group commit: at most this many events and encoded bytes in one WriteBatch.
inline constexpr size_t kGroupEventsMax = 8192;
inline constexpr size_t kGroupBytesMax = 32 << 20;
// Stream heads the writer keeps in memory (a miss reads the stream index). When full, the heads
// the index holds are dropped; the heads of streams with events the indexer has not written yet
// stay (ledger.cc, MakeRoomInStreamCache).
inline constexpr size_t kStreamCacheEntriesMax = 1 << 20;

// The key filter (eventstore/internal/key_filter.h): an in-memory filter of every idempotency
// key, sized at twice the ledger's events (never below kKeyFilterKeysMin) and rebuilt twice as
// large when the ledger outgrows it; kKeyFilterBitsPerKey bits a key give 1-2% false positives
// at capacity. Past kKeyFilterBytesMax it stops growing: more keys only raise its
// false-positive rate (each false positive costs the RocksDB lookup every key cost without it).
inline constexpr uint64_t kKeyFilterKeysMin = 1 << 20;
inline constexpr uint64_t kKeyFilterBitsPerKey = 10;
inline constexpr uint64_t kKeyFilterBytesMax = uint64_t{512} << 20;

// Checkpoint names (Ledger::SaveCheckpoint): reactor and publisher names.
inline constexpr size_t kCheckpointNameBytesMax = 256;

// Reads: records returned by one page.
inline constexpr size_t kReadPageEventsMax = 10000;

static_assert(kIdempotencyKeyBytesMax >= kSourceBytesMax + 1 + kIdBytesMax,
              "a derived key (source + ' ' + id) must fit the key limit");
static_assert(kBatchBytesMax >= kEventBytesMax, "one largest event fits a batch");
static_assert(kGroupEventsMax >= kBatchEventsMax, "a whole batch fits one group");
static_assert(kGroupBytesMax >= kBatchBytesMax, "a whole batch fits one group");
static_assert(kStreamBytesMax < kEventBytesMax);
static_assert(schemas::kDataBodyBytesMax < kEventBytesMax,
              "the largest string of domain event data fits one event");

}  // namespace annals::eventstore
