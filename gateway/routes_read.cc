// The audit reads: GET /api/v1/events (paged by position, filtered by type or stream),
// GET /api/v1/events/{position}, GET /api/v1/streams/{stream} (paged by revision) and
// GET /api/v1/ledger/head. Records are rendered by eventstore::RecordToJson, the same JSON
// `annalsctl read` prints. Pages carry their next page as "next" in the body and as a
// Link: <...>; rel="next" header; "next" is null once a page reaches the ledger's head.
// Ledger reads run on the blocking pool.
#include <fmt/format.h>

#include <limits>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/time_format.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/record_json.h"
#include "internal/problem.h"
#include "internal/query.h"
#include "internal/routes.h"
#include "internal/uri.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

constexpr uint64_t kUint64Max = std::numeric_limits<uint64_t>::max();

// The page size a request asks for (`limit`), within the server's page limit.
std::optional<Response> ReadLimit(const QueryParams& query, const GatewayOptions& options,
                                  uint64_t* limit) {
  const uint64_t fallback = std::min<uint64_t>(kPageSizeDefault, options.page_size_max);
  return ReadUint(query, "limit", fallback, 1, options.page_size_max, limit);
}

// {"<members written by `head`>", "events":[records], "next": next_url | null}, with a Link
// header when there is a next page.
Response PageResponse(const es::ReadPage& page, const std::string& next_url,
                      const std::function<void(JsonWriter*)>& head = {}) {
  JsonWriter out;
  out.BeginObject();
  if (head) head(&out);
  out.Key("events").BeginArray();
  for (const es::Record& record : page.records) out.Raw(es::RecordToJson(record));
  out.EndArray();
  out.Key("next");
  if (page.end) {
    out.Null();
  } else {
    out.String(next_url);
  }
  out.EndObject();
  Response response = JsonResponse(200, out.Release());
  if (!page.end) response.headers.emplace_back("Link", fmt::format("<{}>; rel=\"next\"", next_url));
  return response;
}

std::string EventsUrl(uint64_t from, uint64_t limit, const es::ReadAllOptions& options) {
  std::string url = fmt::format("/api/v1/events?from={}&limit={}", from, limit);
  if (!options.type.empty()) url += "&type=" + PercentEncode(options.type);
  if (!options.stream.empty()) url += "&stream=" + PercentEncode(options.stream);
  return url;
}

void HandleReadAll(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {"from", "limit", "type", "stream"}, &query)) {
    return reply(*problem);
  }
  es::ReadAllOptions options;
  uint64_t limit = 0;
  if (auto problem = ReadUint(query, "from", 1, 1, kUint64Max, &options.from_position)) {
    return reply(*problem);
  }
  if (auto problem = ReadLimit(query, context->options, &limit)) return reply(*problem);
  options.limit = limit;
  if (const std::string* type = QueryValue(query, "type")) options.type = *type;
  if (const std::string* stream = QueryValue(query, "stream")) options.stream = *stream;
  context->run_blocking([context, reply, options, limit] {
    auto page = context->ledger->ReadAll(options);
    if (!page.ok()) return reply(StatusProblem(page.status()));
    reply(PageResponse(*page, EventsUrl(page->next, limit, options)));
  });
}

void HandleReadStream(RouteContext* context, const Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {"from_revision", "limit"}, &query)) return reply(*problem);
  uint64_t from_revision = 0;
  uint64_t limit = 0;
  if (auto problem = ReadUint(query, "from_revision", 0, 0, kUint64Max, &from_revision)) {
    return reply(*problem);
  }
  if (auto problem = ReadLimit(query, context->options, &limit)) return reply(*problem);
  context->run_blocking([context, reply, stream = request.param("stream"), from_revision, limit] {
    auto page = context->ledger->ReadStream(stream, from_revision, limit);
    if (!page.ok()) return reply(StatusProblem(page.status()));
    const std::string next = fmt::format("/api/v1/streams/{}?from_revision={}&limit={}",
                                         PercentEncode(stream), page->next, limit);
    reply(PageResponse(*page, next, [&](JsonWriter* out) { out->Member("stream", stream); }));
  });
}

void HandleReadAt(RouteContext* context, const Request& request, const Reply& reply) {
  const std::string& text = request.param("position");
  const std::optional<uint64_t> position = ParseDecimal(text);
  if (!position || *position == 0) {
    return reply(InvalidParameter(
        "position", fmt::format("a position is a whole number from 1, not '{}'", text)));
  }
  context->run_blocking([context, reply, position = *position] {
    auto record = context->ledger->ReadAt(position);
    if (!record.ok()) return reply(StatusProblem(record.status()));
    reply(JsonResponse(200, es::RecordToJson(*record)));
  });
}

void HandleHead(RouteContext* context, const Reply& reply) {
  const es::Head head = context->ledger->GetHead();
  JsonWriter out;
  out.BeginObject().Member("position", head.position).Member("hash", ToHex(head.hash));
  out.Key("recorded_at");
  if (head.position == 0) {
    out.Null();
  } else {
    out.String(FormatRfc3339Nanos(head.recorded_at_ns));
  }
  out.EndObject();
  reply(JsonResponse(200, out.Release()));
}

}  // namespace

void AddReadRoutes(Router* router, RouteContext* context) {
  router->Add("GET", "/api/v1/events", [context](Request& request, Reply reply) {
    HandleReadAll(context, request, reply);
  });
  router->Add("GET", "/api/v1/events/{position}", [context](Request& request, Reply reply) {
    HandleReadAt(context, request, reply);
  });
  router->Add("GET", "/api/v1/streams/{stream}", [context](Request& request, Reply reply) {
    HandleReadStream(context, request, reply);
  });
  router->Add("GET", "/api/v1/ledger/head",
              [context](Request&, Reply reply) { HandleHead(context, reply); });
}

}  // namespace annals::gateway
