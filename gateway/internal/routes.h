// The gateway's routes, one area per routes_*.cc file, each adding its routes to the router.
// An area added later gets its own file and one line in Server::Start (server.cc).
//
// Handlers run on an I/O thread and must not block it: an append completes through
// Ledger::Submit's callback; blocking work (ledger reads, bounded waits) goes to
// RouteContext::run_blocking. Each handler calls its Reply exactly once.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "annals/eventstore/append.h"
#include "annals/gateway/server.h"
#include "internal/problem.h"
#include "internal/router.h"

namespace annals::gateway {

// Appends in flight (submitted, not yet answered by the ledger), at most. One more is answered
// 503: the ledger's queue (kQueueRequestsMax) then never fills from HTTP alone, so Submit never
// waits on an I/O thread for room.
inline constexpr size_t kAppendsInFlightMax = 8192;
static_assert(kAppendsInFlightMax < eventstore::kQueueRequestsMax);

// What the routes share; owned by the Server, alive while it serves.
struct RouteContext {
  eventstore::Ledger* ledger = nullptr;
  projections::Runner* runner = nullptr;
  const reactors::ReactorRunner* reactors = nullptr;   // may be null
  const reactors::Replication* replication = nullptr;  // null: replication is off
  GatewayOptions options;
  // Runs `work` on the blocking pool, never on an I/O thread.
  std::function<void(std::function<void()> work)> run_blocking;
  std::atomic<size_t> appends_in_flight{0};
  class Metrics* metrics = nullptr;  // internal/metrics.h; set by the Server before it serves
  class LiveHub* live = nullptr;     // internal/live.h: the SSE tail; set by the Server
  class AnswerCache* answers = nullptr;  // internal/answer_cache.h; set by the Server
};

// How an append's outcome reads over HTTP, shared by every route that appends (routes_append.cc):
// "/api/v1/events/<position>"; a recorded event's position, stream, revision and hash as members;
// the problem for an event the ledger did not append (duplicate 409, key reuse 422, wrong
// revision 412, invalid 400, too large 413, unavailable 503), with its index in a batch and
// `extra` members.
std::string EventLocation(uint64_t position);
void WriteRecorded(const eventstore::AppendOutcome& o, JsonWriter* out);
Response AppendOutcomeProblem(const eventstore::AppendOutcome& o, std::optional<size_t> index,
                              const ProblemMembers& extra = {});

// GET /api/v1/events/live (routes_live.cc): Server-Sent Events fed by context->live.
void AddLiveRoutes(Router* router, RouteContext* context);
// GET /metrics (routes_metrics.cc): context->metrics in the Prometheus text format.
void AddMetricsRoutes(Router* router, RouteContext* context);

// POST /api/v1/events, POST /api/v1/streams/{stream}/events (routes_append.cc).
void AddAppendRoutes(Router* router, RouteContext* context);
// GET /api/v1/events, /api/v1/events/{position}, /api/v1/streams/{stream},
// /api/v1/ledger/head (routes_read.cc).
void AddReadRoutes(Router* router, RouteContext* context);
// GET /healthz, /readyz (routes_health.cc).
void AddHealthRoutes(Router* router, RouteContext* context);
// The views, with Annals-Position and min_position; POST drift-scan (routes_views.cc).
void AddViewRoutes(Router* router, RouteContext* context);
// GET /api/v1/admin/reactors, /api/v1/admin/replication (routes_admin.cc).
void AddAdminRoutes(Router* router, RouteContext* context);
// Access control on every request, whichever area its route is in (internal/auth.h, auth.cc).
void AddAccessControl(Router* router, RouteContext* context);

}  // namespace annals::gateway
