#include "annals/projections/agents.h"

#include <pthread.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/unordered/unordered_flat_set.hpp>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/schemas/event_types.h"
#include "internal/card_precedence.h"
#include "internal/event_data.h"
#include "internal/rows.h"
#include "internal/text_index.h"

namespace annals::projections {
namespace {

namespace dom = simdjson::dom;
namespace types = schemas::event_types;
using internal::ArrayField;
using internal::CardRelation;
using internal::CardRelationNamed;
using internal::ObjectField;
using internal::StringField;

// Rows: "a/<did>" -> the agent document (docs/views/agents.md).
constexpr std::string_view kAgentKeyPrefix = "a/";

constexpr std::string_view kStatusActive = "active";
constexpr std::string_view kStatusDeprecated = "deprecated";

// The fields Discover searches, and their weights: a term counts once per field it occurs in.
enum class Field : uint8_t { kName, kDescription, kSkillName, kTag };
constexpr uint32_t FieldWeight(Field field) {
  switch (field) {
    case Field::kName: return 4;
    case Field::kDescription: return 1;
    case Field::kSkillName: return 2;
    case Field::kTag: return 2;  // the agent's tags and its skills' tags
  }
  return 0;
}

// Cursors: "o<decimal offset>" continues a ranking, "d<hex did>" a listing (starting there).
constexpr char kRankCursor = 'o';
constexpr char kListCursor = 'd';

std::string AgentKey(std::string_view did) { return internal::RowKey(kAgentKeyPrefix, did); }

// Where an agent's card came from.
struct Source {
  CardRelation relation = CardRelation::kLocal;
  std::string source_registry;  // federated only: the registry that published the card
  std::string peer_id;          // federated only: the peer it reached us through

  bool local() const { return relation == CardRelation::kLocal; }
  // The same publisher: a card from it continues the stored agent's history.
  bool SameAs(const Source& other) const {
    return relation == other.relation && source_registry == other.source_registry;
  }
  static Source Federated(CardRelation relation, std::string_view registry,
                          std::string_view peer) {
    return {relation, std::string(registry), std::string(peer)};
  }
};

// What an agent's row says beyond its card.
struct RowState {
  std::string status{kStatusActive};
  std::string deprecation_reason;  // when deprecated
  std::string registered_at;
  std::string updated_at;
};

// The card-derived fields of an agent. Views into a simdjson document: valid until its parser
// parses again.
struct CardFields {
  std::string_view name, description, version, url;
  std::optional<dom::array> skills, tags;
  std::optional<dom::object> provider, card;
};

// registered / card_updated data, or one card of a sync: each field from `data`, else (absent
// or an empty string) from its A2A card `data.card`.
CardFields FromAgentData(const dom::object& data) {
  CardFields fields;
  fields.card = ObjectField(data, "card");
  auto text = [&](std::string_view key) {
    std::string_view value = StringField(data, key);
    if (value.empty() && fields.card) value = StringField(*fields.card, key);
    return value;
  };
  auto array = [&](std::string_view key) {
    auto value = ArrayField(data, key);
    if (!value && fields.card) value = ArrayField(*fields.card, key);
    return value;
  };
  fields.name = text("name");
  fields.description = text("description");
  fields.version = text("version");
  fields.url = text("url");
  fields.skills = array("skills");
  fields.tags = array("tags");
  fields.provider = ObjectField(data, "provider");
  if (!fields.provider && fields.card) fields.provider = ObjectField(*fields.card, "provider");
  return fields;
}

// An OSSA agent pointer: data.agent{name, namespace, version, digest, capabilities[], trustTier,
// registryUrl}. Its capabilities are its skills; the pointer itself is its card.
CardFields FromOssa(const dom::object& agent) {
  CardFields fields;
  fields.name = StringField(agent, "name");
  fields.description = StringField(agent, "description");
  fields.version = StringField(agent, "version");
  fields.url = StringField(agent, "registryUrl");
  fields.skills = ArrayField(agent, "capabilities");
  fields.card = agent;
  return fields;
}

// A stored row, as rendered by RenderRow: no fallbacks, the row is complete.
CardFields FromRow(const dom::object& row) {
  CardFields fields;
  fields.name = StringField(row, "name");
  fields.description = StringField(row, "description");
  fields.version = StringField(row, "version");
  fields.url = StringField(row, "url");
  fields.skills = ArrayField(row, "skills");
  fields.tags = ArrayField(row, "tags");
  fields.provider = ObjectField(row, "provider");
  fields.card = ObjectField(row, "card_data");
  return fields;
}

// Visits the strings of `array` (other elements are skipped).
template <typename Visit>
void ForEachString(const std::optional<dom::array>& array, Visit&& visit) {
  if (!array) return;
  for (dom::element element : *array) {
    std::string_view value;
    if (element.get_string().get(value) == simdjson::SUCCESS) visit(value);
  }
}

// Visits each skill as (name, tags): a skill is an object {id, name, description, tags[]} or a
// bare string (its id and name: OSSA capabilities). Anything else is skipped.
template <typename Visit>
void ForEachSkill(const std::optional<dom::array>& skills, Visit&& visit) {
  if (!skills) return;
  for (dom::element element : *skills) {
    std::string_view bare;
    dom::object skill;
    if (element.get_string().get(bare) == simdjson::SUCCESS) {
      visit(bare, bare, std::string_view(), std::optional<dom::array>());
    } else if (element.get_object().get(skill) == simdjson::SUCCESS) {
      visit(StringField(skill, "id"), StringField(skill, "name"), StringField(skill, "description"),
            ArrayField(skill, "tags"));
    }
  }
}

// The terms Discover finds an agent by, each weighted by the fields it occurs in.
std::vector<internal::TermWeight> TermsOf(const CardFields& fields) {
  // Tokens are copied into one buffer reserved up front (a token is never longer than its
  // text), so the views into it stay valid and sorting moves no strings.
  size_t text_bytes = fields.name.size() + fields.description.size();
  auto count = [&](std::string_view text) { text_bytes += text.size(); };
  ForEachSkill(fields.skills, [&](std::string_view, std::string_view name, std::string_view,
                                  const std::optional<dom::array>& tags) {
    count(name);
    ForEachString(tags, count);
  });
  ForEachString(fields.tags, count);
  std::string buffer;
  buffer.reserve(text_bytes);
  // Sorted by hash first: equal texts end up next to each other, and most comparisons are of
  // two integers rather than two strings. (The order of the terms returned does not matter.)
  struct Token {
    size_t hash;
    std::string_view text;
    Field field;
    bool operator<(const Token& other) const {
      if (hash != other.hash) return hash < other.hash;
      return text != other.text ? text < other.text : field < other.field;
    }
    bool operator==(const Token& other) const { return text == other.text && field == other.field; }
  };
  std::vector<Token> tokens;
  auto add = [&](std::string_view text, Field field) {
    internal::Tokenize(text, [&](std::string_view token) {
      ANNALS_ASSERT(buffer.size() + token.size() <= buffer.capacity());
      size_t at = buffer.size();
      buffer.append(token);
      std::string_view copy = std::string_view(buffer).substr(at, token.size());
      tokens.push_back({std::hash<std::string_view>()(copy), copy, field});
    });
  };
  add(fields.name, Field::kName);
  add(fields.description, Field::kDescription);
  ForEachSkill(fields.skills, [&](std::string_view, std::string_view name, std::string_view,
                                  const std::optional<dom::array>& tags) {
    add(name, Field::kSkillName);
    ForEachString(tags, [&](std::string_view tag) { add(tag, Field::kTag); });
  });
  ForEachString(fields.tags, [&](std::string_view tag) { add(tag, Field::kTag); });
  // Once per (token, field): sort, drop repeats, then sum the fields of each token.
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  std::vector<internal::TermWeight> terms;
  terms.reserve(tokens.size());
  for (const Token& token : tokens) {
    if (!terms.empty() && terms.back().term == token.text) {
      terms.back().weight += FieldWeight(token.field);
    } else {
      terms.push_back({std::string(token.text), FieldWeight(token.field)});
    }
  }
  return terms;
}

// What the index holds of a stored row.
struct IndexedRow {
  bool deprecated = false;
  std::vector<internal::TermWeight> terms;
};

// The index entry of a row (JSON text); nullopt when it is not a JSON object.
std::optional<IndexedRow> IndexRow(dom::parser& parser, std::string_view row_json) {
  std::optional<dom::object> row = internal::ParseRow(parser, row_json);
  if (!row) return std::nullopt;
  return IndexedRow{StringField(*row, "status") == kStatusDeprecated, TermsOf(FromRow(*row))};
}

uint64_t DidHash(std::string_view did) { return std::hash<std::string_view>()(did); }

// Batches committed in a bulk fold and not yet indexed, at most (AgentsViewImpl::Commit).
constexpr size_t kBulkBatchesQueuedMax = 2;

void WriteStrings(JsonWriter& writer, const std::optional<dom::array>& array) {
  writer.BeginArray();
  ForEachString(array, [&](std::string_view value) { writer.String(value); });
  writer.EndArray();
}

void WriteSkills(JsonWriter& writer, const std::optional<dom::array>& skills) {
  writer.BeginArray();
  ForEachSkill(skills, [&](std::string_view id, std::string_view name,
                           std::string_view description, const std::optional<dom::array>& tags) {
    writer.BeginObject().Member("id", id).Member("name", name).Member("description", description);
    writer.Key("tags");
    WriteStrings(writer, tags);
    writer.EndObject();
  });
  writer.EndArray();
}

// The agent's card with federation_metadata set for a federated agent and absent for a local
// one: an incoming card's own federation_metadata is dropped, never duplicated.
void WriteCardData(JsonWriter& writer, const std::optional<dom::object>& card,
                   const Source& source) {
  writer.BeginObject();
  if (card) {
    for (dom::key_value_pair member : *card) {
      if (member.key == "federation_metadata") continue;
      writer.Key(member.key).Raw(internal::ToJson(member.value));
    }
  }
  if (!source.local()) {
    writer.Key("federation_metadata").BeginObject();
    writer.Member("source_registry", source.source_registry);
    writer.Member("relation", internal::CardRelationName(source.relation));
    writer.EndObject();
  }
  writer.EndObject();
}

// A row's text and its A2A card, together, seldom exceed this: RenderRow starts with room for it.
constexpr size_t kRowBytesTypical = 2048;

std::string RenderRow(std::string_view did, const CardFields& fields, const Source& source,
                      const RowState& state) {
  JsonWriter writer(kRowBytesTypical);
  writer.BeginObject();
  writer.Member("did", did).Member("name", fields.name).Member("description", fields.description);
  writer.Member("version", fields.version).Member("url", fields.url);
  writer.Key("skills");
  WriteSkills(writer, fields.skills);
  writer.Key("tags");
  WriteStrings(writer, fields.tags);
  writer.Key("provider");
  if (fields.provider) {
    writer.BeginObject();
    writer.Member("organization", StringField(*fields.provider, "organization"));
    writer.Member("url", StringField(*fields.provider, "url"));
    writer.EndObject();
  } else {
    writer.Null();
  }
  writer.Member("status", state.status);
  if (state.status == kStatusDeprecated) {
    writer.Member("deprecation_reason", state.deprecation_reason);
  }
  writer.Member("relation", internal::CardRelationName(source.relation));
  if (!source.local()) {
    writer.Member("source_registry", source.source_registry).Member("peer_id", source.peer_id);
  }
  writer.Member("registered_at", state.registered_at).Member("updated_at", state.updated_at);
  writer.Key("card_data");
  WriteCardData(writer, fields.card, source);
  writer.EndObject();
  return writer.Release();
}

// `row` (a stored agent document) with "score" as its last member.
std::string WithScore(std::string_view row, double score) {
  ANNALS_ASSERT(row.size() >= 2 && row.back() == '}');
  // Six decimals are plenty to read a ranking, and keep the output short and stable.
  double rounded = std::round(score * 1e6) / 1e6;
  char number[32];
  auto [end, error] = std::to_chars(number, number + sizeof number, rounded);
  ANNALS_ASSERT(error == std::errc());
  std::string out(row.substr(0, row.size() - 1));
  out.append(",\"score\":").append(number, end).push_back('}');
  return out;
}

Status BadRow(std::string_view did, std::string_view what) {
  return Status::Corruption("agents view row of " + std::string(did) + ": " + std::string(what));
}

// The event types the view folds: agent events (internal::IsAgentEvent), the federation's card
// events, and the OSSA interop events.
using internal::IsAgentEvent;
bool IsFederationEvent(std::string_view type) {
  return type == types::kAgentCardsSynced || type == types::kAgentCardRemoved;
}
bool IsOssaEvent(std::string_view type) {
  return type == types::kOssaAgentPublished || type == types::kOssaAgentUpdated ||
         type == types::kOssaAgentDeprecated;
}

// How a card event treats the stored agent.
enum class CardKind : uint8_t {
  kRegister,  // (re-)registration: a fresh history, status active
  kUpdate,    // changes the card of a stored agent of the same source; otherwise ignored
  kSync,      // upsert: keeps the status of a stored agent of the same source
};

class AgentsViewImpl final : public AgentsView {
 public:
  std::string_view name() const override { return "agents"; }
  uint32_t version() const override { return 1; }

  Status Apply(const FoldContext& context, const eventstore::Record& record,
               ViewTxn& txn) override;
  bool Wants(std::string_view type) const override {
    return IsAgentEvent(type) || IsFederationEvent(type) || IsOssaEvent(type);
  }
  Status Load(const ViewReader& reader) override;
  void Commit(const ViewReader& reader) override;
  void Abort() override {
    pending_.clear();
    batch_dids_.clear();
  }
  void BeginBulk() override;
  void EndBulk() override;
  ~AgentsViewImpl() override { EndBulk(); }

  Result<std::string> AgentJson(std::string_view did) const override;
  Result<std::string> DiscoverJson(std::string_view text, size_t limit,
                                   std::string_view cursor) const override;

 private:
  // A stored agent as a fold needs it. `row` lives until row_parser_ parses again.
  struct Stored {
    Source source;
    RowState state;
    dom::object row;
  };
  // A change of the index queued by Apply for the next Commit: the row as written, or its
  // removal. The index is derived from rows (IndexRow), at Load and at Commit alike.
  struct Change {
    std::string did;
    bool removed = false;
    std::string row;  // when not removed
  };
  // One batch for the bulk indexer: its changes, and the rows they were committed to.
  struct BulkBatch {
    std::vector<Change> changes;
    ViewReader reader;
  };
  using SourceMatch = std::function<bool(const Source&)>;

  Status ApplyAgentEvent(std::string_view type, bool own, const eventstore::Record& record,
                         const dom::object& data, const std::string& time, ViewTxn& txn);
  Status ApplySync(const dom::object& data, const std::string& time, ViewTxn& txn);
  Status ApplyOssa(std::string_view type, const eventstore::Record& record,
                   const dom::object& data, const std::string& time, ViewTxn& txn);

  Status ApplyCard(ViewTxn& txn, std::string_view did, const CardFields& fields,
                   const Source& source, CardKind kind, const std::string& time);
  Status ApplyDeprecation(ViewTxn& txn, std::string_view did, const SourceMatch& match,
                          std::string_view reason, const std::string& time);
  Status ApplyRemoval(ViewTxn& txn, std::string_view did, const SourceMatch& match);

  Result<std::optional<Stored>> ReadStored(ViewTxn& txn, std::string_view did);
  void WriteRow(ViewTxn& txn, std::string_view did, const CardFields& fields,
                const Source& source, const RowState& state);
  // Applies each did's last change of `changes` to the index, and pins `reader`.
  void IndexChanges(std::vector<Change>& changes, const ViewReader& reader, dom::parser& parser);
  void BulkIndexerLoop();

  Result<std::string> ListJson(std::string_view text, size_t limit,
                               std::string_view cursor) const;

  // Fold thread only. (Outside bulk folds the fold thread also reads index_ without the lock:
  // it is then the only thread that writes it.)
  dom::parser data_parser_;  // event data
  dom::parser row_parser_;   // stored rows
  std::vector<Change> pending_;
  // The dids whose rows the batch being folded wrote or deleted.
  std::unordered_set<std::string, internal::StringHash, std::equal_to<>> batch_dids_;

  // Bulk folds (BeginBulk..EndBulk): Commit queues its changes for the bulk indexer thread,
  // which derives the terms and updates the index in commit order while the fold thread goes
  // on; ReadStored asks bulk_dids_ (hashes of the dids given a row; a shadow starts empty)
  // instead of the index that thread is writing. At most kBulkBatchesQueuedMax batches wait.
  bool bulk_ = false;  // fold thread
  boost::unordered_flat_set<uint64_t> bulk_dids_;  // fold thread
  std::thread bulk_indexer_;
  std::mutex bulk_mu_;
  std::condition_variable bulk_cv_;
  std::deque<BulkBatch> bulk_queue_;  // guarded by bulk_mu_
  bool bulk_stop_ = false;            // guarded by bulk_mu_

  // The index and the snapshot of the rows it was built from, swapped together.
  mutable std::shared_mutex mu_;
  internal::TextIndex index_;         // guarded by mu_
  std::optional<ViewReader> reader_;  // guarded by mu_
};

Status AgentsViewImpl::Apply(const FoldContext& context, const eventstore::Record& record,
                             ViewTxn& txn) {
  const std::string& type = record.event().type();
  if (!Wants(type)) return Status::Ok();
  const bool agent_event = IsAgentEvent(type);
  const bool federation_event = IsFederationEvent(type);
  const bool ossa_event = IsOssaEvent(type);
  bool own = context.IsOwn(record);
  // Federation events describe this registry's own relationships: a peer's copies are history.
  if (federation_event && !own) return Status::Ok();
  std::optional<dom::object> data = internal::ParseData(data_parser_, record);
  if (!data) return Status::Ok();
  std::string time = internal::EventTime(record);
  if (agent_event) return ApplyAgentEvent(type, own, record, *data, time, txn);
  if (ossa_event) return ApplyOssa(type, record, *data, time, txn);
  if (type == types::kAgentCardsSynced) return ApplySync(*data, time, txn);
  // kAgentCardRemoved: the card of that did, if it came from that peer.
  std::string_view peer_id = StringField(*data, "peer_id");
  std::string_view did = StringField(*data, "did");
  if (peer_id.empty() || did.empty()) return Status::Ok();
  return ApplyRemoval(txn, did, [&](const Source& stored) {
    return !stored.local() && stored.peer_id == peer_id;
  });
}

// registry.agent.*: this registry's own agents, or (of a peer's origin) that peer's agents,
// federated with relation direct.
Status AgentsViewImpl::ApplyAgentEvent(std::string_view type, bool own,
                                       const eventstore::Record& record, const dom::object& data,
                                       const std::string& time, ViewTxn& txn) {
  std::string_view did = StringField(data, "did");
  if (did.empty()) return Status::Ok();
  const std::string& origin = record.origin();
  Source source = own ? Source{} : Source::Federated(CardRelation::kDirect, origin, origin);
  SourceMatch match = [&](const Source& stored) {
    return own ? stored.local() : !stored.local() && stored.source_registry == origin;
  };
  if (type == types::kAgentRegistered || type == types::kAgentCardUpdated) {
    CardKind kind = type == types::kAgentRegistered ? CardKind::kRegister : CardKind::kUpdate;
    return ApplyCard(txn, did, FromAgentData(data), source, kind, time);
  }
  if (type == types::kAgentDeprecated) {
    return ApplyDeprecation(txn, did, match, StringField(data, "reason"), time);
  }
  return ApplyRemoval(txn, did, match);
}

// registry.federation.agent_cards_synced.v1: each card upserts a federated agent.
Status AgentsViewImpl::ApplySync(const dom::object& data, const std::string& time,
                                 ViewTxn& txn) {
  std::optional<CardRelation> relation = CardRelationNamed(StringField(data, "relation"));
  if (!relation || *relation == CardRelation::kLocal) return Status::Ok();
  std::string_view peer_id = StringField(data, "peer_id");
  std::string_view source_registry = StringField(data, "source_registry");
  if (source_registry.empty()) source_registry = peer_id;
  if (source_registry.empty()) return Status::Ok();
  Source source = Source::Federated(*relation, source_registry, peer_id);
  std::optional<dom::array> cards = ArrayField(data, "cards");
  if (!cards) return Status::Ok();
  for (dom::element element : *cards) {
    dom::object card;
    if (element.get_object().get(card) != simdjson::SUCCESS) continue;
    std::string_view did = StringField(card, "did");
    if (did.empty()) continue;
    ANNALS_RETURN_IF_ERROR(ApplyCard(txn, did, FromAgentData(card), source, CardKind::kSync, time));
  }
  return Status::Ok();
}

// io.ossa.agent.*: a federated agent (relation direct: the pod announcing it is its home) of the
// registry named by the CloudEvent source, did "ossa:<namespace>/<name>".
Status AgentsViewImpl::ApplyOssa(std::string_view type, const eventstore::Record& record,
                                 const dom::object& data, const std::string& time,
                                 ViewTxn& txn) {
  std::optional<dom::object> agent = ObjectField(data, "agent");
  if (!agent) return Status::Ok();
  std::string_view name = StringField(*agent, "name");
  std::string_view ns = StringField(*agent, "namespace");
  if (name.empty() || ns.empty()) return Status::Ok();
  std::string did = "ossa:" + std::string(ns) + "/" + std::string(name);
  const std::string& registry = record.event().source();
  if (type == types::kOssaAgentDeprecated) {
    std::string_view reason = StringField(data, "reason");
    if (reason.empty()) reason = StringField(*agent, "reason");
    return ApplyDeprecation(txn, did, [&](const Source& stored) {
      return !stored.local() && stored.source_registry == registry;
    }, reason, time);
  }
  Source source = Source::Federated(CardRelation::kDirect, registry, registry);
  CardKind kind = type == types::kOssaAgentPublished ? CardKind::kRegister : CardKind::kUpdate;
  return ApplyCard(txn, did, FromOssa(*agent), source, kind, time);
}

Status AgentsViewImpl::ApplyCard(ViewTxn& txn, std::string_view did, const CardFields& fields,
                                 const Source& source, CardKind kind, const std::string& time) {
  ANNALS_ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(txn, did));
  if (stored && !internal::MayReplace(stored->source.relation, source.relation)) {
    return Status::Ok();  // local beats federated; direct beats discovered
  }
  bool same_source = stored && stored->source.SameAs(source);
  if (kind == CardKind::kUpdate && !same_source) return Status::Ok();
  RowState state;
  if (same_source && kind != CardKind::kRegister) {
    state = std::move(stored->state);
  } else {
    state.registered_at = time;
  }
  state.updated_at = time;
  WriteRow(txn, did, fields, source, state);
  return Status::Ok();
}

Status AgentsViewImpl::ApplyDeprecation(ViewTxn& txn, std::string_view did,
                                        const SourceMatch& match, std::string_view reason,
                                        const std::string& time) {
  ANNALS_ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(txn, did));
  if (!stored || !match(stored->source)) return Status::Ok();
  RowState state = std::move(stored->state);
  state.status = kStatusDeprecated;
  state.deprecation_reason = reason;
  state.updated_at = time;
  WriteRow(txn, did, FromRow(stored->row), stored->source, state);
  return Status::Ok();
}

Status AgentsViewImpl::ApplyRemoval(ViewTxn& txn, std::string_view did,
                                    const SourceMatch& match) {
  ANNALS_ASSIGN_OR_RETURN(std::optional<Stored> stored, ReadStored(txn, did));
  if (!stored || !match(stored->source)) return Status::Ok();
  txn.Delete(AgentKey(did));
  batch_dids_.emplace(did);
  pending_.push_back({std::string(did), /*removed=*/true, {}});
  return Status::Ok();
}

Result<std::optional<AgentsViewImpl::Stored>> AgentsViewImpl::ReadStored(ViewTxn& txn,
                                                                         std::string_view did) {
  // A did the committed index does not hold and this batch has not written has no row: the
  // index always mirrors the committed rows (Load, or folding from an empty generation), so a
  // registration of a new agent needs no read.
  const bool known = bulk_ ? bulk_dids_.contains(DidHash(did)) : index_.Contains(did);
  if (!batch_dids_.contains(did) && !known) return std::optional<Stored>();
  ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> value, txn.Get(AgentKey(did)));
  if (!value) return std::optional<Stored>();
  std::optional<dom::object> row = internal::ParseRow(row_parser_, *value);
  if (!row) return BadRow(did, "not a JSON object");
  Stored stored;
  stored.row = *row;
  std::optional<CardRelation> relation = CardRelationNamed(StringField(stored.row, "relation"));
  if (!relation) return BadRow(did, "no relation");
  stored.source.relation = *relation;
  stored.source.source_registry = StringField(stored.row, "source_registry");
  stored.source.peer_id = StringField(stored.row, "peer_id");
  stored.state.status = StringField(stored.row, "status");
  stored.state.deprecation_reason = StringField(stored.row, "deprecation_reason");
  stored.state.registered_at = StringField(stored.row, "registered_at");
  stored.state.updated_at = StringField(stored.row, "updated_at");
  return std::optional<Stored>(std::move(stored));
}

void AgentsViewImpl::WriteRow(ViewTxn& txn, std::string_view did, const CardFields& fields,
                              const Source& source, const RowState& state) {
  std::string row = RenderRow(did, fields, source, state);
  txn.Put(AgentKey(did), row);
  batch_dids_.emplace(did);
  if (bulk_) bulk_dids_.insert(DidHash(did));
  pending_.push_back({std::string(did), false, std::move(row)});
}

Status AgentsViewImpl::Load(const ViewReader& reader) {
  internal::TextIndex index;
  Status inner;
  Status scan = reader.Scan(kAgentKeyPrefix, "", [&](std::string_view key, std::string_view value) {
    std::string_view did = key.substr(kAgentKeyPrefix.size());
    std::optional<IndexedRow> row = IndexRow(row_parser_, value);
    if (!row) {
      inner = BadRow(did, "not a JSON object");
      return false;
    }
    index.Upsert(did, row->deprecated, row->terms);
    return true;
  });
  ANNALS_RETURN_IF_ERROR(scan);
  ANNALS_RETURN_IF_ERROR(inner);
  pending_.clear();
  batch_dids_.clear();
  std::unique_lock lock(mu_);
  index_ = std::move(index);
  reader_ = reader;
  return Status::Ok();
}

void AgentsViewImpl::IndexChanges(std::vector<Change>& changes, const ViewReader& reader,
                                  dom::parser& parser) {
  // Each did's last change of the batch is its state: the earlier ones are passed (an agent
  // updated many times in one batch is indexed once). The index's order does not depend on
  // the order documents were added in (text_index.h). Terms are derived before the lock.
  struct Indexed {
    std::string_view did;
    std::optional<IndexedRow> row;  // none: removed
  };
  std::vector<Indexed> indexed;
  std::unordered_set<std::string_view> seen;
  for (auto change = changes.rbegin(); change != changes.rend(); ++change) {
    if (!seen.insert(change->did).second) continue;
    Indexed entry{change->did, std::nullopt};
    if (!change->removed) {
      entry.row = IndexRow(parser, change->row);
      ANNALS_ASSERT_MSG(entry.row.has_value(), "a row RenderRow wrote does not parse");
    }
    indexed.push_back(std::move(entry));
  }
  std::unique_lock lock(mu_);
  for (const Indexed& entry : indexed) {
    if (entry.row) {
      index_.Upsert(entry.did, entry.row->deprecated, entry.row->terms);
    } else {
      index_.Remove(entry.did);
    }
  }
  reader_ = reader;
}

void AgentsViewImpl::Commit(const ViewReader& reader) {
  batch_dids_.clear();
  if (!bulk_) {
    IndexChanges(pending_, reader, row_parser_);
    pending_.clear();
    return;
  }
  std::unique_lock lock(bulk_mu_);
  bulk_cv_.wait(lock, [&] { return bulk_queue_.size() < kBulkBatchesQueuedMax; });
  bulk_queue_.push_back({std::move(pending_), reader});
  pending_ = {};
  lock.unlock();
  bulk_cv_.notify_all();
}

void AgentsViewImpl::BeginBulk() {
  ANNALS_ASSERT(!bulk_ && pending_.empty());
  bulk_ = true;
  bulk_stop_ = false;
  bulk_indexer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "annals-bulkidx");
    BulkIndexerLoop();
  });
}

void AgentsViewImpl::EndBulk() {
  if (!bulk_) return;
  {
    std::lock_guard lock(bulk_mu_);
    bulk_stop_ = true;
  }
  bulk_cv_.notify_all();
  bulk_indexer_.join();  // after the queue is empty
  bulk_ = false;
  bulk_dids_ = {};
}

void AgentsViewImpl::BulkIndexerLoop() {
  dom::parser parser;
  std::unique_lock lock(bulk_mu_);
  for (;;) {
    bulk_cv_.wait(lock, [&] { return bulk_stop_ || !bulk_queue_.empty(); });
    if (bulk_queue_.empty()) return;  // stopping, and every batch is indexed
    BulkBatch batch = std::move(bulk_queue_.front());
    bulk_queue_.pop_front();
    lock.unlock();
    bulk_cv_.notify_all();  // room for the fold thread's next batch
    IndexChanges(batch.changes, batch.reader, parser);
    lock.lock();
  }
}

Result<std::string> AgentsViewImpl::AgentJson(std::string_view did) const {
  if (did.empty()) return Status::InvalidArgument("an agent did is required");
  std::optional<ViewReader> reader;
  {
    std::shared_lock lock(mu_);
    reader = reader_;
  }
  std::optional<std::string> row;
  if (reader) {
    ANNALS_ASSIGN_OR_RETURN(row, reader->Get(AgentKey(did)));
  }
  if (!row) return Status::NotFound("no agent " + std::string(did));
  JsonWriter writer;
  writer.BeginObject().Member("position", reader->position());
  writer.Key("agent").Raw(*row);
  writer.EndObject();
  return writer.Release();
}

Result<std::string> AgentsViewImpl::DiscoverJson(std::string_view text, size_t limit,
                                                 std::string_view cursor) const {
  if (limit < 1 || limit > kDiscoverLimitMax) {
    return Status::InvalidArgument("limit must be 1 to " + std::to_string(kDiscoverLimitMax));
  }
  if (text.size() > kDiscoverQueryBytesMax) {
    return Status::InvalidArgument("query over " + std::to_string(kDiscoverQueryBytesMax) +
                                   " bytes");
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    return Status::InvalidArgument("query is not valid UTF-8");
  }
  std::vector<std::string> terms = internal::DistinctTokens(text);
  if (terms.size() > kDiscoverQueryTermsMax) {
    return Status::InvalidArgument("query over " + std::to_string(kDiscoverQueryTermsMax) +
                                   " distinct terms");
  }
  if (terms.empty()) return ListJson(text, limit, cursor);
  size_t offset = 0;
  if (!cursor.empty()) {
    std::string_view digits = cursor.substr(1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
    if (cursor[0] != kRankCursor || digits.empty() || error != std::errc() ||
        end != digits.data() + digits.size()) {
      return Status::InvalidArgument("not a cursor of this query: " + std::string(cursor));
    }
  }
  internal::TextIndex::Page page;
  std::optional<ViewReader> reader;
  {
    std::shared_lock lock(mu_);
    page = index_.Search(terms, offset, limit);
    reader = reader_;
  }
  JsonWriter writer;
  writer.BeginObject().Member("position", reader ? reader->position() : uint64_t{0});
  writer.Member("query", text).Member("total", uint64_t{page.total});
  writer.Key("agents").BeginArray();
  for (const auto& hit : page.hits) {
    // The index and the snapshot were swapped together: every hit has its row.
    ANNALS_ASSIGN_OR_RETURN(std::optional<std::string> row, reader->Get(AgentKey(hit.key)));
    if (!row) return Status::Internal("agents index names " + hit.key + ", which has no row");
    writer.Raw(WithScore(*row, hit.score));
  }
  writer.EndArray();
  size_t next = offset + page.hits.size();
  std::optional<std::string> next_cursor;
  if (!page.hits.empty() && next < page.total) next_cursor = kRankCursor + std::to_string(next);
  internal::OptionalStringMember(writer, "next_cursor", next_cursor);
  writer.EndObject();
  return writer.Release();
}

// Discover without terms: every agent in did order, read from the snapshot's rows.
Result<std::string> AgentsViewImpl::ListJson(std::string_view text, size_t limit,
                                             std::string_view cursor) const {
  std::string from;
  if (!cursor.empty() && (cursor[0] != kListCursor || cursor.size() == 1 ||
                          !FromHex(cursor.substr(1), &from))) {
    return Status::InvalidArgument("not a cursor of this query: " + std::string(cursor));
  }
  std::optional<ViewReader> reader;
  size_t total = 0;
  {
    std::shared_lock lock(mu_);
    reader = reader_;
    total = index_.size();
  }
  JsonWriter writer;
  writer.BeginObject().Member("position", reader ? reader->position() : uint64_t{0});
  writer.Member("query", text).Member("total", uint64_t{total});
  writer.Key("agents").BeginArray();
  std::optional<std::string> next;
  size_t count = 0;
  if (reader) {
    ANNALS_RETURN_IF_ERROR(
        reader->Scan(kAgentKeyPrefix, from, [&](std::string_view key, std::string_view value) {
          if (count == limit) {
            next = std::string(1, kListCursor) + ToHex(key.substr(kAgentKeyPrefix.size()));
            return false;
          }
          writer.Raw(WithScore(value, 0));
          ++count;
          return true;
        }));
  }
  writer.EndArray();
  internal::OptionalStringMember(writer, "next_cursor", next);
  writer.EndObject();
  return writer.Release();
}

}  // namespace

std::unique_ptr<Projection> MakeAgentsView() { return std::make_unique<AgentsViewImpl>(); }

}  // namespace annals::projections
