// The limits of reactors and replication, each with its default; docs/limits.md lists them.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace annals::reactors {

// Reactors (reactor.h).
// Records a reactor reads from the ledger per page.
inline constexpr size_t kReactorPageEventsMax = 256;
// Retries: the first retry waits kRetryBackoffMin, each next one twice as long, at most
// kRetryBackoffMax. A reaction refused for a reason that cannot pass by itself (its events are
// invalid) is tried kReactorAttemptsMax times, then the reactor stops and says why in its
// status: it never skips a position. Storage that is failing (Unavailable) is waited out.
inline constexpr std::chrono::milliseconds kRetryBackoffMin{50};
inline constexpr std::chrono::milliseconds kRetryBackoffMax{5000};
inline constexpr int kReactorAttemptsMax = 5;
// A reactor saves its checkpoint after each page holding records of a type it wants, and
// otherwise (pages of records it passes) at most this often: a checkpoint is a hint, and
// replaying records a reactor passes costs it only their types.
inline constexpr std::chrono::milliseconds kIdleCheckpointIntervalMs{1000};
// How long a reactor thread sleeps in the ledger's tail before looking at Stop again.
inline constexpr std::chrono::milliseconds kTailWaitMs{500};

// peer-health: sync failures in a row that make an ACTIVE peer INACTIVE.
inline constexpr int64_t kPeerInactiveAfterFailures = 3;
// How long a reactor that reads the peers view waits for it to fold the cause; still behind:
// the reaction is retried (Unavailable).
inline constexpr std::chrono::milliseconds kPeerViewWaitMs{2000};

// transfer-saga: a prepared transfer not committed within this long is rolled back (or sooner,
// at the prepared event's own expires_at).
inline constexpr std::chrono::hours kTransferCommitWindow{72};

// webhook-outbox: delivery attempts of one notification before its failure is recorded (the
// runner's backoff spaces them: about 6 s in all, plus each attempt's own timeout).
inline constexpr int kNotificationAttemptsMax = 8;

// Replication (replication.h).
// Registry names that replicate: 1 to kRegistryNameBytesMax of [a-z0-9_-], starting with a
// letter or digit (they become a NATS subject token and part of a stream name).
inline constexpr size_t kRegistryNameBytesMax = 64;
// Peers one registry consumes from.
inline constexpr size_t kPeersMax = 64;
// Publisher: messages in flight (published, PubAck not yet received) at most.
inline constexpr size_t kPublishWindowMax = 256;
// How long the publisher waits for the PubAcks of a window before it resynchronizes from the
// stream.
inline constexpr std::chrono::milliseconds kPublishAckWaitMs{5000};
// Consumer: messages fetched per pull request, and how long one pull waits for messages.
inline constexpr int kFetchBatchMax = 256;
inline constexpr std::chrono::milliseconds kFetchWaitMs{250};
// The consumer's AckWait: a message not acked within it is redelivered (and found a Duplicate
// if it had been appended).
inline constexpr std::chrono::seconds kAckWait{30};
// Consumer messages delivered but not yet acked, at most (JetStream's MaxAckPending).
inline constexpr int64_t kAckPendingMax = 4096;
// How long the consumer waits for the peers view to reach the ledger's head before it decides
// whether a peer is ACTIVE.
inline constexpr std::chrono::milliseconds kPeerStatusWaitMs{2000};
// A NATS message larger than this is refused as malformed (it could not be one event).
inline constexpr size_t kMessageBytesMax = 2 << 20;
// How often status refreshes the consumers' lag from JetStream.
inline constexpr std::chrono::milliseconds kLagRefreshMs{1000};
// Text kept of the last error and the last refusal in status.
inline constexpr size_t kStatusErrorBytesMax = 512;

}  // namespace annals::reactors
