// The replication publisher (replication.h): this registry's own events to its JetStream
// stream, in ledger order, exactly once in the stream.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "annals/reactors/replication.h"
#include "internal/nats_handles.h"
#include "internal/stop_flag.h"

namespace annals::reactors::internal {

using reactors::PublisherStatus;

class Publisher {
 public:
  // `connection` and `ledger` must outlive the Publisher. Stop (and the destructor) return once
  // the thread has ended and no PubAck callback (OnAck, on a nats.c thread) runs any more.
  Publisher(natsConnection* connection, eventstore::Ledger* ledger, std::string registry,
            int replicas);
  ~Publisher();
  void Start();
  void Stop();
  PublisherStatus status() const;

 private:
  void Run();
  Status EnsureStream();
  Status Resync();
  // Publishes the next window of own events; Ok also when there was nothing to publish.
  Status PublishWindow();
  void Failed(const Status& status);
  // Forgets the messages still waiting for a PubAck, and returns once no OnAck runs: after
  // it, no OnAck runs until the next publish.
  void DropPending();
  static void OnAck(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);

  natsConnection* const connection_;
  eventstore::Ledger* const ledger_;
  const std::string registry_;
  const std::string stream_;
  const int replicas_;
  NatsPtr<jsCtx> js_;
  StopFlag stop_;
  std::thread thread_;

  // Publisher thread only.
  uint64_t next_ = 1;     // the next ledger position to look at
  std::string last_key_;  // the key of the last message the stream holds ("" : empty stream)
  bool published_async_ = false;

  // The acks of the window in flight, by ledger position: "" for success, else the error.
  std::mutex acks_mu_;
  std::map<uint64_t, std::string> acks_;  // guarded by acks_mu_
  uint64_t acked_duplicates_ = 0;         // guarded by acks_mu_
  uint64_t acked_last_sequence_ = 0;      // guarded by acks_mu_

  mutable std::mutex status_mu_;
  PublisherStatus status_;  // guarded by status_mu_
};

}  // namespace annals::reactors::internal
