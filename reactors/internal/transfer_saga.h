// The transfer-saga reactor (reactor.h, RegistryReactors, "transfer-saga"), and its deadline.
#pragma once

#include <cstdint>
#include <memory>

#include "annals/eventstore/ledger.h"
#include "annals/reactors/reactor.h"

namespace annals::reactors {

// A reactor that rolls back this registry's prepared transfers not settled by their deadline.
// `ledger` must outlive it.
std::unique_ptr<Reactor> MakeTransferSaga(const eventstore::Ledger* ledger);

// The deadline (ns since the epoch) of a transfer prepared at `recorded_at_ns` that expires at
// `expires_seconds`.`expires_nanos`: the earlier of that and kTransferCommitWindow after it
// was recorded.
int64_t TransferDeadlineNs(int64_t recorded_at_ns, int64_t expires_seconds, int32_t expires_nanos);

}  // namespace annals::reactors
