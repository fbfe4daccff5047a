// Reactors: readers of the ledger that turn events into follow-up events, exactly once.
//
// A reactor reads the ledger from its checkpoint, in position order, and for each record
// proposes the events it causes. The runner appends them through Ledger::Submit (one atomic
// batch per cause) under idempotency keys derived from the cause,
//
//     reactor/<name>/<position>/<index>
//
// and with origin = this registry, then saves the checkpoint. A crash between the append and
// the checkpoint replays the cause: its events come back as Duplicates (or, when the reactor's
// code changed since, KeyReuse: the cause has its reaction already) and nothing is emitted
// twice. Reactors use the ledger's time (the cause's recorded_at), never the wall clock.
//
// Time-driven reactors (deadlines) also answer Due: once the runner has read to the ledger's
// head, it asks what is due now. Only then may the wall clock count: at the head no record is
// left unread that could have settled the deadline first, so a replay, which reads every record
// before it asks, decides as the first run did. A due event carries the position of the record
// that set its deadline, and its key is that record's reaction key. An emitted event whose
// expected revision the stream no longer meets (a commit got in first) is dropped: the reactor
// asked for that condition, and the record that moved the stream is read next.
//
// Failures: a React() error or a refused append is retried with backoff (limits.h). Storage
// failing (Unavailable) is waited out; any other refusal is tried kReactorAttemptsMax times,
// then the reactor stops and its status says why. A reactor never skips a position.
//
// Thread-safety: one thread per reactor; Statuses() and Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/base/status.h"
#include "annals/eventstore/append.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/record.h"
#include "annals/projections/runner.h"

namespace annals::reactors {

class Reactor {
 public:
  virtual ~Reactor() = default;
  // Fixed for the life of the ledger: it names the checkpoint and the emitted keys.
  // [a-z0-9-]+.
  virtual std::string_view name() const = 0;
  // The events `record` causes, in order (none: the usual answer). The runner sets each one's
  // idempotency key and origin. Called once per position, in order, on the reactor's thread;
  // called again for the same position only after an error or a crash.
  virtual Result<std::vector<eventstore::ProposedEvent>> React(const eventstore::Record& record) = 0;
  // False for an event type React answers with no events whatever the event says: the runner
  // then passes such records without decoding them. Default: every type.
  virtual bool Wants(std::string_view type) const {
    (void)type;
    return true;
  }

  // Called once before the first React, with the reactor's checkpoint: a reactor that tracks
  // deadlines rebuilds them from the ledger up to it. Default: nothing to rebuild.
  virtual Status Resume(uint64_t checkpoint) {
    (void)checkpoint;
    return Status::Ok();
  }

  // An event due at a deadline, caused by the record at `cause` (its key is that record's
  // reaction key, index 0).
  struct DueEvent {
    uint64_t cause = 0;
    eventstore::ProposedEvent event;
  };
  // The events due at `now_ns` (ns since the epoch: the later of the wall clock and the head's
  // recorded_at), each returned once: the reactor forgets a deadline it returns, and Resume
  // brings back any whose event a crash kept from the ledger. Called only when every record up
  // to the ledger's head has been through React. Default: none.
  virtual std::vector<DueEvent> Due(int64_t now_ns) {
    (void)now_ns;
    return {};
  }
};

// The idempotency key of the `index`-th event caused by `position` in `reactor`.
std::string ReactionKey(std::string_view reactor, uint64_t position, size_t index);

// What a reactor has done; counters since the process started.
struct ReactorStatus {
  std::string name;
  std::string state;  // "running", "retrying", "stopped" (by Stop), "failed"
  uint64_t position = 0;  // the last position handled (its checkpoint)
  uint64_t handled = 0;   // records read
  uint64_t emitted = 0;   // events appended (Appended)
  uint64_t duplicates = 0;  // emitted events found already recorded (a replay)
  uint64_t retries = 0;
  std::string last_error;
};

class ReactorRunner {
 public:
  // Starts one thread per reactor, each from its checkpoint (Ledger::LoadCheckpoint under
  // "reactor/<name>"). `ledger` must outlive the runner. InvalidArgument for a bad or repeated
  // name.
  static Result<std::unique_ptr<ReactorRunner>> Start(eventstore::Ledger* ledger,
                                                      std::vector<std::unique_ptr<Reactor>> reactors);
  // Stops the threads (a reaction in flight is finished or abandoned before its checkpoint;
  // either way it is replayed safely). Idempotent; the destructor calls it.
  ~ReactorRunner();
  void Stop();

  std::vector<ReactorStatus> Statuses() const;

  ReactorRunner(const ReactorRunner&) = delete;
  ReactorRunner& operator=(const ReactorRunner&) = delete;

 private:
  class Worker;
  ReactorRunner() = default;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Delivers one webhook: POSTs `cloudevent_json` to `url` with Idempotency-Key `key`. Ok when
// delivered; InvalidArgument when no retry can help (a malformed target); else why not
// (gateway::WebhookClient::Post is the one annalsd uses).
using WebhookPost = std::function<Status(std::string_view url, std::string_view cloudevent_json,
                                         std::string_view key)>;

struct RegistryReactorOptions {
  WebhookPost post_webhook;      // null: no webhook-outbox
  std::string operator_webhook;  // "": no operator-notify
};

// The reactors annals runs (DESIGN.md, Reactors; docs/replication.md), each reading only this
// registry's own events:
// - "peer-status": registry.license.suspended.v1 / revoked.v1 / reinstated.v1 set the licensed
//   peer's status to SUSPENDED / REVOKED / ACTIVE, and registry.compliance.drift_detected.v1
//   sets it to DRIFT (registry.peer.status_changed.v1 in stream peer-<peer_id>).
// - "peer-health": kPeerInactiveAfterFailures registry.peer.sync_failed.v1 in a row make an
//   ACTIVE peer INACTIVE; a registry.peer.sync_succeeded.v1 makes an INACTIVE peer ACTIVE.
// - "transfer-saga": a registry.transfer.prepared.v1 not settled by its deadline (the earlier
//   of its expires_at and kTransferCommitWindow after it was recorded) is rolled back:
//   registry.transfer.rolled_back.v1 in the transfer's stream, appended only if nothing was
//   appended to that stream since the prepared event (a commit, a rollback, the tokens). A
//   prepared event without a stream is left alone (nothing could guard its rollback).
// - "webhook-outbox" (with `post_webhook`): each registry.notification.requested.v1 is POSTed
//   to its target, then registry.notification.delivered.v1, or, after kNotificationAttemptsMax
//   attempts, registry.notification.failed.v1, is recorded in its stream. Delivery is at least
//   once (the target gets the notification_id as Idempotency-Key); the outcome is recorded once.
// - "operator-notify" (with `operator_webhook`): a registry.compliance.drift_detected.v1
//   requests a webhook to the operator (registry.notification.requested.v1).
// `views` (the peers view) must outlive the reactors.
std::vector<std::unique_ptr<Reactor>> RegistryReactors(const eventstore::Ledger* ledger,
                                                       projections::Runner* views,
                                                       const RegistryReactorOptions& options = {});

}  // namespace annals::reactors
