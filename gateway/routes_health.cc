// GET /healthz: the server runs (200). GET /readyz: 200 when the ledger is healthy and every
// view has folded up to the ledger's head (lag 0, not failed), else 503 naming what is not
// ready: what a load balancer asks before sending reads that expect the views current.
#include <algorithm>
#include <string>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"
#include "internal/problem.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace {

bool ViewReady(const projections::ViewStatus& view) {
  return view.lag == 0 && view.state != "failed";
}

void WriteView(const projections::ViewStatus& view, JsonWriter* out) {
  out->BeginObject()
      .Member("name", view.name)
      .Member("position", view.position)
      .Member("lag", view.lag)
      .Member("state", view.state);
  if (!view.error.empty()) out->Member("error", view.error);
  out->EndObject();
}

Response Readiness(RouteContext* context) {
  const bool healthy = context->ledger->healthy();
  const uint64_t head = context->ledger->GetHead().position;
  const std::vector<projections::ViewStatus> views = context->runner->Statuses();
  const bool views_ready = std::all_of(views.begin(), views.end(), ViewReady);
  auto members = [&](JsonWriter* out) {
    out->Member("ledger_healthy", healthy).Member("head", head);
    out->Key("views").BeginArray();
    for (const auto& view : views) WriteView(view, out);
    out->EndArray();
  };
  if (healthy && views_ready) {
    JsonWriter out;
    out.BeginObject().Member("ready", true);
    members(&out);
    out.EndObject();
    return JsonResponse(200, out.Release());
  }
  std::string detail = healthy ? "" : "the ledger refuses writes (storage failing); ";
  for (const auto& view : views) {
    if (!ViewReady(view)) {
      detail += "view " + view.name + " is " + std::to_string(view.lag) + " behind (" +
                view.state + "); ";
    }
  }
  detail.resize(detail.size() - 2);
  return Problem(ProblemKind::kNotReady, detail, members);
}

}  // namespace

void AddHealthRoutes(Router* router, RouteContext* context) {
  router->Add("GET", "/healthz", [](Request&, Reply reply) {
    reply(JsonResponse(200, R"({"status":"ok"})"));
  });
  router->Add("GET", "/readyz",
              [context](Request&, Reply reply) { reply(Readiness(context)); });
}

}  // namespace annals::gateway
