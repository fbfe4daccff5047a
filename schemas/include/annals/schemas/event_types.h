// The names of the domain event types: the CloudEvent `type` of each catalog entry (EVENTS.md
// plus annals' own registry.card.edited.v1; docs/events.md shows each with its fields). One
// constant per type, so that the catalog (event_data.cc) and the views that fold these events
// spell each name once. A name is part of the stored format: it never changes (a changed meaning
// is a new type, `.v2`).
#pragma once

#include <string_view>

namespace annals::schemas::event_types {

// Agents
inline constexpr std::string_view kAgentRegistered = "registry.agent.registered.v1";
inline constexpr std::string_view kAgentCardUpdated = "registry.agent.card_updated.v1";
inline constexpr std::string_view kAgentDeprecated = "registry.agent.deprecated.v1";
inline constexpr std::string_view kAgentRemoved = "registry.agent.removed.v1";

// OSSA interop (their names carry no version)
inline constexpr std::string_view kOssaAgentPublished = "io.ossa.agent.published";
inline constexpr std::string_view kOssaAgentUpdated = "io.ossa.agent.updated";
inline constexpr std::string_view kOssaAgentDeprecated = "io.ossa.agent.deprecated";

// Peers
inline constexpr std::string_view kPeerAdded = "registry.peer.added.v1";
inline constexpr std::string_view kPeerUpdated = "registry.peer.updated.v1";
inline constexpr std::string_view kPeerRemoved = "registry.peer.removed.v1";
inline constexpr std::string_view kPeerStatusChanged = "registry.peer.status_changed.v1";
inline constexpr std::string_view kPeerSyncSucceeded = "registry.peer.sync_succeeded.v1";
inline constexpr std::string_view kPeerSyncFailed = "registry.peer.sync_failed.v1";

// Federated cards
inline constexpr std::string_view kAgentCardsSynced = "registry.federation.agent_cards_synced.v1";
inline constexpr std::string_view kAgentCardRemoved = "registry.federation.agent_card_removed.v1";
inline constexpr std::string_view kRegistryCardFetched =
    "registry.federation.registry_card_fetched.v1";

// Licenses
inline constexpr std::string_view kLicenseIssued = "registry.license.issued.v1";
inline constexpr std::string_view kLicenseSuspended = "registry.license.suspended.v1";
inline constexpr std::string_view kLicenseRevoked = "registry.license.revoked.v1";
inline constexpr std::string_view kLicenseReinstated = "registry.license.reinstated.v1";

// Compliance
inline constexpr std::string_view kPolicyHashPublished =
    "registry.compliance.policy_hash_published.v1";
inline constexpr std::string_view kDriftScanRequested =
    "registry.compliance.drift_scan_requested.v1";
inline constexpr std::string_view kDriftDetected = "registry.compliance.drift_detected.v1";
inline constexpr std::string_view kDriftResolved = "registry.compliance.drift_resolved.v1";
inline constexpr std::string_view kQuarantineApplied = "registry.compliance.quarantine_applied.v1";
inline constexpr std::string_view kQuarantineLifted = "registry.compliance.quarantine_lifted.v1";

// Transfers
inline constexpr std::string_view kTransferPrepared = "registry.transfer.prepared.v1";
inline constexpr std::string_view kTransferCommitted = "registry.transfer.committed.v1";
inline constexpr std::string_view kTransferRolledBack = "registry.transfer.rolled_back.v1";
inline constexpr std::string_view kTokensTransferred = "registry.tokens.transferred.v1";

// Notifications
inline constexpr std::string_view kNotificationRequested = "registry.notification.requested.v1";
inline constexpr std::string_view kNotificationDelivered = "registry.notification.delivered.v1";
inline constexpr std::string_view kNotificationFailed = "registry.notification.failed.v1";

// annals' own: this registry's registry card, as the operator edits it.
inline constexpr std::string_view kRegistryCardEdited = "registry.card.edited.v1";

}  // namespace annals::schemas::event_types
