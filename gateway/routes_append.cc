// POST /api/v1/events and POST /api/v1/streams/{stream}/events: the CloudEvents HTTP binding
// in (internal/cloudevents_http.h), the ledger's append contract out (DESIGN.md, "Append
// contract"): 201 appended, 409 duplicate, 422 key reuse, 412 wrong revision, 400 invalid,
// 413 too large, 503 unavailable; a batch answers 201 with one result per event, or the status
// of the event that failed with its index.
#include <fmt/format.h>

#include <algorithm>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/eventstore/append.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/eventstore/ledger.h"
#include "internal/cloudevents_http.h"
#include "internal/metrics.h"
#include "internal/problem.h"
#include "internal/query.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

constexpr std::string_view kIdempotencyKeyHeader = "idempotency-key";
constexpr std::string_view kExpectedRevisionHeader = "expected-revision";

// What the request says about where and how its events go, besides the events.
struct AppendTarget {
  std::string stream;  // from the path; "" on /api/v1/events
  std::string key;     // Idempotency-Key; "" when absent
  es::ExpectedRevision expected;
};

// A header that may appear at most once: its value, or nullptr; a problem when repeated.
std::optional<Response> SingleHeader(const Request& request, std::string_view name,
                                     const std::string** value) {
  if (request.header_count(name) > 1) {
    return InvalidParameter(name, fmt::format("the header {} appears more than once", name));
  }
  *value = request.header(name);
  return std::nullopt;
}

std::optional<Response> ReadAppendTarget(const Request& request, bool stream_route,
                                         AppendTarget* target) {
  if (stream_route) target->stream = request.param("stream");
  const std::string* key = nullptr;
  if (auto problem = SingleHeader(request, kIdempotencyKeyHeader, &key)) return problem;
  if (key != nullptr) target->key = *key;
  const std::string* expected = nullptr;
  if (auto problem = SingleHeader(request, kExpectedRevisionHeader, &expected)) return problem;
  if (expected == nullptr) return std::nullopt;
  auto parsed = es::ParseExpectedRevision(*expected);
  if (!parsed) {
    return InvalidParameter(kExpectedRevisionHeader,
                            fmt::format("Expected-Revision is any, no_stream, exists or a "
                                        "revision number, not '{}'", *expected));
  }
  target->expected = *parsed;
  return std::nullopt;
}

Response InvalidEventProblem(std::string_view attribute, std::string_view detail,
                             std::optional<size_t> index) {
  return Problem(ProblemKind::kInvalidEvent, detail, [&](JsonWriter* out) {
    out->Member("attribute", attribute);
    if (index) out->Member("index", uint64_t{*index});
  });
}

Response BindingProblem(const BindingError& error) {
  if (error.kind == ProblemKind::kInvalidEvent) {
    return InvalidEventProblem(error.attribute, error.attribute + ": " + error.detail, error.index);
  }
  return Problem(error.kind, error.detail, [&](JsonWriter* out) {
    if (error.index) out->Member("index", uint64_t{*error.index});
  });
}

// The key of event `index`: a batch sent with Idempotency-Key K gives event i the key "K#i",
// so that a retried batch is recognized event by event.
std::string EventKey(const AppendTarget& target, bool batch, size_t index) {
  if (target.key.empty() || !batch) return target.key;
  return fmt::format("{}#{}", target.key, index);
}

// Joins the events with the request's target. A problem when a reserved extension of an event
// contradicts the request or names the origin (set by the ledger, or by replication).
std::optional<Response> Propose(std::vector<es::ParsedEvent> events, const AppendTarget& target,
                                bool batch, std::vector<es::ProposedEvent>* out) {
  const std::optional<size_t> no_index;
  for (size_t i = 0; i < events.size(); ++i) {
    es::ParsedEvent& parsed = events[i];
    const std::optional<size_t> index = batch ? std::optional<size_t>(i) : no_index;
    if (!parsed.origin.empty()) {
      return InvalidEventProblem(es::kOriginExtension,
                                 "annalsorigin: the origin of an event posted over HTTP is this "
                                 "registry; only replication records another",
                                 index);
    }
    if (!parsed.stream.empty() && !target.stream.empty() && parsed.stream != target.stream) {
      return InvalidEventProblem(es::kStreamExtension,
                                 fmt::format("annalsstream: the event names the stream '{}' but "
                                             "was posted to the stream '{}'",
                                             parsed.stream, target.stream),
                                 index);
    }
    const std::string key = EventKey(target, batch, i);
    if (!parsed.idempotency_key.empty() && !key.empty() && parsed.idempotency_key != key) {
      return InvalidEventProblem(es::kKeyExtension,
                                 "annalskey: the event's key differs from the Idempotency-Key "
                                 "header",
                                 index);
    }
    es::ProposedEvent proposed;
    proposed.event = std::move(parsed.event);
    proposed.stream = target.stream.empty() ? std::move(parsed.stream) : target.stream;
    proposed.idempotency_key = key.empty() ? std::move(parsed.idempotency_key) : key;
    // The check is made before the first event; later events of the batch follow it in order.
    if (i == 0) proposed.expected = target.expected;
    out->push_back(std::move(proposed));
  }
  return std::nullopt;
}

void WriteResults(const std::vector<es::AppendOutcome>& outcomes, JsonWriter* out) {
  out->Key("results").BeginArray();
  for (const es::AppendOutcome& o : outcomes) {
    out->BeginObject().Member("result", es::AppendCodeName(o.code));
    WriteRecorded(o, out);
    out->EndObject();
  }
  out->EndArray();
}

Response SingleResponse(const es::AppendOutcome& o) {
  if (o.code != es::AppendCode::kAppended) return AppendOutcomeProblem(o, std::nullopt);
  JsonWriter out;
  out.BeginObject().Member("result", es::AppendCodeName(o.code));
  WriteRecorded(o, &out);
  out.EndObject();
  Response r = JsonResponse(201, out.Release());
  r.headers.emplace_back("Location", EventLocation(o.position));
  return r;
}

Response BatchResponse(const std::vector<es::AppendOutcome>& outcomes) {
  const auto refused = std::find_if(outcomes.begin(), outcomes.end(), [](const auto& o) {
    return !o.recorded() && o.code != es::AppendCode::kBatchAborted;
  });
  if (refused != outcomes.end()) {
    return AppendOutcomeProblem(*refused, static_cast<size_t>(refused - outcomes.begin()));
  }
  const bool all_duplicates =
      !outcomes.empty() && std::all_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
        return o.code == es::AppendCode::kDuplicate;
      });
  if (all_duplicates) {
    return AppendOutcomeProblem(outcomes.front(), 0,
                          [&](JsonWriter* out) { WriteResults(outcomes, out); });
  }
  JsonWriter out;
  out.BeginObject();
  WriteResults(outcomes, &out);
  out.EndObject();
  return JsonResponse(outcomes.empty() ? 200 : 201, out.Release());
}

void HandleAppend(RouteContext* context, Request& request, const Reply& reply, bool stream_route) {
  const auto received = std::chrono::steady_clock::now();
  AppendTarget target;
  if (auto problem = ReadAppendTarget(request, stream_route, &target)) return reply(*problem);
  // Events refused before the ledger count in the metrics as the ledger's answer would.
  auto refuse = [&](Response problem) {
    context->metrics->CountRefusedAppend(problem.status);
    reply(std::move(problem));
  };
  DecodedEvents decoded = DecodeEvents(&request);
  if (decoded.error) return refuse(BindingProblem(*decoded.error));
  const bool batch = decoded.mode == ContentMode::kBatch;
  std::vector<es::ProposedEvent> events;
  if (auto problem = Propose(std::move(decoded.events), target, batch, &events)) {
    return refuse(*problem);
  }
  if (context->appends_in_flight.fetch_add(1) >= kAppendsInFlightMax) {
    context->appends_in_flight.fetch_sub(1);
    return refuse(Problem(ProblemKind::kUnavailable,
                          fmt::format("{} appends are in flight, the most this server takes",
                                      kAppendsInFlightMax)));
  }
  // The completion runs on the ledger's sync thread and must be short: one event's answer is
  // rendered there, a batch's (up to kBatchEventsMax results) on the blocking pool.
  context->ledger->Submit(std::move(events), [context, reply, batch, received](auto outcomes) {
    context->appends_in_flight.fetch_sub(1);
    context->metrics->CountAppends(outcomes, received);
    if (!batch) return reply(SingleResponse(outcomes.at(0)));
    context->run_blocking(
        [reply, outcomes = std::move(outcomes)] { reply(BatchResponse(outcomes)); });
  });
}

}  // namespace

std::string EventLocation(uint64_t position) {
  return fmt::format("/api/v1/events/{}", position);
}

// position, stream, revision, hash of a recorded event.
void WriteRecorded(const es::AppendOutcome& o, JsonWriter* out) {
  out->Member("position", o.position);
  if (!o.stream.empty()) out->Member("stream", o.stream).Member("revision", o.revision);
  out->Member("hash", ToHex(o.hash));
}

// The problem for an event the ledger did not append (duplicate included), with its index in a
// batch. `extra` adds members (a batch's results).
Response AppendOutcomeProblem(const es::AppendOutcome& o, std::optional<size_t> index,
                              const ProblemMembers& extra) {
  auto members = [&](JsonWriter* out) {
    if (index) out->Member("index", uint64_t{*index});
    if (extra) extra(out);
  };
  switch (o.code) {
    case es::AppendCode::kDuplicate: {
      Response r = Problem(ProblemKind::kDuplicate,
                           fmt::format("already recorded at position {}", o.position),
                           [&](JsonWriter* out) {
                             WriteRecorded(o, out);
                             members(out);
                           });
      r.headers.emplace_back("Location", EventLocation(o.position));
      return r;
    }
    case es::AppendCode::kKeyReuse:
      return Problem(ProblemKind::kKeyReuse, o.error.reason, [&](JsonWriter* out) {
        out->Member("attribute", o.error.attribute).Member("position", o.position);
        members(out);
      });
    case es::AppendCode::kWrongRevision:
      return Problem(ProblemKind::kWrongRevision, o.error.reason, [&](JsonWriter* out) {
        out->Key("actual_revision");
        if (o.actual_revision) {
          out->Uint(*o.actual_revision);
        } else {
          out->Null();
        }
        members(out);
      });
    case es::AppendCode::kInvalidEvent:
      return InvalidEventProblem(o.error.attribute, o.error.attribute + ": " + o.error.reason,
                                 index);
    case es::AppendCode::kTooLarge:
      return Problem(ProblemKind::kTooLarge, o.error.reason, [&](JsonWriter* out) {
        out->Member("attribute", o.error.attribute);
        members(out);
      });
    case es::AppendCode::kUnavailable:
    case es::AppendCode::kBatchAborted:
      return Problem(ProblemKind::kUnavailable, o.error.reason, members);
    case es::AppendCode::kAppended: break;
  }
  ANNALS_UNREACHABLE();
}


void AddAppendRoutes(Router* router, RouteContext* context) {
  router->Add("POST", "/api/v1/events", [context](Request& request, Reply reply) {
    HandleAppend(context, request, reply, /*stream_route=*/false);
  });
  router->Add("POST", "/api/v1/streams/{stream}/events",
              [context](Request& request, Reply reply) {
                HandleAppend(context, request, reply, /*stream_route=*/true);
              });
}

}  // namespace annals::gateway
