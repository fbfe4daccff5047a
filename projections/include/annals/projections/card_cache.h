// The card-cache view: the agent cards this registry serves to peers that pull over HTTP, the
// registry cards it fetched from its peers, and its own registry card with a stable ETag.
// Rows, rules and JSON: docs/views/card-cache.md.
//
// The feed holds this registry's local agents (its own registry.agent.* events) and the
// federated cards it caches (its own registry.federation.agent_cards_synced.v1 and
// agent_card_removed.v1, and agent events replicated from a peer). Which card wins for a did is
// internal::MayReplace (shared with the agents view): a local card is never overwritten by a
// federated one, a direct card never by a discovered one, and a refused upsert changes nothing.
// Every accepted change gets the next change number; the feed keeps one entry per did (its
// latest change), removals included as tombstones, so a peer that pulls `since` its last cursor
// sees every did that changed, once.
//
// Own registry card: the operator-editable fields (registry.card.edited.v1) plus the signed
// core's policy hash (registry.compliance.policy_hash_published.v1, peer_id "self"), served with
// volatile counters and "updated_at". Its ETag hashes only the editable fields and the policy
// hash (CanonicalJson below), never counters or times: registering an agent or adding a peer
// keeps the ETag, an edit that changes something or a new policy hash changes it.
//
// Every query returns the exact compact JSON body the gateway serves and annalsctl prints; each
// starts with "position", the ledger position the rows reflect.
//
// The view's name is kCardCacheView (registry_views.h).
//
// Thread-safety: the query functions take an immutable ViewReader and may run on any thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "annals/projections/projection.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// Cards per feed page: `limit` must be in [1, kCardFeedLimitMax]; callers that were given no
// limit pass kCardFeedLimitDefault. The seeds' peers ask for 10000.
inline constexpr size_t kCardFeedLimitDefault = 1000;
inline constexpr size_t kCardFeedLimitMax = 10000;
static_assert(kCardFeedLimitDefault >= 1 && kCardFeedLimitDefault <= kCardFeedLimitMax);

std::unique_ptr<Projection> MakeCardCacheView();

// GET /api/v1/federation/agent-cards?since=<cursor>&limit=<limit>:
// {"position":N,"cards":[{"change":K,"did",...,"removed":false},...],"next_cursor":"K"}.
// The feed entries whose change number is above `cursor` ("" : from the start), in change
// order, at most `limit`. next_cursor is the last change number returned, else `cursor` itself.
// InvalidArgument when `cursor` is not "" or a decimal number, or `limit` is out of range.
Result<std::string> CardsSinceJson(const ViewReader& reader, std::string_view cursor,
                                   size_t limit);

// The last registry card fetched from `peer_id`:
// {"position":N,"peer_id","etag","verdict","reason","fetched_at","card"}. "card" and "etag" are
// those of the last card not rejected (null and "" when every fetch was rejected).
// NotFound when no fetch of that peer was recorded.
Result<std::string> PeerRegistryCardJson(const ViewReader& reader, std::string_view peer_id);

// GET /.well-known/registry-card.json: {"position":N,"etag":"\"<hex>\"","card":{...}}.
// NotFound when the card was never edited.
Result<std::string> OwnRegistryCardJson(const ViewReader& reader);

// The ETag of this registry's card, quoted as HTTP sends it ("\"<64 hex>\""), read from one row:
// the gateway's If-None-Match -> 304 path. NotFound when the card was never edited.
Result<std::string> OwnRegistryCardEtag(const ViewReader& reader);

// The canonical form of JSON text the ETag hashes: object members sorted by key (bytewise on
// the UTF-8 key, duplicates kept in document order), no whitespace, strings re-escaped the way
// annals::JsonWriter escapes them, integers in decimal, other numbers in their shortest
// round-trip form. Equal JSON values give equal text. InvalidArgument when `json` is not JSON.
Result<std::string> CanonicalJson(std::string_view json);

}  // namespace annals::projections
