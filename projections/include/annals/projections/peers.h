// The peers view: this registry's federation peers as its own events describe them (EVENTS.md,
// "Peers", "Licenses", "Compliance"; docs/views/peers.md has the rows, the rules and examples).
//
// One row per peer: identity (name, base_url, spiffe_id, kind, relation), status (a new peer is
// ACTIVE; only registry.peer.status_changed.v1 changes it: the view follows the events, reactors
// decide), sync health (last_synced_at, cards_pulled, consecutive_failures, last_error), the
// peer's current license, and the drift and quarantine flags. Only this registry's own events
// count (FoldContext::IsOwn); a peer's replicated copies of its own relationships are history.
// Events about a peer that is not (or no longer) added are ignored; a removed peer is gone and
// adding it again starts fresh.
//
// Thread-safety: the query functions read only their ViewReader and may run on any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "annals/projections/projection.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// A fresh instance of the peers projection (name kPeersView, "peers"; version 1).
std::unique_ptr<Projection> MakePeersView();

// {"position":N,"peers":[<peer>, ...]}: every peer, in peer_id order (byte order).
Result<std::string> PeersJson(const ViewReader& reader);

// {"position":N,"peer":<peer>}; NotFound when no such peer is added.
Result<std::string> PeerJson(const ViewReader& reader, std::string_view peer_id);

}  // namespace annals::projections
