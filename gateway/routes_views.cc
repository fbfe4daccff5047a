// The view routes (DESIGN.md, "Views" and "Gateway (HTTP)"): discovery and one agent (agents
// view), the card feed, peer registry cards and this registry's own card (card-cache view), the
// peers (peers view) and their compliance (compliance view), and the drift-scan request, which
// appends one event.
//
// A view answer's body is exactly what the view's query function returns (the JSON
// `annalsctl` prints; tests/golden/ holds examples), except the registry card, which serves the
// card alone and its entity-tag as the ETag header. Every answer that read a view carries
// `Annals-Position: N`, the ledger position the answer reflects. `min_position=N` (on every
// view route) first waits, at most `min_position_wait_ms_max`, for the view to have folded N:
// read-your-writes; still behind then: 503 "view behind" with the position reached.
//
// Threads: parameters are read on the I/O thread; the wait and the query run on the blocking
// pool (RouteContext::run_blocking), never on an I/O thread. The drift-scan request completes
// through Ledger::Submit's callback, as an append does.
#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "annals/base/assert.h"
#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/append.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/agents.h"
#include "annals/projections/card_cache.h"
#include "annals/projections/compliance.h"
#include "annals/projections/limits.h"
#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/schemas/event_types.h"
#include "internal/answer_cache.h"
#include "internal/problem.h"
#include "internal/query.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace es = annals::eventstore;
namespace pj = annals::projections;

namespace {

constexpr std::string_view kMinPosition = "min_position";
constexpr std::string_view kPositionHeader = "Annals-Position";
constexpr uint64_t kUint64Max = std::numeric_limits<uint64_t>::max();

static_assert(kMinPositionWaitMsMaxDefault <= pj::kWaitForMsMax,
              "the runner honours the whole default wait");

// ------------------------------------------------------------------ answers and positions

// A view's answer and the ledger position it reflects (nullopt: the view could not be read).
struct Answer {
  Response response;
  std::optional<uint64_t> position;
};

// Runs on the blocking pool, once the view has reached the position asked for.
using Ask = std::function<Answer()>;

Response WithPosition(Answer answer) {
  if (answer.position) {
    answer.response.headers.emplace_back(kPositionHeader, std::to_string(*answer.position));
  }
  return std::move(answer.response);
}

// The "position" every view body starts with ({"position":N,...}: the views' contract).
uint64_t BodyPosition(std::string_view json) {
  constexpr std::string_view kPrefix = R"({"position":)";
  ANNALS_ASSERT_MSG(json.starts_with(kPrefix), "a view answer starts with its position");
  const std::string_view rest = json.substr(kPrefix.size());
  const std::optional<uint64_t> position = ParseDecimal(rest.substr(0, rest.find_first_of(",}")));
  ANNALS_ASSERT_MSG(position.has_value(), "a view answer's position is a number");
  return *position;
}

// The problem for a query the view refused: NotFound 404, InvalidArgument 400 naming
// `parameter` (a limit, cursor or text of the view's own), anything else as StatusProblem.
Response RefusedQuery(const Status& status, std::string_view parameter) {
  switch (status.code()) {
    case StatusCode::kNotFound: return Problem(ProblemKind::kNotFound, status.message());
    case StatusCode::kInvalidArgument: return InvalidParameter(parameter, status.message());
    default: return StatusProblem(status);
  }
}

// A view that cannot be read at all (not built yet, storage failing): 503, retry later.
Response ViewUnavailable(std::string_view view, const Status& status) {
  return Problem(ProblemKind::kUnavailable,
                 fmt::format("the {} view cannot answer: {}", view, status.ToString()),
                 [&](JsonWriter* out) { out->Member("view", view); });
}

Response ViewBehind(std::string_view view, uint64_t reached, uint64_t min_position,
                    uint32_t waited_ms) {
  return Problem(ProblemKind::kUnavailable,
                 fmt::format("view behind: the {} view has folded up to position {}, not {}, "
                             "after {} ms",
                             view, reached, min_position, waited_ms),
                 [&](JsonWriter* out) {
                   out->Member("view", view)
                       .Member("position", reached)
                       .Member("min_position", min_position);
                 });
}

// Reads `min_position`, then on the blocking pool waits for `view` to reach it and answers with
// `ask`, adding Annals-Position. An answer the view gave at its current position already (and
// that position is at least min_position) is served from context->answers on this thread.
void ServeView(RouteContext* context, const Request& request, const QueryParams& query,
               std::string_view view, const Reply& reply, Ask ask) {
  uint64_t min_position = 0;
  if (auto problem = ReadUint(query, kMinPosition, 0, 0, kUint64Max, &min_position)) {
    return reply(*problem);
  }
  std::string key = AnswerCache::Key(view, request, query);
  const uint64_t current = context->runner->WaitFor(view, 0, std::chrono::milliseconds(0));
  if (min_position <= current) {
    if (std::optional<Response> cached = context->answers->Find(key, current)) {
      return reply(std::move(*cached));
    }
  }
  context->run_blocking([context, view, min_position, reply, ask = std::move(ask),
                         key = std::move(key)] {
    if (min_position > 0) {
      const uint32_t wait_ms =
          std::min(context->options.min_position_wait_ms_max, pj::kWaitForMsMax);
      const uint64_t reached =
          context->runner->WaitFor(view, min_position, std::chrono::milliseconds(wait_ms));
      if (reached < min_position) {
        return reply(WithPosition({ViewBehind(view, reached, min_position, wait_ms), reached}));
      }
    }
    Answer answer = ask();
    const std::optional<uint64_t> position = answer.position;
    Response response = WithPosition(std::move(answer));
    if (position && response.status != 503) context->answers->Store(key, *position, response);
    reply(std::move(response));
  });
}

// Answers from one snapshot of `view`: `respond` builds the response from it.
Answer FromReader(RouteContext* context, std::string_view view,
                  const std::function<Response(const pj::ViewReader&)>& respond) {
  auto reader = context->runner->Reader(view);
  if (!reader.ok()) return {ViewUnavailable(view, reader.status()), std::nullopt};
  return {respond(*reader), reader->position()};
}

// The JSON of a query, or the problem it was refused with.
Response JsonOrProblem(const Result<std::string>& json, std::string_view parameter) {
  if (!json.ok()) return RefusedQuery(json.status(), parameter);
  return JsonResponse(200, *json);
}

// Names the query parameter a refused query was about.
using ParameterOf = std::string_view (*)(const Status& refusal);

// Answers with a query of the agents view, which reads its own snapshot (pinned with its text
// index at each fold). A refusal carries the position the runner reported just before the
// query: the view's snapshot is at least there.
Answer FromAgents(RouteContext* context,
                  const std::function<Result<std::string>(const pj::AgentsView&)>& query,
                  ParameterOf parameter_of) {
  const uint64_t folded =
      context->runner->WaitFor(pj::kAgentsView, 0, std::chrono::milliseconds(0));
  auto live = context->runner->Live(pj::kAgentsView);
  if (!live.ok()) return {ViewUnavailable(pj::kAgentsView, live.status()), std::nullopt};
  const auto* agents = dynamic_cast<const pj::AgentsView*>(live->get());
  ANNALS_ASSERT_MSG(agents != nullptr, "the agents view is an AgentsView");
  Result<std::string> json = query(*agents);
  if (!json.ok()) return {RefusedQuery(json.status(), parameter_of(json.status())), folded};
  const uint64_t position = BodyPosition(*json);
  return {JsonResponse(200, std::move(*json)), position};
}

// ---------------------------------------------------------------------- entity-tags, 304

// The If-None-Match field of a request (several fields joined with ','), nullopt when absent.
std::optional<std::string> IfNoneMatch(const Request& request) {
  std::optional<std::string> list;
  for (const Header& header : request.headers) {
    if (header.name != "if-none-match") continue;
    list = list ? *list + "," + header.value : header.value;
  }
  return list;
}

// Whether an If-None-Match list names `etag` (a quoted entity-tag) by the weak comparison
// RFC 9110 (13.1.2) prescribes for it: "*", or a member equal to it with or without "W/".
// A malformed list matches nothing (the full answer is sent).
bool EtagListMatches(std::string_view list, std::string_view etag) {
  size_t i = 0;
  while (i < list.size()) {
    const char c = list[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    if (c == '*') return true;
    if (list.substr(i).starts_with("W/")) i += 2;
    if (i >= list.size() || list[i] != '"') return false;
    const size_t close = list.find('"', i + 1);
    if (close == std::string_view::npos) return false;
    if (list.substr(i, close + 1 - i) == etag) return true;
    i = close + 1;
  }
  return false;
}

Response NotModified(std::string etag) {
  Response response;
  response.status = 304;
  response.headers.emplace_back("ETag", std::move(etag));
  return response;
}

// `response` with its ETag, or 304 when If-None-Match names that tag.
Response Conditional(const std::optional<std::string>& if_none_match, std::string etag,
                     Response response) {
  if (if_none_match && EtagListMatches(*if_none_match, etag)) return NotModified(std::move(etag));
  response.headers.emplace_back("ETag", std::move(etag));
  return response;
}

// The card feed page: its ETag is the SHA-256 of the body.
Response CardFeed(const Result<std::string>& json,
                  const std::optional<std::string>& if_none_match) {
  if (!json.ok()) return RefusedQuery(json.status(), "since");
  std::string etag = "\"" + ToHex(Sha256(*json)) + "\"";
  return Conditional(if_none_match, std::move(etag), JsonResponse(200, *json));
}

// {"position":N,"etag":"\"<hex>\"","card":{...}} split into the card's JSON text (exactly as
// the view wrote it) and the entity-tag.
struct OwnCard {
  std::string card;
  std::string etag;
};
Result<OwnCard> SplitOwnCard(const std::string& json) {
  simdjson::ondemand::parser parser;
  const simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  std::string_view etag;
  std::string_view card;
  simdjson::ondemand::object card_object;
  if (parser.iterate(padded).get(doc) || doc["etag"].get_string().get(etag) ||
      doc["card"].get_object().get(card_object) || card_object.raw_json().get(card)) {
    return Status::Internal("the card-cache view's own card is not of the documented shape");
  }
  return OwnCard{std::string(card), std::string(etag)};
}

// GET /.well-known/registry-card.json from one snapshot: with If-None-Match, the ETag alone is
// read first (one row) and a match is answered 304 without building the card.
Response OwnRegistryCard(const pj::ViewReader& reader,
                         const std::optional<std::string>& if_none_match) {
  if (if_none_match) {
    Result<std::string> etag = pj::OwnRegistryCardEtag(reader);
    if (!etag.ok()) return RefusedQuery(etag.status(), "");
    if (EtagListMatches(*if_none_match, *etag)) return NotModified(std::move(*etag));
  }
  Result<std::string> json = pj::OwnRegistryCardJson(reader);
  if (!json.ok()) return RefusedQuery(json.status(), "");
  Result<OwnCard> own = SplitOwnCard(*json);
  if (!own.ok()) return StatusProblem(own.status());
  Response response = JsonResponse(200, std::move(own->card));
  response.headers.emplace_back("ETag", std::move(own->etag));
  return response;
}

// ------------------------------------------------------------------------------ handlers

std::string QueryText(const QueryParams& query, std::string_view name) {
  const std::string* value = QueryValue(query, name);
  return value == nullptr ? "" : *value;
}

// A refused discover names what was wrong: the limit is checked here, so the view refuses
// only the query text (too long, too many terms, not UTF-8) or a cursor it did not give.
std::string_view DiscoverParameter(const Status& refusal) {
  return refusal.message().find("cursor") != std::string::npos ? "cursor" : "query";
}

// The query of a paged route: the parameters `known`, and `limit` within the view's own page
// limits (the default when absent).
std::optional<Response> ReadPagedQuery(const Request& request,
                                       std::initializer_list<std::string_view> known,
                                       size_t limit_default, size_t limit_max, QueryParams* query,
                                       uint64_t* limit) {
  if (auto problem = ReadQuery(request, known, query)) return problem;
  return ReadUint(*query, "limit", limit_default, 1, limit_max, limit);
}

void HandleDiscover(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  uint64_t limit = 0;
  if (auto problem = ReadPagedQuery(request, {"query", "limit", "cursor", kMinPosition},
                                    pj::kDiscoverLimitDefault, pj::kDiscoverLimitMax, &query,
                                    &limit)) {
    return reply(*problem);
  }
  ServeView(context, request, query, pj::kAgentsView, reply,
            [context, text = QueryText(query, "query"), cursor = QueryText(query, "cursor"),
             limit] {
              return FromAgents(
                  context,
                  [&](const pj::AgentsView& agents) {
                    return agents.DiscoverJson(text, limit, cursor);
                  },
                  DiscoverParameter);
            });
}

void HandleAgent(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {kMinPosition}, &query)) return reply(*problem);
  ServeView(context, request, query, pj::kAgentsView, reply, [context, did = request.param("did")] {
    return FromAgents(
        context, [&](const pj::AgentsView& agents) { return agents.AgentJson(did); },
        [](const Status&) -> std::string_view { return "did"; });
  });
}

void HandleCardFeed(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  uint64_t limit = 0;
  if (auto problem = ReadPagedQuery(request, {"since", "limit", kMinPosition},
                                    pj::kCardFeedLimitDefault, pj::kCardFeedLimitMax, &query,
                                    &limit)) {
    return reply(*problem);
  }
  ServeView(context, request, query, pj::kCardCacheView, reply,
            [context, since = QueryText(query, "since"), limit,
             if_none_match = IfNoneMatch(request)] {
              return FromReader(context, pj::kCardCacheView, [&](const pj::ViewReader& reader) {
                return CardFeed(pj::CardsSinceJson(reader, since, limit), if_none_match);
              });
            });
}

void HandleOwnRegistryCard(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {kMinPosition}, &query)) return reply(*problem);
  ServeView(context, request, query, pj::kCardCacheView, reply,
            [context, if_none_match = IfNoneMatch(request)] {
              return FromReader(context, pj::kCardCacheView, [&](const pj::ViewReader& reader) {
                return OwnRegistryCard(reader, if_none_match);
              });
            });
}

// A route that answers one query of a view's snapshot, with the path parameter `param` ("" :
// none) as its argument.
using ReaderQuery = Result<std::string> (*)(const pj::ViewReader&, std::string_view argument);

void AddReaderRoute(Router* router, RouteContext* context, std::string_view pattern,
                    std::string_view view, std::string_view param, ReaderQuery run) {
  router->Add("GET", pattern, [context, view, param, run](Request& request, Reply reply) {
    QueryParams query;
    if (auto problem = ReadQuery(request, {kMinPosition}, &query)) return reply(*problem);
    std::string argument = param.empty() ? "" : request.param(param);
    ServeView(context, request, query, view, reply, [context, view, param, run, argument] {
      return FromReader(context, view, [&](const pj::ViewReader& reader) {
        return JsonOrProblem(run(reader, argument), param);
      });
    });
  });
}

// ---------------------------------------------------------------------------- drift scan

constexpr std::string_view kDriftScanSource = "/api/v1/admin/federation/drift-scan";
constexpr std::string_view kRequestedBy = "requested_by";
constexpr std::string_view kPeerId = "peer_id";

// The body of POST /api/v1/admin/federation/drift-scan, as the event's data: requested_by
// (required) and peer_id (optional; null is absent), written in that order whatever order
// they came in, so that a retry of the same request is the same event.
struct DriftScan {
  std::string data;     // {"requested_by":...,"peer_id":...}
  std::string peer_id;  // "" : a scan of every peer
};

Response InvalidBodyField(std::string_view field, std::string_view detail) {
  return InvalidParameter(field, fmt::format("{}: {}", field, detail));
}

std::optional<Response> ParseDriftScan(const Request& request, DriftScan* out) {
  const std::string* type = request.header("content-type");
  if (type != nullptr && !es::IsJsonContentType(*type)) {
    return Problem(ProblemKind::kUnsupportedMediaType,
                   fmt::format("a drift-scan request is application/json, not {}", *type));
  }
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (parser.parse(request.body).get(body) != simdjson::SUCCESS) {
    return InvalidBodyField("body", "must be a JSON object {\"requested_by\", \"peer_id\"?}");
  }
  std::optional<simdjson::dom::element> requested_by;
  std::optional<simdjson::dom::element> peer_id;
  bool seen[2] = {false, false};  // requested_by, peer_id
  for (const auto field : body) {
    const bool is_peer_id = field.key == kPeerId;
    if (!is_peer_id && field.key != kRequestedBy) {
      return InvalidBodyField(field.key, "not a member of a drift-scan request (requested_by, "
                                         "peer_id)");
    }
    if (std::exchange(seen[is_peer_id ? 1 : 0], true)) {
      return InvalidBodyField(field.key, "appears more than once");
    }
    if (!field.value.is_null()) (is_peer_id ? peer_id : requested_by) = field.value;
  }
  if (!requested_by) return InvalidBodyField(kRequestedBy, "required");
  if (!requested_by->is_string()) return InvalidBodyField(kRequestedBy, "must be a string");
  if (peer_id && !peer_id->is_string()) return InvalidBodyField(kPeerId, "must be a string");
  JsonWriter data;
  data.BeginObject().Member(kRequestedBy, requested_by->get_string().value_unsafe());
  if (peer_id) {
    out->peer_id = std::string(peer_id->get_string().value_unsafe());
    data.Member(kPeerId, out->peer_id);
  }
  data.EndObject();
  out->data = data.Release();
  return std::nullopt;
}

// The event a drift-scan request appends. With an Idempotency-Key the event's id is derived
// from it (a retry is the same event: a duplicate); without one each request is a new scan.
es::ProposedEvent DriftScanEvent(const DriftScan& scan, const std::string& key) {
  es::CloudEvent event;
  event.set_spec_version("1.0");
  event.set_type(std::string(schemas::event_types::kDriftScanRequested));
  event.set_source(std::string(kDriftScanSource));
  if (key.empty()) {
    std::random_device random;
    event.set_id(fmt::format("drift-scan-{:08x}{:08x}{:08x}{:08x}", random(), random(), random(),
                             random()));
  } else {
    event.set_id("drift-scan-" + ToHex(Sha256(key)));
  }
  auto& attributes = *event.mutable_attributes();
  attributes["datacontenttype"].set_ce_string("application/json");
  if (!scan.peer_id.empty()) attributes["subject"].set_ce_string("compliance-" + scan.peer_id);
  event.set_text_data(scan.data);
  es::ProposedEvent proposed;
  proposed.event = std::move(event);
  proposed.idempotency_key = key;
  return proposed;
}

// The problem for a drift-scan event the ledger refused as invalid, naming what the request
// said: a field of the body (the event's data: "data.peer_id" is "peer_id"; the subject and
// stream are "compliance-<peer_id>"), the Idempotency-Key header, or else the body.
Response RefusedScan(const es::InvalidAttribute& error) {
  std::string_view field = error.attribute;
  if (field.starts_with("data.")) {
    field.remove_prefix(5);
  } else if (field == "subject" || field == "stream") {
    return InvalidBodyField(kPeerId, "names the stream compliance-<peer_id>, and " + error.reason);
  } else if (field == "idempotency_key") {
    return InvalidParameter("idempotency-key", error.reason);
  } else {
    field = "body";
  }
  return InvalidBodyField(field, error.reason);
}

// What the ledger answered for a drift-scan event: 202 with its position once recorded; a
// refusal as the problem an append to /api/v1/events gets, but an invalid event is the
// request's fault (RefusedScan).
Response DriftScanResponse(const es::AppendOutcome& o) {
  if (o.code == es::AppendCode::kInvalidEvent || o.code == es::AppendCode::kTooLarge) {
    return RefusedScan(o.error);
  }
  if (o.code != es::AppendCode::kAppended) return AppendOutcomeProblem(o, std::nullopt);
  JsonWriter out;
  out.BeginObject().Member("result", es::AppendCodeName(o.code));
  WriteRecorded(o, &out);
  out.EndObject();
  Response response = JsonResponse(202, out.Release());
  response.headers.emplace_back("Location", EventLocation(o.position));
  return response;
}

void HandleDriftScan(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {}, &query)) return reply(*problem);
  if (request.header_count("idempotency-key") > 1) {
    return reply(InvalidParameter("idempotency-key",
                                  "the header idempotency-key appears more than once"));
  }
  DriftScan scan;
  if (auto problem = ParseDriftScan(request, &scan)) return reply(*problem);
  const std::string* key = request.header("idempotency-key");
  es::ProposedEvent event = DriftScanEvent(scan, key == nullptr ? "" : *key);
  if (context->appends_in_flight.fetch_add(1) >= kAppendsInFlightMax) {
    context->appends_in_flight.fetch_sub(1);
    return reply(Problem(ProblemKind::kUnavailable,
                         fmt::format("{} appends are in flight, the most this server takes",
                                     kAppendsInFlightMax)));
  }
  std::vector<es::ProposedEvent> events;
  events.push_back(std::move(event));
  context->ledger->Submit(std::move(events), [context, reply](auto outcomes) {
    context->appends_in_flight.fetch_sub(1);
    reply(DriftScanResponse(outcomes.at(0)));
  });
}

}  // namespace

void AddViewRoutes(Router* router, RouteContext* context) {
  using Handle = void (*)(RouteContext*, const Request&, const Reply&);
  auto add = [&](std::string_view method, std::string_view pattern, Handle handle) {
    router->Add(method, pattern, [context, handle](Request& request, Reply reply) {
      handle(context, request, reply);
    });
  };
  add("GET", "/api/v1/discover", HandleDiscover);
  add("GET", "/api/v1/agents/{did}", HandleAgent);
  add("GET", "/api/v1/federation/agent-cards", HandleCardFeed);
  add("GET", "/.well-known/registry-card.json", HandleOwnRegistryCard);
  AddReaderRoute(router, context, "/api/v1/federation/registry-cards/{peer_id}",
                 pj::kCardCacheView, "peer_id",
                 [](const pj::ViewReader& r, std::string_view id) {
                   return pj::PeerRegistryCardJson(r, id);
                 });
  AddReaderRoute(router, context, "/api/v1/federation/peers", pj::kPeersView, "",
                 [](const pj::ViewReader& r, std::string_view) { return pj::PeersJson(r); });
  AddReaderRoute(router, context, "/api/v1/federation/peers/{id}", pj::kPeersView, "id",
                 [](const pj::ViewReader& r, std::string_view id) { return pj::PeerJson(r, id); });
  AddReaderRoute(router, context, "/api/v1/admin/federation/compliance/peers",
                 pj::kComplianceView, "",
                 [](const pj::ViewReader& r, std::string_view) {
                   return pj::CompliancePeersJson(r);
                 });
  AddReaderRoute(router, context, "/api/v1/admin/federation/compliance/peers/{id}",
                 pj::kComplianceView, "id",
                 [](const pj::ViewReader& r, std::string_view id) {
                   return pj::CompliancePeerJson(r, id);
                 });
  add("POST", "/api/v1/admin/federation/drift-scan", HandleDriftScan);
}

}  // namespace annals::gateway
