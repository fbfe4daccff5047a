// Replication between registries over NATS JetStream (DESIGN.md, Replication;
// docs/replication.md has the protocol, the failure cases and the status fields).
//
// Publisher: this registry's own events (origin = itself), in ledger order, to stream
// ANNALS_<REGISTRY> (created or updated at start: file storage, subjects annals.<registry>.>),
// one message per event with Nats-Msg-Id = its idempotency key. Messages are pipelined (at most
// kPublishWindowMax in flight), each carrying Nats-Expected-Last-Msg-Id = the key of the event
// before it, so JetStream stores them in ledger order or refuses them; on any failure the
// publisher backs off and resumes after the last message the stream holds (its Annals-Position
// header). The stream, not a local checkpoint, says what was published: nothing is lost, and
// nothing is stored twice (JetStream dedup; the peers' ledgers dedup forever). The checkpoint
// "publisher" is saved after each acknowledged window, for status.
//
// Consumer, one per configured peer: a durable pull consumer (named after this registry) on
// ANNALS_<PEER>. Each message is decoded (structured or binary CloudEvents), appended with
// origin = the peer and the same idempotency key, and acknowledged only once the append is
// durable (the last of each fetched batch with a synchronous ack, which confirms the acks
// before it on the same connection); a redelivery is a Duplicate and is acked. Malformed
// messages, events refused by the ledger, and every event of a peer whose status in the peers
// view is not ACTIVE (or that is not a peer) are terminated, counted, logged and shown in
// status: nothing of them is written. The ledger failing (Unavailable): the batch is not
// acked (redelivered after a delay) and the consumer backs off.
//
// NATS unreachable at start or later: the connection retries forever; publisher and consumers
// back off and resume. Thread-safety: Start and Stop from one thread; GetStatus from any, until
// the Replication is destroyed (during and after Stop too: the states then read "stopped").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"

namespace annals::reactors {

struct ReplicationOptions {
  // nats://host:port, or several separated by commas (a cluster). Required.
  std::string nats_url;
  // The registries to consume from (their names, as their ledgers are named and as each is a
  // peer_id in this registry's peers view). May be empty: publish only.
  std::vector<std::string> peers;
  // Optional NATS credentials file (.creds: user JWT and NKey seed).
  std::string creds_file;
  // Optional TLS to NATS: the CA bundle that signs the servers, and a client certificate and
  // key (both or neither).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  // Replicas of this registry's stream (1, or 3 on a NATS cluster; at most 5). Default 1.
  int stream_replicas = 1;
  // The ledger (its registry name is this registry's) and the views (peer status). Both must
  // outlive the Replication.
  eventstore::Ledger* ledger = nullptr;
  projections::Runner* views = nullptr;
};

// What the publisher has done (counters since the process started).
struct PublisherStatus {
  std::string stream;
  std::string state = "starting";  // starting, publishing, backing_off, stopped
  uint64_t position = 0;         // the last ledger position the stream is known to hold or passed
  uint64_t stream_sequence = 0;  // the stream's last sequence, as last seen
  uint64_t published = 0;        // messages acknowledged by JetStream
  uint64_t duplicates = 0;       // of them, found already stored (JetStream dedup)
  uint64_t errors = 0;
  std::string last_error;
};

// What the consumer of one peer has done (counters since the process started).
struct PeerReplicationStatus {
  std::string peer;
  std::string stream;
  std::string consumer;
  std::string state = "starting";    // starting, consuming, backing_off, stopped
  uint64_t last_peer_position = 0;   // Annals-Position of the last event recorded
  uint64_t last_stream_sequence = 0; // the stream sequence of the last message handled
  uint64_t last_local_position = 0;  // where that event is in this ledger
  std::optional<uint64_t> lag;       // messages not yet delivered or not yet acked (JetStream)
  uint64_t appended = 0;
  uint64_t duplicates = 0;           // redeliveries and replays, found already recorded
  uint64_t refused_malformed = 0;    // not a valid CloudEvent, or refused by this ledger
  uint64_t refused_peer_not_active = 0;
  uint64_t errors = 0;
  std::string last_error;
  std::string last_refusal;
};

struct ReplicationStatus {
  std::string registry;
  std::string nats_url;
  bool connected = false;
  uint64_t ledger_head = 0;
  PublisherStatus publisher;
  std::vector<PeerReplicationStatus> peers;
};

// {"registry":...,"nats_url":...,"connected":bool,"publisher":{...},"peers":[{...}]}, the
// fields above (docs/replication.md, "Status").
std::string ReplicationStatusJson(const ReplicationStatus& status);

// InvalidArgument naming what is wrong: the registry name or a peer name not replicable
// (IsReplicableRegistryName in docs/replication.md), a peer named twice or the registry itself,
// too many peers, replicas out of range, half a TLS client pair.
Status ValidateReplicationOptions(const ReplicationOptions& options);

class Replication {
 public:
  // Validates, connects (in the background when NATS is not reachable yet) and starts the
  // publisher and one consumer per peer.
  static Result<std::unique_ptr<Replication>> Start(ReplicationOptions options);
  // Stops the threads and closes the connection to NATS: a window in flight is abandoned
  // (resumed from the stream next time), a fetched batch is finished or left unacked
  // (redelivered). Returns once no thread and no nats.c callback of the publisher or the
  // consumers runs any more. Idempotent; the destructor calls it.
  void Stop();
  ~Replication();

  ReplicationStatus GetStatus() const;

  Replication(const Replication&) = delete;
  Replication& operator=(const Replication&) = delete;

 private:
  class Impl;
  explicit Replication(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::reactors
