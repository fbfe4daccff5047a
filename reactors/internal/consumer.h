// A replication consumer (replication.h): one peer's JetStream stream into this ledger,
// exactly once, acknowledged only after the append is durable.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"
#include "annals/reactors/replication.h"
#include "internal/nats_handles.h"
#include "internal/stop_flag.h"

namespace annals::reactors::internal {

using ConsumerStatus = reactors::PeerReplicationStatus;

class Consumer {
 public:
  // `connection`, `ledger` and `views` must outlive the Consumer. `registry`: this registry.
  Consumer(natsConnection* connection, eventstore::Ledger* ledger, projections::Runner* views,
           std::string registry, std::string peer);
  ~Consumer();
  void Start();
  void Stop();
  ConsumerStatus status() const;

 private:
  void Run();
  Status Subscribe();
  // Fetches and handles one batch; Ok also when there was none.
  Status ConsumeBatch();
  // The peer's status in the peers view, once the view has reached the ledger's head.
  Result<std::string> PeerStatus();
  void RefreshLag();
  void Failed(const Status& status);
  void Refuse(natsMsg* message, bool peer_not_active, const std::string& why);

  natsConnection* const connection_;
  eventstore::Ledger* const ledger_;
  projections::Runner* const views_;
  const std::string registry_;
  const std::string peer_;
  const std::string stream_;
  const std::string durable_;
  NatsPtr<jsCtx> js_;
  NatsPtr<natsSubscription> subscription_;
  StopFlag stop_;
  std::thread thread_;
  std::chrono::steady_clock::time_point lag_refreshed_{};

  mutable std::mutex status_mu_;
  ConsumerStatus status_;  // guarded by status_mu_
};

}  // namespace annals::reactors::internal
