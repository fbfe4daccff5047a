// The outbox reactors (webhook_outbox.cc; reactor.h, RegistryReactors).
#pragma once

#include <memory>
#include <string>

#include "annals/eventstore/ledger.h"
#include "annals/reactors/reactor.h"

namespace annals::reactors {

// webhook-outbox: delivers this registry's registry.notification.requested.v1 through `post`
// and records the outcome. `ledger` must outlive it.
std::unique_ptr<Reactor> MakeWebhookOutbox(const eventstore::Ledger* ledger, WebhookPost post);

// operator-notify: this registry's registry.compliance.drift_detected.v1 requests a webhook
// notification to `target`. `ledger` must outlive it.
std::unique_ptr<Reactor> MakeOperatorNotify(const eventstore::Ledger* ledger, std::string target);

}  // namespace annals::reactors
