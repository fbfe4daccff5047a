// The compliance view (compliance.h; rows and rules in docs/views/compliance.md).
//
// Rows:
//   s            {"policy_hash","published_at"}: this registry's own policy hash (peer_id "self")
//   g            {"position","time","requested_by"}: the last drift scan asked for all peers
//   c/<peer_id>  the peer's compliance state (PeerRow below), with its recent drift detections
// drift_status and the effective last scan are computed when queried, from these rows, so that
// a new self hash or an all-peers scan is one write, whatever the number of peers.
#include "annals/projections/compliance.h"

#include <simdjson.h>

#include <deque>
#include <optional>
#include <string>

#include "annals/base/assert.h"
#include "annals/base/json_writer.h"
#include "annals/projections/registry_views.h"
#include "annals/schemas/event_types.h"
#include "internal/event_data.h"
#include "internal/rows.h"

namespace annals::projections {
namespace {

namespace types = schemas::event_types;
using internal::BoolField;
using internal::OptionalStringField;
using internal::OptionalStringMember;
using internal::ParseRow;
using internal::StringField;
using internal::UintField;

constexpr uint32_t kComplianceViewVersion = 1;
constexpr std::string_view kSelfKey = "s";
constexpr std::string_view kAllPeersScanKey = "g";
constexpr std::string_view kPeerPrefix = "c/";

enum class Kind : uint8_t {
  kOther,
  kPeerAdded,
  kPeerRemoved,
  kPolicyHashPublished,
  kDriftScanRequested,
  kDriftDetected,
  kDriftResolved,
  kQuarantineApplied,
  kQuarantineLifted,
};

constexpr internal::TypeKind<Kind> kTypes[] = {
    {types::kPeerAdded, Kind::kPeerAdded},
    {types::kPeerRemoved, Kind::kPeerRemoved},
    {types::kPolicyHashPublished, Kind::kPolicyHashPublished},
    {types::kDriftScanRequested, Kind::kDriftScanRequested},
    {types::kDriftDetected, Kind::kDriftDetected},
    {types::kDriftResolved, Kind::kDriftResolved},
    {types::kQuarantineApplied, Kind::kQuarantineApplied},
    {types::kQuarantineLifted, Kind::kQuarantineLifted},
};

// A drift scan request: for one peer (in its row) or for all peers (row "g").
struct Scan {
  uint64_t position = 0;
  std::string time;
  std::string requested_by;
};

struct PeerRow {
  std::string peer_id;
  bool known = false;           // added and not removed
  uint64_t added_position = 0;  // of its registry.peer.added.v1, when known
  std::optional<std::string> peer_policy_hash;
  std::optional<Scan> scan;  // the last scan asked for this peer by name
  bool drifted = false;
  std::optional<std::string> last_drift_at;
  std::optional<std::string> last_resolved_at;
  bool quarantine_applied = false;
  std::optional<std::string> quarantine_reason;
  std::optional<std::string> quarantine_since;
  std::deque<std::string> drift_events;  // compact JSON, oldest first, <= the named limit
};

// --- Row encoding --------------------------------------------------------------------------

void WriteScan(JsonWriter& w, const Scan& scan) {
  w.BeginObject()
      .Member("position", scan.position)
      .Member("time", scan.time)
      .Member("requested_by", scan.requested_by)
      .EndObject();
}

Scan DecodeScan(const simdjson::dom::object& object) {
  return Scan{UintField(object, "position", 0), std::string(StringField(object, "time")),
              std::string(StringField(object, "requested_by"))};
}

// Members shared by the row and the answer: last_drift_at, last_resolved_at, quarantine,
// drift_events.
void WriteDriftAndQuarantine(JsonWriter& w, const PeerRow& row) {
  OptionalStringMember(w, "last_drift_at", row.last_drift_at);
  OptionalStringMember(w, "last_resolved_at", row.last_resolved_at);
  w.Key("quarantine").BeginObject().Member("applied", row.quarantine_applied);
  OptionalStringMember(w, "reason", row.quarantine_reason);
  OptionalStringMember(w, "since", row.quarantine_since);
  w.EndObject().Key("drift_events").BeginArray();
  for (const auto& entry : row.drift_events) w.Raw(entry);
  w.EndArray();
}

std::string EncodePeerRow(const PeerRow& row) {
  ANNALS_ASSERT(!row.peer_id.empty());
  ANNALS_ASSERT(row.drift_events.size() <= kComplianceDriftEventsMax);
  ANNALS_ASSERT(row.known == (row.added_position != 0));
  JsonWriter w;
  w.BeginObject()
      .Member("peer_id", row.peer_id)
      .Member("known", row.known)
      .Member("added_position", row.added_position);
  OptionalStringMember(w, "peer_policy_hash", row.peer_policy_hash);
  w.Key("scan");
  if (row.scan) {
    WriteScan(w, *row.scan);
  } else {
    w.Null();
  }
  w.Member("drifted", row.drifted);
  WriteDriftAndQuarantine(w, row);
  w.EndObject();
  return w.Release();
}

// nullopt when `text` is not a compliance peer row.
std::optional<PeerRow> DecodePeerRow(simdjson::dom::parser& parser, std::string_view text) {
  const auto object = ParseRow(parser, text);
  if (!object) return std::nullopt;
  PeerRow row;
  row.peer_id = StringField(*object, "peer_id");
  if (row.peer_id.empty()) return std::nullopt;
  row.known = BoolField(*object, "known");
  row.added_position = UintField(*object, "added_position", 0);
  if (row.known != (row.added_position != 0)) return std::nullopt;
  row.peer_policy_hash = OptionalStringField(*object, "peer_policy_hash");
  if (auto scan = internal::ObjectField(*object, "scan")) row.scan = DecodeScan(*scan);
  row.drifted = BoolField(*object, "drifted");
  row.last_drift_at = OptionalStringField(*object, "last_drift_at");
  row.last_resolved_at = OptionalStringField(*object, "last_resolved_at");
  if (auto quarantine = internal::ObjectField(*object, "quarantine")) {
    row.quarantine_applied = BoolField(*quarantine, "applied");
    row.quarantine_reason = OptionalStringField(*quarantine, "reason");
    row.quarantine_since = OptionalStringField(*quarantine, "since");
  }
  if (auto events = internal::ArrayField(*object, "drift_events")) {
    for (simdjson::dom::element entry : *events) {
      row.drift_events.push_back(internal::ToJson(entry));
    }
  }
  return row;
}

std::string PeerKey(std::string_view peer_id) { return internal::RowKey(kPeerPrefix, peer_id); }

// The raw JSON of a member, "null" when absent (divergent_agents and threshold are kept as the
// event gives them: a count, a ratio or a list of offenders).
std::string RawField(const simdjson::dom::object& object, std::string_view key) {
  simdjson::dom::element value;
  if (object[key].get(value) != simdjson::SUCCESS) return "null";
  return internal::ToJson(value);
}

std::string EncodeDriftEvent(const simdjson::dom::object& data, uint64_t position,
                             const std::string& time) {
  auto hash = [&](std::string_view key) {
    const std::string_view value = StringField(data, key);
    return value.empty() ? std::nullopt : std::optional<std::string>(value);
  };
  JsonWriter w;
  w.BeginObject().Member("position", position).Member("time", time);
  OptionalStringMember(w, "local_policy_hash", hash("local_policy_hash"));
  OptionalStringMember(w, "peer_policy_hash", hash("peer_policy_hash"));
  w.Key("divergent_agents").Raw(RawField(data, "divergent_agents"));
  w.Key("threshold").Raw(RawField(data, "threshold"));
  w.EndObject();
  return w.Release();
}

// --- The fold ------------------------------------------------------------------------------

class ComplianceView final : public Projection {
 public:
  std::string_view name() const override { return kComplianceView; }
  uint32_t version() const override { return kComplianceViewVersion; }
  Status Apply(const FoldContext& context, const eventstore::Record& record, ViewTxn& txn) override;
  bool Wants(std::string_view type) const override {
    return internal::Classify(kTypes, type, Kind::kOther) != Kind::kOther;
  }

 private:
  // The peer's row; a fresh one (not known) when it has none.
  Result<PeerRow> LoadPeerRow(ViewTxn& txn, std::string_view peer_id);

  simdjson::dom::parser parser_;      // event data
  simdjson::dom::parser row_parser_;  // stored rows (so event data stays valid meanwhile)
};

Result<PeerRow> ComplianceView::LoadPeerRow(ViewTxn& txn, std::string_view peer_id) {
  ANNALS_ASSIGN_OR_RETURN(auto text, txn.Get(PeerKey(peer_id)));
  if (!text) {
    PeerRow row;
    row.peer_id = peer_id;
    return row;
  }
  auto row = DecodePeerRow(row_parser_, *text);
  if (!row || row->peer_id != peer_id) {
    return Status::Corruption("compliance view: row " + PeerKey(peer_id) + " is not that peer");
  }
  return std::move(*row);
}

// The events that are not about one peer's row: our own hash and all-peers scans.
void ApplyToSelf(Kind kind, const simdjson::dom::object& data, const eventstore::Record& record,
                 ViewTxn& txn) {
  JsonWriter w;
  if (kind == Kind::kPolicyHashPublished) {
    w.BeginObject()
        .Member("policy_hash", StringField(data, "policy_hash"))
        .Member("published_at", internal::EventTime(record))
        .EndObject();
    txn.Put(kSelfKey, w.str());
  } else {
    ANNALS_ASSERT(kind == Kind::kDriftScanRequested);
    WriteScan(w, Scan{record.position(), internal::EventTime(record),
                      std::string(StringField(data, "requested_by"))});
    txn.Put(kAllPeersScanKey, w.str());
  }
}

// Applies one event to a peer's row; false when it changes nothing.
bool ApplyToPeerRow(Kind kind, const simdjson::dom::object& data, const eventstore::Record& record,
                    PeerRow& row) {
  const std::string time = internal::EventTime(record);
  switch (kind) {
    case Kind::kPeerAdded:
      if (row.known) return false;  // already added
      row.known = true;
      row.added_position = record.position();
      return true;
    case Kind::kPolicyHashPublished:
      row.peer_policy_hash = std::string(StringField(data, "policy_hash"));
      return true;
    case Kind::kDriftScanRequested:
      row.scan = Scan{record.position(), time, std::string(StringField(data, "requested_by"))};
      return true;
    case Kind::kDriftDetected:
      row.drifted = true;
      row.last_drift_at = time;
      row.drift_events.push_back(EncodeDriftEvent(data, record.position(), time));
      while (row.drift_events.size() > kComplianceDriftEventsMax) row.drift_events.pop_front();
      return true;
    case Kind::kDriftResolved:
      row.drifted = false;
      row.last_resolved_at = time;
      return true;
    case Kind::kQuarantineApplied:
      if (!row.quarantine_applied) row.quarantine_since = time;  // a repeat keeps the start
      row.quarantine_applied = true;
      row.quarantine_reason = std::string(StringField(data, "reason"));
      return true;
    case Kind::kQuarantineLifted:
      if (!row.quarantine_applied) return true;  // nothing to lift; the row still names the peer
      row.quarantine_applied = false;
      row.quarantine_since = time;
      row.quarantine_reason = std::string(StringField(data, "reason"));
      return true;
    default: return false;
  }
}

Status ComplianceView::Apply(const FoldContext& context, const eventstore::Record& record,
                             ViewTxn& txn) {
  if (!context.IsOwn(record)) return Status::Ok();
  const Kind kind = internal::Classify(kTypes, record.event().type(), Kind::kOther);
  if (kind == Kind::kOther) return Status::Ok();
  const auto data = internal::ParseData(parser_, record);
  if (!data) return Status::Ok();
  const std::string_view peer_id = StringField(*data, "peer_id");
  if (kind == Kind::kPolicyHashPublished && StringField(*data, "policy_hash").empty()) {
    return Status::Ok();
  }
  const bool for_self = (kind == Kind::kPolicyHashPublished && peer_id == kCompliancePeerSelf) ||
                        (kind == Kind::kDriftScanRequested && peer_id.empty());
  if (for_self) {
    ApplyToSelf(kind, *data, record, txn);
    return Status::Ok();
  }
  if (peer_id.empty() || peer_id == kCompliancePeerSelf) return Status::Ok();
  if (kind == Kind::kPeerRemoved) {
    txn.Delete(PeerKey(peer_id));  // its compliance state goes with it
    return Status::Ok();
  }
  ANNALS_ASSIGN_OR_RETURN(PeerRow row, LoadPeerRow(txn, peer_id));
  if (ApplyToPeerRow(kind, *data, record, row)) txn.Put(PeerKey(peer_id), EncodePeerRow(row));
  return Status::Ok();
}

// --- Queries -------------------------------------------------------------------------------

// What every peer's answer shares: our hash and the last all-peers scan.
struct Shared {
  std::optional<std::string> local_policy_hash;
  std::optional<Scan> all_peers_scan;
};

Result<Shared> LoadShared(const ViewReader& reader, simdjson::dom::parser& parser) {
  Shared shared;
  ANNALS_ASSIGN_OR_RETURN(auto self, reader.Get(kSelfKey));
  if (self) {
    const auto object = ParseRow(parser, *self);
    if (!object) return Status::Corruption("compliance view: row s is not JSON");
    shared.local_policy_hash = OptionalStringField(*object, "policy_hash");
  }
  ANNALS_ASSIGN_OR_RETURN(auto scan, reader.Get(kAllPeersScanKey));
  if (scan) {
    const auto object = ParseRow(parser, *scan);
    if (!object) return Status::Corruption("compliance view: row g is not JSON");
    shared.all_peers_scan = DecodeScan(*object);
  }
  return shared;
}

std::string_view DriftStatus(const PeerRow& row, const Shared& shared) {
  if (row.drifted) return "drifted";
  if (!shared.local_policy_hash || !row.peer_policy_hash) return "unknown";
  return *shared.local_policy_hash == *row.peer_policy_hash ? "in_sync" : "mismatch";
}

// The later of the peer's own last scan and the last all-peers scan made while it was added.
std::optional<Scan> LastScan(const PeerRow& row, const Shared& shared) {
  std::optional<Scan> last = row.scan;
  const auto& all = shared.all_peers_scan;
  if (all && row.known && all->position > row.added_position &&
      (!last || all->position > last->position)) {
    last = all;
  }
  return last;
}

// The members of one peer's answer (inside an object the caller opened).
void WritePeerMembers(JsonWriter& w, const PeerRow& row, const Shared& shared) {
  w.Member("peer_id", row.peer_id).Member("peer_known", row.known);
  OptionalStringMember(w, "local_policy_hash", shared.local_policy_hash);
  OptionalStringMember(w, "peer_policy_hash", row.peer_policy_hash);
  w.Member("drift_status", DriftStatus(row, shared));
  const auto scan = LastScan(row, shared);
  OptionalStringMember(w, "last_scan_requested_at",
                       scan ? std::optional(scan->time) : std::nullopt);
  OptionalStringMember(w, "last_scan_requested_by",
                       scan ? std::optional(scan->requested_by) : std::nullopt);
  WriteDriftAndQuarantine(w, row);
}

Result<PeerRow> ReadPeerRow(simdjson::dom::parser& parser, std::string_view key,
                            std::string_view text) {
  auto row = DecodePeerRow(parser, text);
  if (!row) return Status::Corruption("compliance view: row " + std::string(key) + " is bad");
  return std::move(*row);
}

}  // namespace

std::unique_ptr<Projection> MakeComplianceView() { return std::make_unique<ComplianceView>(); }

Result<std::string> CompliancePeerJson(const ViewReader& reader, std::string_view peer_id) {
  simdjson::dom::parser parser;
  const std::string key = PeerKey(peer_id);
  ANNALS_ASSIGN_OR_RETURN(auto text, reader.Get(key));
  if (peer_id.empty() || !text) {
    return Status::NotFound("no peer or compliance event names \"" + std::string(peer_id) + "\"");
  }
  ANNALS_ASSIGN_OR_RETURN(const PeerRow row, ReadPeerRow(parser, key, *text));
  ANNALS_ASSIGN_OR_RETURN(const Shared shared, LoadShared(reader, parser));
  JsonWriter w;
  w.BeginObject().Member("position", reader.position());
  WritePeerMembers(w, row, shared);
  w.EndObject();
  return w.Release();
}

Result<std::string> CompliancePeersJson(const ViewReader& reader) {
  simdjson::dom::parser parser;
  ANNALS_ASSIGN_OR_RETURN(const Shared shared, LoadShared(reader, parser));
  JsonWriter w;
  w.BeginObject().Member("position", reader.position());
  OptionalStringMember(w, "local_policy_hash", shared.local_policy_hash);
  w.Key("peers").BeginArray();
  Status status;
  ANNALS_RETURN_IF_ERROR(
      reader.Scan(kPeerPrefix, "", [&](std::string_view key, std::string_view text) {
        auto row = ReadPeerRow(parser, key, text);
        if (!row.ok()) {
          status = row.status();
          return false;
        }
        w.BeginObject();
        WritePeerMembers(w, *row, shared);
        w.EndObject();
        return true;
      }));
  ANNALS_RETURN_IF_ERROR(status);
  w.EndArray().EndObject();
  return w.Release();
}

}  // namespace annals::projections
