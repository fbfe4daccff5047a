// The reactors that set a peer's status (reactor.h, RegistryReactors): peer-status (license and
// drift events) and peer-health (sync failures and successes); and RegistryReactors, with the
// transfer saga (transfer_saga.cc).
#include <simdjson.h>

#include "annals/base/json_writer.h"
#include "annals/base/time_format.h"
#include "annals/reactors/reactor.h"
#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/reactors/limits.h"
#include "annals/schemas/event_types.h"
#include "internal/outbox.h"
#include "internal/reaction_event.h"
#include "internal/record_data.h"
#include "internal/transfer_saga.h"

namespace annals::reactors {
namespace es = annals::eventstore;
namespace pj = annals::projections;
namespace types = annals::schemas::event_types;

namespace {

constexpr std::string_view kName = "peer-status";
constexpr std::string_view kHealthName = "peer-health";

using internal::ParseData;
using internal::StringMember;

// registry.peer.status_changed.v1 for `peer_id`, caused by `cause` (at its time), from `reactor`.
es::ProposedEvent StatusChanged(std::string_view reactor, const es::Record& cause,
                              const std::string& peer_id, const std::string& status,
                              const std::string& reason) {
  JsonWriter data;
  data.BeginObject()
      .Member("peer_id", peer_id)
      .Member("status", status)
      .Member("reason", reason)
      .EndObject();
  return internal::ReactionEvent(reactor, types::kPeerStatusChanged, cause, "peer-" + peer_id,
                                 data.Release());
}

class PeerStatusReactor final : public Reactor {
 public:
  explicit PeerStatusReactor(const es::Ledger* ledger) : ledger_(ledger) {}

  std::string_view name() const override { return kName; }

  // The status each cause sets; "" for the types this reactor passes.
  static std::string_view StatusFor(std::string_view type) {
    if (type == types::kLicenseSuspended) return "SUSPENDED";
    if (type == types::kLicenseRevoked) return "REVOKED";
    if (type == types::kLicenseReinstated) return "ACTIVE";
    if (type == types::kDriftDetected) return "DRIFT";
    return "";
  }
  bool Wants(std::string_view type) const override { return !StatusFor(type).empty(); }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    if (!internal::IsOwn(*ledger_, record)) {
      return std::vector<es::ProposedEvent>{};
    }
    const std::string& type = record.event().type();
    const std::string status(StatusFor(type));
    if (status.empty()) return std::vector<es::ProposedEvent>{};

    simdjson::dom::parser parser;
    ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, ParseData(parser, record));
    std::string peer_id;
    std::string reason;
    if (type == types::kDriftDetected) {
      peer_id = StringMember(data, "peer_id");
      reason = "policy drift detected";
    } else {
      const std::string license_id = StringMember(data, "license_id");
      ANNALS_ASSIGN_OR_RETURN(peer_id, LicensedPeer(license_id, record.position()));
      if (peer_id.empty()) return std::vector<es::ProposedEvent>{};  // never issued: nothing to do
      const std::string why = StringMember(data, "reason");
      reason = "license " + license_id + " " +
               (status == "ACTIVE" ? "reinstated" : status == "SUSPENDED" ? "suspended" : "revoked") +
               (why.empty() ? "" : ": " + why);
    }
    std::vector<es::ProposedEvent> events;
    events.push_back(StatusChanged(kName, record, peer_id, status, reason));
    return events;
  }

 private:
  // The peer of the latest registry.license.issued.v1 of `license_id` before `before`, from
  // the ledger itself (the type index), so a replay decides as the first run did.
  Result<std::string> LicensedPeer(const std::string& license_id, uint64_t before) const {
    std::string peer_id;
    simdjson::dom::parser parser;
    uint64_t from = 1;
    while (from < before) {
      ANNALS_ASSIGN_OR_RETURN(
          es::ReadPage page,
          ledger_->ReadAll({.from_position = from, .limit = 1000,
                            .type = std::string(types::kLicenseIssued)}));
      for (const es::Record& issued : page.records) {
        if (issued.position() >= before) return peer_id;
        if (!internal::IsOwn(*ledger_, issued)) continue;
        ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, ParseData(parser, issued));
        if (StringMember(data, "license_id") == license_id) peer_id = StringMember(data, "peer_id");
      }
      if (page.end || page.records.empty()) break;
      from = page.next;
    }
    return peer_id;
  }

  const es::Ledger* const ledger_;
};


// peer-health: after kPeerInactiveAfterFailures sync failures in a row an ACTIVE peer becomes
// INACTIVE; a sync success makes an INACTIVE peer ACTIVE again. Other statuses (DRIFT,
// SUSPENDED, REVOKED) are an operator's or another reactor's decision and are left alone. The
// peer's status and failures come from the peers view once it has folded the cause: a replay
// may decide on a later view than the first run, but emits under the same key, so never twice.
class PeerHealthReactor final : public Reactor {
 public:
  PeerHealthReactor(const es::Ledger* ledger, pj::Runner* views) : ledger_(ledger), views_(views) {}

  std::string_view name() const override { return kHealthName; }

  bool Wants(std::string_view type) const override {
    return type == types::kPeerSyncFailed || type == types::kPeerSyncSucceeded;
  }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    std::vector<es::ProposedEvent> events;
    if (!internal::IsOwn(*ledger_, record)) return events;
    const std::string& type = record.event().type();
    if (!Wants(type)) return events;
    const bool failed = type == types::kPeerSyncFailed;
    simdjson::dom::parser parser;
    ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, ParseData(parser, record));
    const std::string peer_id = StringMember(data, "peer_id");
    if (views_->WaitFor(pj::kPeersView, record.position(), kPeerViewWaitMs) < record.position()) {
      return Status::Unavailable("the peers view has not folded position " +
                                 std::to_string(record.position()) + " yet");
    }
    ANNALS_ASSIGN_OR_RETURN(pj::ViewReader reader, views_->Reader(pj::kPeersView));
    Result<pj::PeerHealth> health = pj::PeerHealthOf(reader, peer_id);
    if (health.status().code() == StatusCode::kNotFound) return events;  // not (or no longer) a peer
    ANNALS_RETURN_IF_ERROR(health.status());
    if (failed && health->status == "ACTIVE" &&
        health->consecutive_failures >= kPeerInactiveAfterFailures) {
      events.push_back(StatusChanged(
          kHealthName, record, peer_id, "INACTIVE",
          std::to_string(health->consecutive_failures) + " sync failures in a row"));
    } else if (!failed && health->status == "INACTIVE") {
      events.push_back(StatusChanged(kHealthName, record, peer_id, "ACTIVE", "a sync succeeded"));
    }
    return events;
  }

 private:
  const es::Ledger* const ledger_;
  pj::Runner* const views_;
};

}  // namespace

std::vector<std::unique_ptr<Reactor>> RegistryReactors(const es::Ledger* ledger,
                                                       pj::Runner* views,
                                                       const RegistryReactorOptions& options) {
  std::vector<std::unique_ptr<Reactor>> reactors;
  reactors.push_back(std::make_unique<PeerStatusReactor>(ledger));
  reactors.push_back(std::make_unique<PeerHealthReactor>(ledger, views));
  reactors.push_back(MakeTransferSaga(ledger));
  if (options.post_webhook) reactors.push_back(MakeWebhookOutbox(ledger, options.post_webhook));
  if (!options.operator_webhook.empty()) {
    reactors.push_back(MakeOperatorNotify(ledger, options.operator_webhook));
  }
  return reactors;
}

}  // namespace annals::reactors
