// The card-cache view (card_cache.h). Rows, all compact JSON (docs/views/card-cache.md):
//
//   n                    {"last_change":K}: the last change number given to a feed entry
//   c/<did>              {"change":K,"relation":R,"peer_id":P,"removed":B}: the did's current
//                        feed entry, where its card came from (R: internal::CardRelation number)
//   f/<K: 20 digits>     the feed entry of change K, exactly as the feed serves it
//   p/<peer_id>          the last registry card fetched from a peer, as served (no position)
//   m/<peer_id>          {"status":S}: a peer this registry added and has not removed
//   o/card               the own registry card's operator-editable fields, canonical
//   o/policy             {"policy_hash":H}: the own signed core's policy hash
//   o/etag               "<64 hex>": the own card's ETag, a JSON string that is also the HTTP
//                        entity-tag, so the 304 path returns the row as it is
//   o/volatile           {"local_agents":N,"active_peers":M,"updated_at":T}
#include "annals/projections/card_cache.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "annals/projections/compliance.h"
#include "annals/projections/registry_views.h"
#include "annals/schemas/event_types.h"
#include "internal/card_precedence.h"
#include "internal/event_data.h"
#include "internal/rows.h"

namespace annals::projections {
namespace {

namespace types = schemas::event_types;  // EVENTS.md; registry.card.edited.v1 is annals' own
using internal::BoolField;
using internal::CardRelation;
using internal::CardRelationNamed;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Row keys.
constexpr std::string_view kChangeCounterKey = "n";
constexpr std::string_view kIndexPrefix = "c/";
constexpr std::string_view kFeedPrefix = "f/";
constexpr std::string_view kPeerCardPrefix = "p/";
constexpr std::string_view kPeerPrefix = "m/";
constexpr std::string_view kOwnCardKey = "o/card";
constexpr std::string_view kOwnPolicyKey = "o/policy";
constexpr std::string_view kOwnEtagKey = "o/etag";
constexpr std::string_view kOwnVolatileKey = "o/volatile";

constexpr std::string_view kActiveStatus = "ACTIVE";
constexpr std::string_view kVerdictVerified = "verified";
constexpr std::string_view kVerdictUnverified = "unverified";
constexpr std::string_view kVerdictRejected = "rejected";
// The largest uint64 has 20 decimal digits: zero-padded to 20, key order is change order.
constexpr size_t kChangeDigits = 20;
// A stored ETag: a quoted SHA-256 in hex.
constexpr size_t kEtagSize = 2 * kSha256Size + 2;

// The operator-editable fields of the own registry card and the JSON kind each must have.
constexpr std::array<std::pair<std::string_view, element_type>, 7> kEditableFields = {{
    {"name", element_type::STRING},
    {"description", element_type::STRING},
    {"operator", element_type::OBJECT},
    {"capabilities", element_type::ARRAY},
    {"endpoints", element_type::OBJECT},
    {"fees", element_type::OBJECT},
    {"identity", element_type::OBJECT},
}};

// --- Canonical JSON (the ETag's input) ---

void WriteCanonical(const element& value, JsonWriter& out) {
  switch (value.type()) {
    case element_type::ARRAY: {
      simdjson::dom::array array;
      ANNALS_ASSERT(value.get_array().get(array) == simdjson::SUCCESS);
      out.BeginArray();
      for (element item : array) WriteCanonical(item, out);
      out.EndArray();
      return;
    }
    case element_type::OBJECT: {
      object members_in_order;
      ANNALS_ASSERT(value.get_object().get(members_in_order) == simdjson::SUCCESS);
      std::vector<std::pair<std::string_view, element>> members;
      for (auto member : members_in_order) {
        members.emplace_back(member.key, member.value);
      }
      // char_traits<char> compares as unsigned char: bytewise order of the UTF-8 keys.
      std::stable_sort(members.begin(), members.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      out.BeginObject();
      for (const auto& [key, item] : members) {
        out.Key(key);
        WriteCanonical(item, out);
      }
      out.EndObject();
      return;
    }
    case element_type::STRING: out.String(value.get_string().value_unsafe()); return;
    case element_type::INT64: out.Int(value.get_int64().value_unsafe()); return;
    case element_type::UINT64: out.Uint(value.get_uint64().value_unsafe()); return;
    case element_type::DOUBLE: out.Double(value.get_double().value_unsafe()); return;
    case element_type::BOOL: out.Bool(value.get_bool().value_unsafe()); return;
    case element_type::NULL_VALUE: out.Null(); return;
  }
}

std::string Canonical(const element& value) {
  JsonWriter out;
  WriteCanonical(value, out);
  return out.Release();
}

// An object of already-serialized members, in the map's (bytewise) key order.
std::string ObjectJson(const std::map<std::string, std::string>& members) {
  JsonWriter out;
  out.BeginObject();
  for (const auto& [key, json] : members) out.Key(key).Raw(json);
  out.EndObject();
  return out.Release();
}

// --- Reading stored rows ---

Status RowCorruption(std::string_view key) {
  return Status::Corruption("card-cache: row '" + std::string(key) +
                            "' is not what the view writes");
}

Result<object> ParseRow(simdjson::dom::parser& parser, std::string_view key,
                        const std::string& row) {
  std::optional<object> value = internal::ParseRow(parser, row);
  if (!value) return RowCorruption(key);
  return *value;
}

// The members of a stored object, each as minified JSON text.
Result<std::map<std::string, std::string>> RowMembers(simdjson::dom::parser& parser,
                                                      std::string_view key,
                                                      const std::string& row) {
  ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(parser, key, row));
  std::map<std::string, std::string> members;
  for (auto member : value) members.emplace(member.key, internal::ToJson(member.value));
  return members;
}

Result<std::string> ParsePolicyRow(simdjson::dom::parser& parser, const std::string& row) {
  ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(parser, kOwnPolicyKey, row));
  std::string_view hash;
  if (value["policy_hash"].get_string().get(hash) != simdjson::SUCCESS) {
    return RowCorruption(kOwnPolicyKey);
  }
  return std::string(hash);
}

// The own card's volatile fields.
struct Volatile {
  uint64_t local_agents = 0;
  uint64_t active_peers = 0;
  std::string updated_at;
};

Result<Volatile> ParseVolatileRow(simdjson::dom::parser& parser, const std::string& row) {
  ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(parser, kOwnVolatileKey, row));
  Volatile fields;
  std::string_view updated_at;
  if (value["local_agents"].get_uint64().get(fields.local_agents) != simdjson::SUCCESS ||
      value["active_peers"].get_uint64().get(fields.active_peers) != simdjson::SUCCESS ||
      value["updated_at"].get_string().get(updated_at) != simdjson::SUCCESS) {
    return RowCorruption(kOwnVolatileKey);
  }
  fields.updated_at = updated_at;
  return fields;
}

std::string VolatileJson(const Volatile& fields) {
  JsonWriter out;
  out.BeginObject()
      .Member("local_agents", fields.local_agents)
      .Member("active_peers", fields.active_peers)
      .Member("updated_at", fields.updated_at)
      .EndObject();
  return out.Release();
}

std::string ChangeDigits(uint64_t change) {
  char digits[kChangeDigits];
  auto [end, ec] = std::to_chars(digits, digits + kChangeDigits, change);
  ANNALS_ASSERT(ec == std::errc());
  std::string out(kChangeDigits - static_cast<size_t>(end - digits), '0');
  out.append(digits, end);
  return out;
}

std::string FeedKey(uint64_t change) { return std::string(kFeedPrefix) + ChangeDigits(change); }
std::string IndexKey(std::string_view did) { return internal::RowKey(kIndexPrefix, did); }
std::string PeerCardKey(std::string_view peer) { return internal::RowKey(kPeerCardPrefix, peer); }
std::string PeerKey(std::string_view peer) { return internal::RowKey(kPeerPrefix, peer); }

// A decimal uint64 with nothing around it.
std::optional<uint64_t> ParseDecimal(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<CardRelation> RelationFromNumber(int64_t number) {
  for (auto relation : internal::kCardRelations) {
    if (static_cast<int64_t>(relation) == number) return relation;
  }
  return std::nullopt;
}

// --- Feed entries ---

// One did's entry in the feed: its card, or a tombstone when removed.
struct CardEntry {
  std::string did;
  std::string name;
  std::string description;
  std::string skills = "[]";  // JSON text
  std::string tags = "[]";    // JSON text
  std::string card = "null";  // JSON text
  std::string source_registry;
  CardRelation relation = CardRelation::kLocal;
  bool deprecated = false;
  std::string deprecation_reason;
  bool removed = false;
};

std::string EntryJson(uint64_t change, const CardEntry& entry) {
  JsonWriter out;
  out.BeginObject().Member("change", change).Member("did", entry.did);
  if (!entry.removed) {
    out.Member("name", entry.name).Member("description", entry.description);
    out.Key("skills").Raw(entry.skills).Key("tags").Raw(entry.tags).Key("card").Raw(entry.card);
  }
  out.Member("source_registry", entry.source_registry)
      .Member("relation", internal::CardRelationName(entry.relation));
  if (!entry.removed) {
    out.Member("deprecated", entry.deprecated);
    if (entry.deprecated) out.Member("deprecation_reason", entry.deprecation_reason);
  }
  out.Member("removed", entry.removed).EndObject();
  return out.Release();
}

// A member as minified JSON text: `fallback` when absent or not of `kind` (nullopt: any kind).
std::string JsonField(const object& data, std::string_view key, std::optional<element_type> kind,
                      std::string_view fallback) {
  element value;
  if (data[key].get(value) != simdjson::SUCCESS || (kind && value.type() != *kind)) {
    return std::string(fallback);
  }
  return internal::ToJson(value);
}

// The card fields of an agent event's data, or of one card of a sync.
CardEntry EntryFromData(const object& data) {
  CardEntry entry;
  entry.did = internal::StringField(data, "did");
  entry.name = internal::StringField(data, "name");
  entry.description = internal::StringField(data, "description");
  entry.skills = JsonField(data, "skills", element_type::ARRAY, "[]");
  entry.tags = JsonField(data, "tags", element_type::ARRAY, "[]");
  entry.card = JsonField(data, "card", std::nullopt, "null");
  return entry;
}

// Where the did's current feed entry is and where its card came from.
struct IndexRow {
  uint64_t change = 0;
  CardRelation relation = CardRelation::kLocal;
  std::string peer_id;  // "" for a local card
  bool removed = false;
};

std::string IndexJson(const IndexRow& row) {
  JsonWriter out;
  out.BeginObject()
      .Member("change", row.change)
      .Member("relation", static_cast<int>(row.relation))
      .Member("peer_id", row.peer_id)
      .Member("removed", row.removed)
      .EndObject();
  return out.Release();
}

// Who says something about an agent card: the precedence rule and removals look at this.
struct CardSource {
  CardRelation relation = CardRelation::kLocal;
  std::string peer_id;          // the peer it came through ("" : local)
  std::string source_registry;  // the registry the card belongs to
};

// A deprecation or removal applies only to a card from the same source: a local event to a
// local card, a peer's event to a federated card that came through that peer.
bool SameSource(const IndexRow& stored, const CardSource& source) {
  if (source.relation == CardRelation::kLocal) return stored.relation == CardRelation::kLocal;
  return stored.relation != CardRelation::kLocal && stored.peer_id == source.peer_id;
}

using internal::IsAgentEvent;

// --- The projection ---

class CardCacheView final : public Projection {
 public:
  std::string_view name() const override { return kCardCacheView; }
  uint32_t version() const override { return 1; }

  bool Wants(std::string_view type) const override {
    return IsAgentEvent(type) || type == types::kAgentCardsSynced ||
           type == types::kAgentCardRemoved || type == types::kRegistryCardFetched ||
           type == types::kRegistryCardEdited || type == types::kPolicyHashPublished ||
           type == types::kPeerAdded || type == types::kPeerRemoved ||
           type == types::kPeerStatusChanged;
  }

  Status Apply(const FoldContext& context, const eventstore::Record& record,
               ViewTxn& txn) override {
    const std::string& type = record.event().type();
    if (!Wants(type)) return Status::Ok();
    const bool own = context.IsOwn(record);
    // Agent events of a peer's origin are that peer's agents; every other kind counts only
    // when this registry recorded it (EVENTS.md, "Whose events a view reads").
    if (!own && !IsAgentEvent(type)) return Status::Ok();
    auto data = internal::ParseData(parser_, record);
    if (!data) return Status::Ok();
    const std::string time = internal::EventTime(record);
    if (IsAgentEvent(type)) {
      CardSource source;
      if (own) {
        source.source_registry = context.registry_name;
      } else {
        source = {CardRelation::kDirect, record.origin(), record.origin()};
      }
      return ApplyAgentEvent(type, source, *data, txn, time);
    }
    if (type == types::kAgentCardsSynced) return ApplyCardsSynced(*data, txn, time);
    if (type == types::kAgentCardRemoved) return ApplyCardRemoved(*data, txn, time);
    if (type == types::kRegistryCardFetched) return ApplyRegistryCardFetched(*data, txn, time);
    if (type == types::kRegistryCardEdited) return ApplyOwnCardEdited(*data, txn, time);
    if (type == types::kPolicyHashPublished) return ApplySelfPolicyHash(*data, txn, time);
    if (type == types::kPeerAdded || type == types::kPeerRemoved ||
        type == types::kPeerStatusChanged) {
      return ApplyPeerEvent(type, *data, txn, time);
    }
    return Status::Ok();
  }

 private:
  enum class UpsertKind : uint8_t {
    kRegister,  // registered: a new card, not deprecated
    kUpdate,    // card_updated: needs a live card; keeps its deprecation
    kSync,      // a synced card: deprecation as the card says
  };

  // --- Agent cards ---

  Status ApplyAgentEvent(std::string_view type, const CardSource& source, const object& data,
                         ViewTxn& txn, std::string_view time) {
    const std::string did(internal::StringField(data, "did"));
    if (did.empty()) return Status::Ok();
    if (type == types::kAgentDeprecated) {
      return Deprecate(txn, did, internal::StringField(data, "reason"), source, time);
    }
    if (type == types::kAgentRemoved) return Remove(txn, did, source, time);
    CardEntry entry = EntryFromData(data);
    entry.relation = source.relation;
    entry.source_registry = source.source_registry;
    auto kind = type == types::kAgentRegistered ? UpsertKind::kRegister : UpsertKind::kUpdate;
    return Upsert(txn, std::move(entry), source.peer_id, kind, time);
  }

  Status ApplyCardsSynced(const object& data, ViewTxn& txn, std::string_view time) {
    auto relation = CardRelationNamed(internal::StringField(data, "relation"));
    auto cards = internal::ArrayField(data, "cards");
    CardSource source;
    source.peer_id = internal::StringField(data, "peer_id");
    source.source_registry = internal::StringField(data, "source_registry");
    if (source.source_registry.empty()) source.source_registry = source.peer_id;
    if (!relation || *relation == CardRelation::kLocal || source.peer_id.empty() || !cards) {
      return Status::Ok();
    }
    source.relation = *relation;
    for (element item : *cards) {
      object card;
      if (item.get_object().get(card) != simdjson::SUCCESS) continue;
      CardEntry entry = EntryFromData(card);
      if (entry.did.empty()) continue;
      if (BoolField(card, "removed")) {  // a tombstone of the peer's own feed
        ANNALS_RETURN_IF_ERROR(Remove(txn, entry.did, source, time));
        continue;
      }
      entry.relation = source.relation;
      entry.source_registry = source.source_registry;
      entry.deprecated = BoolField(card, "deprecated");
      if (entry.deprecated) {
        entry.deprecation_reason = internal::StringField(card, "deprecation_reason");
      }
      ANNALS_RETURN_IF_ERROR(
          Upsert(txn, std::move(entry), source.peer_id, UpsertKind::kSync, time));
    }
    return Status::Ok();
  }

  Status ApplyCardRemoved(const object& data, ViewTxn& txn, std::string_view time) {
    CardSource source;
    source.relation = CardRelation::kDirect;  // any federated card that came through the peer
    source.peer_id = internal::StringField(data, "peer_id");
    const std::string did(internal::StringField(data, "did"));
    if (source.peer_id.empty() || did.empty()) return Status::Ok();
    return Remove(txn, did, source, time);
  }

  Status Upsert(ViewTxn& txn, CardEntry entry, std::string_view peer_id, UpsertKind kind,
                std::string_view time) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<IndexRow> stored, ReadIndex(txn, entry.did));
    const bool live = stored && !stored->removed;
    if (kind == UpsertKind::kUpdate && !live) return Status::Ok();  // an unknown did
    if (live && !internal::MayReplace(stored->relation, entry.relation)) return Status::Ok();
    if (live) {
      ANNALS_ASSIGN_OR_RETURN(std::string old_json, ReadEntryJson(txn, stored->change));
      if (kind == UpsertKind::kUpdate) {
        ANNALS_ASSIGN_OR_RETURN(CardEntry old, ParseEntry(stored->change, old_json));
        entry.deprecated = old.deprecated;
        entry.deprecation_reason = std::move(old.deprecation_reason);
      }
      // The same card again (a periodic re-sync) is not a change: the feed stays incremental.
      if (EntryJson(stored->change, entry) == old_json) {
        if (stored->peer_id != peer_id) {
          stored->peer_id = peer_id;
          txn.Put(IndexKey(entry.did), IndexJson(*stored));
        }
        return Status::Ok();
      }
    }
    return WriteChange(txn, stored, entry, peer_id, time);
  }

  Status Deprecate(ViewTxn& txn, const std::string& did, std::string_view reason,
                   const CardSource& source, std::string_view time) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<IndexRow> stored, ReadIndex(txn, did));
    if (!stored || stored->removed || !SameSource(*stored, source)) return Status::Ok();
    ANNALS_ASSIGN_OR_RETURN(std::string old_json, ReadEntryJson(txn, stored->change));
    ANNALS_ASSIGN_OR_RETURN(CardEntry entry, ParseEntry(stored->change, old_json));
    if (entry.deprecated && entry.deprecation_reason == reason) return Status::Ok();
    entry.deprecated = true;
    entry.deprecation_reason = reason;
    return WriteChange(txn, stored, entry, stored->peer_id, time);
  }

  Status Remove(ViewTxn& txn, const std::string& did, const CardSource& source,
                std::string_view time) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<IndexRow> stored, ReadIndex(txn, did));
    if (!stored || stored->removed || !SameSource(*stored, source)) return Status::Ok();
    ANNALS_ASSIGN_OR_RETURN(std::string old_json, ReadEntryJson(txn, stored->change));
    ANNALS_ASSIGN_OR_RETURN(CardEntry old, ParseEntry(stored->change, old_json));
    CardEntry tombstone;
    tombstone.did = did;
    tombstone.source_registry = std::move(old.source_registry);
    tombstone.relation = old.relation;
    tombstone.removed = true;
    return WriteChange(txn, stored, tombstone, stored->peer_id, time);
  }

  // An accepted change: the next change number, the did's previous entry replaced.
  Status WriteChange(ViewTxn& txn, const std::optional<IndexRow>& stored, const CardEntry& entry,
                     std::string_view peer_id, std::string_view time) {
    ANNALS_ASSIGN_OR_RETURN(uint64_t change, NextChange(txn));
    if (stored) {
      ANNALS_ASSERT(stored->change < change);
      txn.Delete(FeedKey(stored->change));
    }
    txn.Put(FeedKey(change), EntryJson(change, entry));
    txn.Put(IndexKey(entry.did),
            IndexJson({change, entry.relation, std::string(peer_id), entry.removed}));
    const bool was_local = stored && !stored->removed && stored->relation == CardRelation::kLocal;
    const bool is_local = !entry.removed && entry.relation == CardRelation::kLocal;
    if (was_local == is_local) return Status::Ok();
    return AdjustVolatile(txn, is_local ? 1 : -1, 0, time);
  }

  Result<uint64_t> NextChange(ViewTxn& txn) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(kChangeCounterKey));
    uint64_t last = 0;
    if (row) {
      ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(row_parser_, kChangeCounterKey, *row));
      if (value["last_change"].get_uint64().get(last) != simdjson::SUCCESS ||
          last == UINT64_MAX) {
        return RowCorruption(kChangeCounterKey);
      }
    }
    JsonWriter out;
    out.BeginObject().Member("last_change", last + 1).EndObject();
    txn.Put(kChangeCounterKey, out.str());
    return last + 1;
  }

  Result<std::optional<IndexRow>> ReadIndex(ViewTxn& txn, std::string_view did) {
    const std::string key = IndexKey(did);
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(key));
    if (!row) return std::optional<IndexRow>();
    ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(row_parser_, key, *row));
    IndexRow index;
    int64_t relation = 0;
    std::string_view peer_id;
    if (value["change"].get_uint64().get(index.change) != simdjson::SUCCESS ||
        value["relation"].get_int64().get(relation) != simdjson::SUCCESS ||
        value["peer_id"].get_string().get(peer_id) != simdjson::SUCCESS ||
        value["removed"].get_bool().get(index.removed) != simdjson::SUCCESS ||
        !RelationFromNumber(relation)) {
      return RowCorruption(key);
    }
    index.relation = *RelationFromNumber(relation);
    index.peer_id = peer_id;
    return std::optional<IndexRow>(std::move(index));
  }

  Result<std::string> ReadEntryJson(ViewTxn& txn, uint64_t change) {
    const std::string key = FeedKey(change);
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(key));
    if (!row) return RowCorruption(key);  // an index row names a feed entry that is not there
    return std::move(*row);
  }

  Result<CardEntry> ParseEntry(uint64_t change, const std::string& json) {
    const std::string key = FeedKey(change);
    ANNALS_ASSIGN_OR_RETURN(object value, ParseRow(row_parser_, key, json));
    CardEntry entry = EntryFromData(value);
    auto relation = CardRelationNamed(internal::StringField(value, "relation"));
    if (!relation) return RowCorruption(key);
    entry.relation = *relation;
    entry.source_registry = internal::StringField(value, "source_registry");
    entry.deprecated = BoolField(value, "deprecated");
    entry.deprecation_reason = internal::StringField(value, "deprecation_reason");
    entry.removed = BoolField(value, "removed");
    return entry;
  }

  // --- Peer registry cards ---

  Status ApplyRegistryCardFetched(const object& data, ViewTxn& txn, std::string_view time) {
    const std::string_view peer_id = internal::StringField(data, "peer_id");
    const std::string_view verdict = internal::StringField(data, "verdict");
    const bool known_verdict = verdict == kVerdictVerified || verdict == kVerdictUnverified ||
                               verdict == kVerdictRejected;
    if (peer_id.empty() || !known_verdict) return Status::Ok();
    const std::string key = PeerCardKey(peer_id);
    std::string etag;
    std::string card = "null";
    if (verdict == kVerdictRejected) {  // keeps the card accepted before, if any
      ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(key));
      if (row) {
        ANNALS_ASSIGN_OR_RETURN(object stored, ParseRow(row_parser_, key, *row));
        element stored_card;
        if (stored["card"].get(stored_card) != simdjson::SUCCESS) return RowCorruption(key);
        etag = internal::StringField(stored, "etag");
        card = internal::ToJson(stored_card);
      }
    } else {
      element fetched;
      if (data["card"].get(fetched) != simdjson::SUCCESS) return Status::Ok();
      etag = internal::StringField(data, "etag");
      card = internal::ToJson(fetched);
    }
    JsonWriter out;
    out.BeginObject()
        .Member("peer_id", peer_id)
        .Member("etag", etag)
        .Member("verdict", verdict)
        .Member("reason", internal::StringField(data, "reason"))
        .Member("fetched_at", time)
        .Key("card")
        .Raw(card)
        .EndObject();
    txn.Put(key, out.str());
    return Status::Ok();
  }

  // --- The own registry card ---

  // An edit states the whole editable card: the editable fields it carries, each of the JSON
  // kind it must have (null counts as absent, as for every event), replace the stored ones.
  Status ApplyOwnCardEdited(const object& data, ViewTxn& txn, std::string_view time) {
    std::map<std::string, std::string> fields;
    for (const auto& [key, kind] : kEditableFields) {
      element value;
      if (data[key].get(value) == simdjson::SUCCESS && value.type() == kind) {
        fields.emplace(key, Canonical(value));
      }
    }
    std::string card = ObjectJson(fields);
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> stored, txn.Get(kOwnCardKey));
    if (stored && *stored == card) return Status::Ok();  // nothing edited: same ETag, same time
    txn.Put(kOwnCardKey, card);
    ANNALS_RETURN_IF_ERROR(WriteEtag(txn, std::move(fields)));
    return AdjustVolatile(txn, 0, 0, time);
  }

  Status ApplySelfPolicyHash(const object& data, ViewTxn& txn, std::string_view time) {
    const std::string hash(internal::StringField(data, "policy_hash"));
    if (internal::StringField(data, "peer_id") != kCompliancePeerSelf || hash.empty()) {
      return Status::Ok();
    }
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> stored, txn.Get(kOwnPolicyKey));
    if (stored) {
      ANNALS_ASSIGN_OR_RETURN(std::string stored_hash, ParsePolicyRow(row_parser_, *stored));
      if (stored_hash == hash) return Status::Ok();
    }
    JsonWriter out;
    out.BeginObject().Member("policy_hash", hash).EndObject();
    txn.Put(kOwnPolicyKey, out.str());
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> card, txn.Get(kOwnCardKey));
    if (card) {
      ANNALS_ASSIGN_OR_RETURN(auto fields, RowMembers(row_parser_, kOwnCardKey, *card));
      ANNALS_RETURN_IF_ERROR(WriteEtag(txn, std::move(fields)));
    }
    return AdjustVolatile(txn, 0, 0, time);
  }

  // ETag = quoted hex SHA-256 of the canonical object of the editable fields plus
  // "policy_hash" (when one was published): never the counters or the times.
  Status WriteEtag(ViewTxn& txn, std::map<std::string, std::string> signed_fields) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> policy, txn.Get(kOwnPolicyKey));
    if (policy) {
      ANNALS_ASSIGN_OR_RETURN(std::string hash, ParsePolicyRow(row_parser_, *policy));
      std::string quoted;
      AppendJsonString(&quoted, hash);
      signed_fields["policy_hash"] = std::move(quoted);
    }
    std::string etag = "\"" + ToHex(Sha256(ObjectJson(signed_fields))) + "\"";
    ANNALS_ASSERT(etag.size() == kEtagSize);
    txn.Put(kOwnEtagKey, etag);
    return Status::Ok();
  }

  Status ApplyPeerEvent(std::string_view type, const object& data, ViewTxn& txn,
                        std::string_view time) {
    const std::string key = PeerKey(internal::StringField(data, "peer_id"));
    if (key.size() == kPeerPrefix.size()) return Status::Ok();
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(key));
    bool was_active = false;
    if (row) {
      ANNALS_ASSIGN_OR_RETURN(object stored, ParseRow(row_parser_, key, *row));
      was_active = internal::StringField(stored, "status") == kActiveStatus;
    }
    bool is_active = false;
    if (type == types::kPeerAdded && row) return Status::Ok();  // as the peers view: added once
    if (type == types::kPeerRemoved) {
      if (!row) return Status::Ok();
      txn.Delete(key);
    } else {
      // A new peer is ACTIVE; a status change needs a known peer.
      std::string_view status = kActiveStatus;
      if (type == types::kPeerStatusChanged) status = internal::StringField(data, "status");
      if (status.empty() || (type == types::kPeerStatusChanged && !row)) return Status::Ok();
      JsonWriter out;
      out.BeginObject().Member("status", status).EndObject();
      txn.Put(key, out.str());
      is_active = status == kActiveStatus;
    }
    if (was_active == is_active) return Status::Ok();
    return AdjustVolatile(txn, 0, is_active ? 1 : -1, time);
  }

  // Adds to the counters and sets updated_at: every change of the own card's content.
  Status AdjustVolatile(ViewTxn& txn, int local_agents_delta, int active_peers_delta,
                        std::string_view time) {
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, txn.Get(kOwnVolatileKey));
    Volatile fields;
    if (row) {
      ANNALS_ASSIGN_OR_RETURN(fields, ParseVolatileRow(row_parser_, *row));
    }
    if ((local_agents_delta < 0 && fields.local_agents == 0) ||
        (active_peers_delta < 0 && fields.active_peers == 0)) {
      return RowCorruption(kOwnVolatileKey);  // a count would go below zero
    }
    fields.local_agents += static_cast<uint64_t>(static_cast<int64_t>(local_agents_delta));
    fields.active_peers += static_cast<uint64_t>(static_cast<int64_t>(active_peers_delta));
    fields.updated_at = time;
    txn.Put(kOwnVolatileKey, VolatileJson(fields));
    return Status::Ok();
  }

  simdjson::dom::parser parser_;      // event data
  simdjson::dom::parser row_parser_;  // stored rows, so that event data stays valid meanwhile
};

}  // namespace

std::unique_ptr<Projection> MakeCardCacheView() { return std::make_unique<CardCacheView>(); }

Result<std::string> CardsSinceJson(const ViewReader& reader, std::string_view cursor,
                                   size_t limit) {
  if (limit < 1 || limit > kCardFeedLimitMax) {
    return Status::InvalidArgument("limit must be between 1 and " +
                                   std::to_string(kCardFeedLimitMax));
  }
  uint64_t after = 0;
  if (!cursor.empty()) {
    auto parsed = ParseDecimal(cursor);
    if (!parsed) return Status::InvalidArgument("since must be a cursor from a previous page");
    after = *parsed;
  }
  JsonWriter out;
  out.BeginObject().Member("position", reader.position()).Key("cards").BeginArray();
  std::string next_cursor = cursor.empty() ? std::string() : std::to_string(after);
  size_t count = 0;
  bool bad_key = false;
  if (after < UINT64_MAX) {
    ANNALS_RETURN_IF_ERROR(reader.Scan(
        kFeedPrefix, ChangeDigits(after + 1), [&](std::string_view key, std::string_view value) {
          auto change = ParseDecimal(key.substr(kFeedPrefix.size()));
          if (!change || *change <= after) {
            bad_key = true;
            return false;
          }
          out.Raw(value);
          next_cursor = std::to_string(*change);
          return ++count < limit;
        }));
  }
  if (bad_key) return Status::Corruption("card-cache: a feed row has a malformed key");
  out.EndArray().Member("next_cursor", next_cursor).EndObject();
  return out.Release();
}

Result<std::string> PeerRegistryCardJson(const ViewReader& reader, std::string_view peer_id) {
  const std::string key = PeerCardKey(peer_id);
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, reader.Get(key));
  if (!row) {
    return Status::NotFound("no registry card was fetched from peer '" + std::string(peer_id) +
                            "'");
  }
  simdjson::dom::parser parser;
  ANNALS_ASSIGN_OR_RETURN(object stored, ParseRow(parser, key, *row));
  JsonWriter out;
  out.BeginObject().Member("position", reader.position());
  for (auto member : stored) out.Key(member.key).Raw(internal::ToJson(member.value));
  out.EndObject();
  return out.Release();
}

Result<std::string> OwnRegistryCardEtag(const ViewReader& reader) {
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> etag, reader.Get(kOwnEtagKey));
  if (!etag) return Status::NotFound("this registry's card was never edited");
  if (etag->size() != kEtagSize || etag->front() != '"' || etag->back() != '"') {
    return RowCorruption(kOwnEtagKey);
  }
  return std::move(*etag);
}

Result<std::string> OwnRegistryCardJson(const ViewReader& reader) {
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> card, reader.Get(kOwnCardKey));
  if (!card) return Status::NotFound("this registry's card was never edited");
  auto etag = OwnRegistryCardEtag(reader);
  if (!etag.ok()) return RowCorruption(kOwnEtagKey);  // the card is written with its ETag
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> policy, reader.Get(kOwnPolicyKey));
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> volatile_row, reader.Get(kOwnVolatileKey));
  if (!volatile_row) return RowCorruption(kOwnVolatileKey);  // every edit sets updated_at

  simdjson::dom::parser parser;
  JsonWriter out;
  out.BeginObject().Member("position", reader.position()).Member("etag", *etag);
  out.Key("card").BeginObject();
  ANNALS_ASSIGN_OR_RETURN(object fields, ParseRow(parser, kOwnCardKey, *card));
  for (auto member : fields) out.Key(member.key).Raw(internal::ToJson(member.value));
  std::optional<std::string> policy_hash;
  if (policy) {
    ANNALS_ASSIGN_OR_RETURN(policy_hash, ParsePolicyRow(parser, *policy));
  }
  internal::OptionalStringMember(out, "policy_hash", policy_hash);
  ANNALS_ASSIGN_OR_RETURN(Volatile counters, ParseVolatileRow(parser, *volatile_row));
  out.Key("counters")
      .BeginObject()
      .Member("local_agents", counters.local_agents)
      .Member("active_peers", counters.active_peers)
      .EndObject();
  out.Member("updated_at", counters.updated_at).EndObject().EndObject();
  return out.Release();
}

Result<std::string> CanonicalJson(std::string_view json) {
  simdjson::dom::parser parser;
  element value;
  if (parser.parse(json.data(), json.size()).get(value) != simdjson::SUCCESS) {
    return Status::InvalidArgument("not JSON text");
  }
  return Canonical(value);
}

}  // namespace annals::projections
