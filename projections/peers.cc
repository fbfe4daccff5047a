// The peers view (peers.h; rows and rules in docs/views/peers.md).
//
// Rows:
//   p/<peer_id>     the peer, as compact JSON in exactly the shape PeerJson serves
//   l/<license_id>  {"peer_id":...,"key_sha256":...}: the peer a live license belongs to (later
//                   license events name only the license) and its key's hash. Exists exactly
//                   while that peer shows the license.
//   k/<key_sha256>  {"license_id":...}: the live license whose key hashes to this (federation
//                   auth looks a presented key up here). Exists exactly while l/<license_id> does.
#include "annals/projections/peers.h"

#include <simdjson.h>

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
using internal::IntField;
using internal::OptionalStringField;
using internal::OptionalStringMember;
using internal::StringField;

constexpr uint32_t kPeersViewVersion = 2;  // 2: the k/ rows
constexpr std::string_view kPeerPrefix = "p/";
constexpr std::string_view kLicensePrefix = "l/";
constexpr std::string_view kKeyPrefix = "k/";

// EVENTS.md, "Licenses": the defaults of registry.license.issued.v1.
constexpr int64_t kLicenseMaxAgentsDefault = 100;
constexpr int64_t kLicenseMaxEventsPerMinuteDefault = 1000;

enum class Kind : uint8_t {
  kOther,
  kPeerAdded,
  kPeerUpdated,
  kPeerRemoved,
  kPeerStatusChanged,
  kPeerSyncSucceeded,
  kPeerSyncFailed,
  kLicenseIssued,
  kLicenseSuspended,
  kLicenseRevoked,
  kLicenseReinstated,
  kDriftDetected,
  kDriftResolved,
  kQuarantineApplied,
  kQuarantineLifted,
};

constexpr internal::TypeKind<Kind> kTypes[] = {
    {types::kPeerAdded, Kind::kPeerAdded},
    {types::kPeerUpdated, Kind::kPeerUpdated},
    {types::kPeerRemoved, Kind::kPeerRemoved},
    {types::kPeerStatusChanged, Kind::kPeerStatusChanged},
    {types::kPeerSyncSucceeded, Kind::kPeerSyncSucceeded},
    {types::kPeerSyncFailed, Kind::kPeerSyncFailed},
    {types::kLicenseIssued, Kind::kLicenseIssued},
    {types::kLicenseSuspended, Kind::kLicenseSuspended},
    {types::kLicenseRevoked, Kind::kLicenseRevoked},
    {types::kLicenseReinstated, Kind::kLicenseReinstated},
    {types::kDriftDetected, Kind::kDriftDetected},
    {types::kDriftResolved, Kind::kDriftResolved},
    {types::kQuarantineApplied, Kind::kQuarantineApplied},
    {types::kQuarantineLifted, Kind::kQuarantineLifted},
};

// EVENTS.md, registry.peer.status_changed.v1: any other value is ignored.
bool IsPeerStatus(std::string_view status) {
  return status == "ACTIVE" || status == "INACTIVE" || status == "DRIFT" || status == "SUSPENDED" ||
         status == "REVOKED";
}

struct License {
  std::string license_id;
  std::string tier;
  std::string status;  // "active", "suspended", "revoked"
  int64_t max_agents = kLicenseMaxAgentsDefault;
  int64_t max_events_per_minute = kLicenseMaxEventsPerMinuteDefault;
  std::optional<std::string> reason;  // of the last suspend, revoke or reinstate
};

struct Peer {
  std::string peer_id;
  std::string name;
  std::string base_url;
  std::string spiffe_id;
  std::string kind;
  std::string relation;
  std::string status = "ACTIVE";
  std::optional<std::string> status_reason;
  std::optional<std::string> last_synced_at;
  int64_t cards_pulled = 0;
  int64_t consecutive_failures = 0;
  std::optional<std::string> last_error;
  std::optional<License> license;
  bool drift = false;
  bool quarantined = false;
  std::string added_at;
  std::string updated_at;
};

// --- Row encoding --------------------------------------------------------------------------

void WriteLicense(JsonWriter& w, const License& license) {
  w.BeginObject()
      .Member("license_id", license.license_id)
      .Member("tier", license.tier)
      .Member("status", license.status)
      .Member("max_agents", license.max_agents)
      .Member("max_events_per_minute", license.max_events_per_minute);
  OptionalStringMember(w, "reason", license.reason);
  w.EndObject();
}

std::string EncodePeer(const Peer& peer) {
  ANNALS_ASSERT(!peer.peer_id.empty());
  ANNALS_ASSERT(IsPeerStatus(peer.status));
  JsonWriter w;
  w.BeginObject()
      .Member("peer_id", peer.peer_id)
      .Member("name", peer.name)
      .Member("base_url", peer.base_url)
      .Member("spiffe_id", peer.spiffe_id)
      .Member("kind", peer.kind)
      .Member("relation", peer.relation)
      .Member("status", peer.status);
  OptionalStringMember(w, "status_reason", peer.status_reason);
  OptionalStringMember(w, "last_synced_at", peer.last_synced_at);
  w.Member("cards_pulled", peer.cards_pulled)
      .Member("consecutive_failures", peer.consecutive_failures);
  OptionalStringMember(w, "last_error", peer.last_error);
  w.Key("license");
  if (peer.license) {
    WriteLicense(w, *peer.license);
  } else {
    w.Null();
  }
  w.Member("drift", peer.drift)
      .Member("quarantined", peer.quarantined)
      .Member("added_at", peer.added_at)
      .Member("updated_at", peer.updated_at)
      .EndObject();
  return w.Release();
}

License DecodeLicense(const simdjson::dom::object& object) {
  License license;
  license.license_id = StringField(object, "license_id");
  license.tier = StringField(object, "tier");
  license.status = StringField(object, "status");
  license.max_agents = IntField(object, "max_agents", kLicenseMaxAgentsDefault);
  license.max_events_per_minute =
      IntField(object, "max_events_per_minute", kLicenseMaxEventsPerMinuteDefault);
  license.reason = OptionalStringField(object, "reason");
  return license;
}

// nullopt when `text` is not a peer row.
std::optional<Peer> DecodePeer(simdjson::dom::parser& parser, std::string_view text) {
  const auto row = internal::ParseRow(parser, text);
  if (!row) return std::nullopt;
  const simdjson::dom::object& object = *row;
  Peer peer;
  peer.peer_id = StringField(object, "peer_id");
  if (peer.peer_id.empty()) return std::nullopt;
  peer.name = StringField(object, "name");
  peer.base_url = StringField(object, "base_url");
  peer.spiffe_id = StringField(object, "spiffe_id");
  peer.kind = StringField(object, "kind");
  peer.relation = StringField(object, "relation");
  peer.status = StringField(object, "status");
  if (!IsPeerStatus(peer.status)) return std::nullopt;
  peer.status_reason = OptionalStringField(object, "status_reason");
  peer.last_synced_at = OptionalStringField(object, "last_synced_at");
  peer.cards_pulled = IntField(object, "cards_pulled", 0);
  peer.consecutive_failures = IntField(object, "consecutive_failures", 0);
  peer.last_error = OptionalStringField(object, "last_error");
  if (auto license = internal::ObjectField(object, "license")) {
    peer.license = DecodeLicense(*license);
  }
  peer.drift = BoolField(object, "drift");
  peer.quarantined = BoolField(object, "quarantined");
  peer.added_at = StringField(object, "added_at");
  peer.updated_at = StringField(object, "updated_at");
  return peer;
}

std::string PeerKey(std::string_view peer_id) { return internal::RowKey(kPeerPrefix, peer_id); }

std::string LicenseKey(std::string_view license_id) {
  return internal::RowKey(kLicensePrefix, license_id);
}

std::string KeyKey(std::string_view key_sha256) { return internal::RowKey(kKeyPrefix, key_sha256); }

std::string EncodeLicenseOwner(std::string_view peer_id, std::string_view key_sha256) {
  JsonWriter w;
  w.BeginObject().Member("peer_id", peer_id).Member("key_sha256", key_sha256).EndObject();
  return w.Release();
}

// --- The fold ------------------------------------------------------------------------------

class PeersView final : public Projection {
 public:
  std::string_view name() const override { return kPeersView; }
  uint32_t version() const override { return kPeersViewVersion; }
  Status Apply(const FoldContext& context, const eventstore::Record& record, ViewTxn& txn) override;
  bool Wants(std::string_view type) const override {
    return internal::Classify(kTypes, type, Kind::kOther) != Kind::kOther;
  }

 private:
  Result<std::optional<Peer>> LoadPeer(ViewTxn& txn, std::string_view peer_id);
  Status AddPeer(const simdjson::dom::object& data, const std::string& time, ViewTxn& txn);
  Status RemovePeer(const simdjson::dom::object& data, ViewTxn& txn);
  Status ChangePeer(Kind kind, const simdjson::dom::object& data, const std::string& time,
                    ViewTxn& txn);
  // Deletes the l/ row of a license and the k/ row of its key.
  Status DropLicense(std::string_view license_id, ViewTxn& txn);
  Status IssueLicense(const simdjson::dom::object& data, const std::string& time, ViewTxn& txn);
  Status ChangeLicense(Kind kind, const simdjson::dom::object& data, const std::string& time,
                       ViewTxn& txn);

  simdjson::dom::parser parser_;      // event data
  simdjson::dom::parser row_parser_;  // stored rows (so event data stays valid meanwhile)
};

Status PeersView::Apply(const FoldContext& context, const eventstore::Record& record,
                        ViewTxn& txn) {
  if (!context.IsOwn(record)) return Status::Ok();
  const Kind kind = internal::Classify(kTypes, record.event().type(), Kind::kOther);
  if (kind == Kind::kOther) return Status::Ok();
  const auto data = internal::ParseData(parser_, record);
  if (!data) return Status::Ok();
  const std::string time = internal::EventTime(record);
  switch (kind) {
    case Kind::kPeerAdded: return AddPeer(*data, time, txn);
    case Kind::kPeerRemoved: return RemovePeer(*data, txn);
    case Kind::kLicenseIssued: return IssueLicense(*data, time, txn);
    case Kind::kLicenseSuspended:
    case Kind::kLicenseRevoked:
    case Kind::kLicenseReinstated: return ChangeLicense(kind, *data, time, txn);
    default: return ChangePeer(kind, *data, time, txn);
  }
}

Result<std::optional<Peer>> PeersView::LoadPeer(ViewTxn& txn, std::string_view peer_id) {
  if (peer_id.empty()) return std::optional<Peer>();
  ANNALS_ASSIGN_OR_RETURN(auto row, txn.Get(PeerKey(peer_id)));
  if (!row) return std::optional<Peer>();
  auto peer = DecodePeer(row_parser_, *row);
  if (!peer || peer->peer_id != peer_id) {
    return Status::Corruption("peers view: row " + PeerKey(peer_id) + " is not that peer");
  }
  return peer;
}

Status PeersView::AddPeer(const simdjson::dom::object& data, const std::string& time,
                          ViewTxn& txn) {
  const std::string_view peer_id = StringField(data, "peer_id");
  if (peer_id.empty()) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(auto existing, LoadPeer(txn, peer_id));
  if (existing) return Status::Ok();  // already added: changes come through updated
  Peer peer;
  peer.peer_id = peer_id;
  peer.name = StringField(data, "name");
  peer.base_url = StringField(data, "base_url");
  peer.spiffe_id = StringField(data, "spiffe_id");
  peer.kind = StringField(data, "kind");
  peer.relation = StringField(data, "relation");
  peer.added_at = time;
  peer.updated_at = time;
  txn.Put(PeerKey(peer_id), EncodePeer(peer));
  return Status::Ok();
}

Status PeersView::RemovePeer(const simdjson::dom::object& data, ViewTxn& txn) {
  const std::string_view peer_id = StringField(data, "peer_id");
  ANNALS_ASSIGN_OR_RETURN(auto peer, LoadPeer(txn, peer_id));
  if (!peer) return Status::Ok();
  if (peer->license) ANNALS_RETURN_IF_ERROR(DropLicense(peer->license->license_id, txn));
  txn.Delete(PeerKey(peer_id));
  return Status::Ok();
}

Status PeersView::DropLicense(std::string_view license_id, ViewTxn& txn) {
  ANNALS_ASSIGN_OR_RETURN(auto owner, txn.Get(LicenseKey(license_id)));
  if (owner) {
    const auto owner_object = internal::ParseRow(row_parser_, *owner);
    if (!owner_object) {
      return Status::Corruption("peers view: row " + LicenseKey(license_id) + " is not JSON");
    }
    const std::string_view key = StringField(*owner_object, "key_sha256");
    if (!key.empty()) txn.Delete(KeyKey(key));
  }
  txn.Delete(LicenseKey(license_id));
  return Status::Ok();
}

// Applies one peer-level event to `peer`; false when the event changes nothing (unusable data).
bool ApplyToPeer(Kind kind, const simdjson::dom::object& data, const std::string& time,
                 Peer& peer) {
  switch (kind) {
    case Kind::kPeerUpdated:
      for (auto [key, field] :
           {std::pair{"name", &peer.name}, std::pair{"base_url", &peer.base_url},
            std::pair{"spiffe_id", &peer.spiffe_id}}) {
        std::string_view value;
        if (data[key].get_string().get(value) == simdjson::SUCCESS) *field = value;
      }
      return true;
    case Kind::kPeerStatusChanged: {
      const std::string_view status = StringField(data, "status");
      if (!IsPeerStatus(status)) return false;
      peer.status = status;
      peer.status_reason = std::string(StringField(data, "reason"));
      return true;
    }
    case Kind::kPeerSyncSucceeded:
      peer.last_synced_at = time;
      peer.cards_pulled = IntField(data, "cards_pulled", 0);
      peer.consecutive_failures = 0;
      return true;
    case Kind::kPeerSyncFailed:
      ++peer.consecutive_failures;
      peer.last_error = std::string(StringField(data, "error"));
      return true;
    case Kind::kDriftDetected: peer.drift = true; return true;
    case Kind::kDriftResolved: peer.drift = false; return true;
    case Kind::kQuarantineApplied: peer.quarantined = true; return true;
    case Kind::kQuarantineLifted: peer.quarantined = false; return true;
    default: return false;
  }
}

Status PeersView::ChangePeer(Kind kind, const simdjson::dom::object& data, const std::string& time,
                             ViewTxn& txn) {
  ANNALS_ASSIGN_OR_RETURN(auto peer, LoadPeer(txn, StringField(data, "peer_id")));
  if (!peer) return Status::Ok();  // unknown peer: ignored
  if (!ApplyToPeer(kind, data, time, *peer)) return Status::Ok();
  peer->updated_at = time;
  txn.Put(PeerKey(peer->peer_id), EncodePeer(*peer));
  return Status::Ok();
}

Status PeersView::IssueLicense(const simdjson::dom::object& data, const std::string& time,
                               ViewTxn& txn) {
  const std::string_view license_id = StringField(data, "license_id");
  if (license_id.empty()) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(auto owner, txn.Get(LicenseKey(license_id)));
  if (owner) return Status::Ok();  // a live license is issued once
  const std::string_view key_sha256 = StringField(data, "key_sha256");
  if (key_sha256.empty()) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(auto peer, LoadPeer(txn, StringField(data, "peer_id")));
  if (!peer) return Status::Ok();
  // A key serves one live license: another peer's license keeps it (this issue is ignored); the
  // peer's own license being replaced hands it over.
  ANNALS_ASSIGN_OR_RETURN(auto key_holder, txn.Get(KeyKey(key_sha256)));
  if (key_holder) {
    const auto holder = internal::ParseRow(row_parser_, *key_holder);
    if (!holder) return Status::Corruption("peers view: row " + KeyKey(key_sha256) + " is not JSON");
    if (!peer->license || StringField(*holder, "license_id") != peer->license->license_id) {
      return Status::Ok();
    }
  }
  if (peer->license) ANNALS_RETURN_IF_ERROR(DropLicense(peer->license->license_id, txn));  // replaced
  License license;
  license.license_id = license_id;
  license.tier = StringField(data, "tier");
  license.status = "active";
  license.max_agents = IntField(data, "max_agents", kLicenseMaxAgentsDefault);
  license.max_events_per_minute =
      IntField(data, "max_events_per_minute", kLicenseMaxEventsPerMinuteDefault);
  peer->license = std::move(license);
  peer->updated_at = time;
  txn.Put(LicenseKey(license_id), EncodeLicenseOwner(peer->peer_id, key_sha256));
  {
    JsonWriter w;
    w.BeginObject().Member("license_id", license_id).EndObject();
    txn.Put(KeyKey(key_sha256), w.str());
  }
  txn.Put(PeerKey(peer->peer_id), EncodePeer(*peer));
  return Status::Ok();
}

Status PeersView::ChangeLicense(Kind kind, const simdjson::dom::object& data,
                                const std::string& time, ViewTxn& txn) {
  const std::string_view license_id = StringField(data, "license_id");
  if (license_id.empty()) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(auto owner, txn.Get(LicenseKey(license_id)));
  if (!owner) return Status::Ok();  // never issued to a known peer, replaced, or peer removed
  const auto owner_object = internal::ParseRow(row_parser_, *owner);
  if (!owner_object) {
    return Status::Corruption("peers view: row " + LicenseKey(license_id) + " is not JSON");
  }
  const std::string peer_id(StringField(*owner_object, "peer_id"));
  ANNALS_ASSIGN_OR_RETURN(auto peer, LoadPeer(txn, peer_id));
  if (!peer || !peer->license || peer->license->license_id != license_id) {
    return Status::Corruption("peers view: row " + LicenseKey(license_id) + " names peer " +
                              peer_id + ", which does not hold it");
  }
  License& license = *peer->license;
  switch (kind) {
    case Kind::kLicenseSuspended:
      if (license.status == "revoked") return Status::Ok();  // only reinstated lifts a revoke
      license.status = "suspended";
      break;
    case Kind::kLicenseRevoked: license.status = "revoked"; break;
    case Kind::kLicenseReinstated: license.status = "active"; break;
    default: ANNALS_UNREACHABLE();
  }
  license.reason = std::string(StringField(data, "reason"));
  peer->updated_at = time;
  txn.Put(PeerKey(peer->peer_id), EncodePeer(*peer));
  return Status::Ok();
}

}  // namespace

std::unique_ptr<Projection> MakePeersView() { return std::make_unique<PeersView>(); }

Result<std::string> PeersJson(const ViewReader& reader) {
  JsonWriter w;
  w.BeginObject().Member("position", reader.position()).Key("peers").BeginArray();
  ANNALS_RETURN_IF_ERROR(reader.Scan(kPeerPrefix, "", [&](std::string_view, std::string_view row) {
    w.Raw(row);
    return true;
  }));
  w.EndArray().EndObject();
  return w.Release();
}

Result<LicenseGrant> LicenseByKeySha256(const ViewReader& reader, std::string_view key_sha256) {
  auto not_found = [] { return Status::NotFound("no live license has this key"); };
  if (key_sha256.empty()) return not_found();
  ANNALS_ASSIGN_OR_RETURN(auto key_row, reader.Get(KeyKey(key_sha256)));
  if (!key_row) return not_found();
  simdjson::dom::parser parser;
  simdjson::dom::object key_object;
  if (parser.parse(*key_row).get_object().get(key_object) != simdjson::SUCCESS) {
    return Status::Corruption("peers view: row " + KeyKey(key_sha256) + " is not JSON");
  }
  LicenseGrant grant;
  grant.license_id = StringField(key_object, "license_id");
  ANNALS_ASSIGN_OR_RETURN(auto owner, reader.Get(LicenseKey(grant.license_id)));
  if (!owner) return Status::Corruption("peers view: license " + grant.license_id + " has a key row and no owner");
  simdjson::dom::object owner_object;
  if (parser.parse(*owner).get_object().get(owner_object) != simdjson::SUCCESS) {
    return Status::Corruption("peers view: row " + LicenseKey(grant.license_id) + " is not JSON");
  }
  grant.peer_id = StringField(owner_object, "peer_id");
  ANNALS_ASSIGN_OR_RETURN(auto peer_row, reader.Get(PeerKey(grant.peer_id)));
  simdjson::dom::object peer_object;
  if (!peer_row || parser.parse(*peer_row).get_object().get(peer_object) != simdjson::SUCCESS) {
    return Status::Corruption("peers view: license " + grant.license_id + " names peer " +
                              grant.peer_id + ", which has no row");
  }
  auto license = internal::ObjectField(peer_object, "license");
  if (!license) return Status::Corruption("peers view: peer " + grant.peer_id + " shows no license");
  grant.status = StringField(*license, "status");
  grant.peer_status = StringField(peer_object, "status");
  return grant;
}

Result<PeerHealth> PeerHealthOf(const ViewReader& reader, std::string_view peer_id) {
  std::optional<std::string> row;
  if (!peer_id.empty()) {
    ANNALS_ASSIGN_OR_RETURN(row, reader.Get(PeerKey(peer_id)));
  }
  if (!row) return Status::NotFound("no peer \"" + std::string(peer_id) + "\"");
  simdjson::dom::parser parser;
  auto peer = DecodePeer(parser, *row);
  if (!peer) return Status::Corruption("peers view: row " + PeerKey(peer_id) + " is not a peer");
  return PeerHealth{peer->status, peer->consecutive_failures};
}

Result<std::string> PeerStatus(const ViewReader& reader, std::string_view peer_id) {
  ANNALS_ASSIGN_OR_RETURN(PeerHealth health, PeerHealthOf(reader, peer_id));
  return std::move(health.status);
}

Result<std::vector<PeerIdentity>> PeersBySpiffeId(const ViewReader& reader,
                                                  std::string_view spiffe_id) {
  std::vector<PeerIdentity> peers;
  if (spiffe_id.empty()) return peers;
  simdjson::dom::parser parser;
  Status corrupt;
  ANNALS_RETURN_IF_ERROR(reader.Scan(kPeerPrefix, "", [&](std::string_view key,
                                                          std::string_view row) {
    simdjson::dom::object peer;
    if (parser.parse(row.data(), row.size()).get_object().get(peer) != simdjson::SUCCESS) {
      corrupt = Status::Corruption("peers view: row " + std::string(key) + " is not JSON");
      return false;
    }
    if (StringField(peer, "spiffe_id") == spiffe_id) {
      peers.push_back({std::string(StringField(peer, "peer_id")),
                       std::string(StringField(peer, "status"))});
    }
    return true;
  }));
  ANNALS_RETURN_IF_ERROR(corrupt);
  return peers;
}

Result<std::string> PeerJson(const ViewReader& reader, std::string_view peer_id) {
  std::optional<std::string> row;
  if (!peer_id.empty()) {
    ANNALS_ASSIGN_OR_RETURN(row, reader.Get(PeerKey(peer_id)));
  }
  if (!row) return Status::NotFound("no peer \"" + std::string(peer_id) + "\"");
  JsonWriter w;
  w.BeginObject().Member("position", reader.position()).Key("peer").Raw(*row).EndObject();
  return w.Release();
}

}  // namespace annals::projections
