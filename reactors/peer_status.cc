// The peer-status reactor (reactor.h, RegistryReactors): license and drift events of this
// registry set the status of the peer they concern.
#include <simdjson.h>

#include "annals/base/json_writer.h"
#include "annals/base/time_format.h"
#include "annals/reactors/reactor.h"
#include "annals/schemas/event_types.h"

namespace annals::reactors {
namespace es = annals::eventstore;
namespace types = annals::schemas::event_types;

namespace {

constexpr std::string_view kName = "peer-status";
constexpr std::string_view kSource = "/annals/reactors/peer-status";

std::string StringMember(const simdjson::dom::element& data, std::string_view name) {
  std::string_view value;
  if (data[name].get_string().get(value) != simdjson::SUCCESS) return "";
  return std::string(value);
}

Result<simdjson::dom::element> ParseData(simdjson::dom::parser& parser, const es::Record& record) {
  simdjson::dom::element data;
  if (parser.parse(record.event().text_data()).get(data) != simdjson::SUCCESS || !data.is_object()) {
    return Status::Corruption("position " + std::to_string(record.position()) +
                              ": the event's data is not a JSON object");
  }
  return data;
}

class PeerStatusReactor final : public Reactor {
 public:
  explicit PeerStatusReactor(const es::Ledger* ledger) : ledger_(ledger) {}

  std::string_view name() const override { return kName; }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    if (!record.origin().empty() && record.origin() != ledger_->registry_name()) {
      return std::vector<es::ProposedEvent>{};
    }
    const std::string& type = record.event().type();
    std::string status;
    if (type == types::kLicenseSuspended) status = "SUSPENDED";
    if (type == types::kLicenseRevoked) status = "REVOKED";
    if (type == types::kLicenseReinstated) status = "ACTIVE";
    if (type == types::kDriftDetected) status = "DRIFT";
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
    events.push_back(StatusChanged(record, peer_id, status, reason));
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
        if (!issued.origin().empty() && issued.origin() != ledger_->registry_name()) continue;
        ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, ParseData(parser, issued));
        if (StringMember(data, "license_id") == license_id) peer_id = StringMember(data, "peer_id");
      }
      if (page.end || page.records.empty()) break;
      from = page.next;
    }
    return peer_id;
  }

  static es::ProposedEvent StatusChanged(const es::Record& cause, const std::string& peer_id,
                                         const std::string& status, const std::string& reason) {
    es::ProposedEvent proposed;
    es::CloudEvent& event = proposed.event;
    event.set_id("peer-status-" + std::to_string(cause.position()));
    event.set_source(std::string(kSource));
    event.set_spec_version("1.0");
    event.set_type(std::string(types::kPeerStatusChanged));
    auto& attributes = *event.mutable_attributes();
    attributes["subject"].set_ce_string("peer-" + peer_id);
    attributes["datacontenttype"].set_ce_string("application/json");
    auto* time = attributes["time"].mutable_ce_timestamp();  // the ledger's time of the cause
    time->set_seconds(cause.recorded_at_ns() / 1'000'000'000);
    time->set_nanos(static_cast<int32_t>(cause.recorded_at_ns() % 1'000'000'000));
    JsonWriter data;
    data.BeginObject()
        .Member("peer_id", peer_id)
        .Member("status", status)
        .Member("reason", reason)
        .EndObject();
    event.set_text_data(data.Release());
    return proposed;
  }

  const es::Ledger* const ledger_;
};

}  // namespace

std::vector<std::unique_ptr<Reactor>> RegistryReactors(const es::Ledger* ledger) {
  std::vector<std::unique_ptr<Reactor>> reactors;
  reactors.push_back(std::make_unique<PeerStatusReactor>(ledger));
  return reactors;
}

}  // namespace annals::reactors
