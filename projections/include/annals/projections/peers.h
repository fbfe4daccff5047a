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
#include <vector>

#include "annals/base/status.h"
#include "annals/projections/projection.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// A fresh instance of the peers projection (name kPeersView, "peers"; version 2).
std::unique_ptr<Projection> MakePeersView();

// {"position":N,"peers":[<peer>, ...]}: every peer, in peer_id order (byte order).
Result<std::string> PeersJson(const ViewReader& reader);

// {"position":N,"peer":<peer>}; NotFound when no such peer is added.
Result<std::string> PeerJson(const ViewReader& reader, std::string_view peer_id);

// An added peer's status (ACTIVE, INACTIVE, DRIFT, SUSPENDED, REVOKED) and its sync failures in
// a row: whom replication accepts events from, and what the peer-health reactor watches.
// NotFound when no such peer is added.
struct PeerHealth {
  std::string status;
  int64_t consecutive_failures = 0;
};
Result<PeerHealth> PeerHealthOf(const ViewReader& reader, std::string_view peer_id);
// PeerHealthOf's status alone.
Result<std::string> PeerStatus(const ViewReader& reader, std::string_view peer_id);

// A live license found by the SHA-256 of its key (federation auth: a peer presents
// `tp_fed_<64 hex>` and the gateway looks up the hash of the whole key).
struct LicenseGrant {
  std::string license_id;
  std::string peer_id;
  std::string status;       // active, suspended, revoked
  std::string peer_status;  // ACTIVE, INACTIVE, DRIFT, SUSPENDED, REVOKED
};
// `key_sha256`: 64 lower-case hex digits, as registry.license.issued.v1 carries it. NotFound when
// no live license (issued to a peer that is still added, not replaced) has that key.
Result<LicenseGrant> LicenseByKeySha256(const ViewReader& reader, std::string_view key_sha256);

// A peer found by its SPIFFE ID (federation auth over mutual TLS: the SPIFFE ID of a verified
// client certificate names the peer presenting it).
struct PeerIdentity {
  std::string peer_id;
  std::string status;  // ACTIVE, INACTIVE, DRIFT, SUSPENDED, REVOKED
};
// Every added peer whose spiffe_id is exactly `spiffe_id` (byte for byte), in peer_id order;
// empty when none, or when `spiffe_id` is empty. Reads every peer row: the view keeps no index
// by SPIFFE ID (a registry has few peers). Corruption when a row is not a peer's JSON.
Result<std::vector<PeerIdentity>> PeersBySpiffeId(const ViewReader& reader,
                                                  std::string_view spiffe_id);

}  // namespace annals::projections
