// The compliance view: per peer, our policy hash and theirs, the drift status, the last drift
// scan asked for, the recent drift detections (the offenders) and the quarantine state, as this
// registry's own compliance events describe them (EVENTS.md, "Compliance";
// docs/views/compliance.md has the rows, the rules and examples).
//
// drift_status, computed when queried:
//   "drifted"   a drift_detected for the peer has no drift_resolved after it;
//   "unknown"   otherwise, when our hash (peer_id "self") or the peer's has never been published;
//   "in_sync"   otherwise, when the two hashes are equal;
//   "mismatch"  otherwise: the hashes differ but no drift is declared (no scan flagged it, or it
//               was resolved): a scan decides whether the divergence is beyond its threshold.
//
// The view knows the peers from registry.peer.added/removed.v1; compliance events may also name
// a peer that is not added (it is then shown with "peer_known": false). A removed peer's
// compliance state is dropped with it. Only own events count (FoldContext::IsOwn).
//
// Thread-safety: the query functions read only their ViewReader and may run on any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "annals/projections/projection.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// The peer_id of policy_hash_published that names this registry's own policy hash. Other
// compliance events naming it are ignored.
inline constexpr std::string_view kCompliancePeerSelf = "self";

// Each peer keeps its most recent drift detections, at most this many (older ones are dropped
// from the view; the ledger keeps them all). Default: 100.
inline constexpr size_t kComplianceDriftEventsMax = 100;
static_assert(kComplianceDriftEventsMax >= 1);

// A fresh instance of the compliance projection (name kComplianceView, "compliance"; version 1).
std::unique_ptr<Projection> MakeComplianceView();

// {"position":N,"peer_id":...,"peer_known":...,"local_policy_hash":...,"peer_policy_hash":...,
//  "drift_status":...,"last_scan_requested_at":...,"last_scan_requested_by":...,
//  "last_drift_at":...,"last_resolved_at":...,"quarantine":{"applied","reason","since"},
//  "drift_events":[{"position","time","local_policy_hash","peer_policy_hash",
//                   "divergent_agents","threshold"}, ... oldest first]}
// NotFound when neither an added peer nor any compliance event names `peer_id`.
Result<std::string> CompliancePeerJson(const ViewReader& reader, std::string_view peer_id);

// {"position":N,"local_policy_hash":...,"peers":[<the object above without "position">, ...]}
// in peer_id order (byte order).
Result<std::string> CompliancePeersJson(const ViewReader& reader);

}  // namespace annals::projections
