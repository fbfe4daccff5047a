// GET /api/v1/admin/reactors: each reactor's state, checkpoint and counters.
// GET /api/v1/admin/replication: the replication publisher and each peer's consumer
// (reactors::ReplicationStatusJson; docs/replication.md, "Status"), or {"enabled":false} when
// annalsd runs without a NATS URL. Both are admin routes (internal/auth.h).
#include "annals/base/json_writer.h"
#include "annals/reactors/reactor.h"
#include "annals/reactors/replication.h"
#include "internal/query.h"
#include "internal/routes.h"

namespace annals::gateway {

void AddAdminRoutes(Router* router, RouteContext* context) {
  router->Add("GET", "/api/v1/admin/reactors", [context](Request& request, Reply reply) {
    QueryParams query;
    if (auto problem = ReadQuery(request, {}, &query)) return reply(*problem);
    JsonWriter w;
    w.BeginObject().Key("reactors").BeginArray();
    if (context->reactors != nullptr) {
      for (const reactors::ReactorStatus& s : context->reactors->Statuses()) {
        w.BeginObject()
            .Member("name", s.name)
            .Member("state", s.state)
            .Member("position", s.position)
            .Member("handled", s.handled)
            .Member("emitted", s.emitted)
            .Member("duplicates", s.duplicates)
            .Member("retries", s.retries)
            .Member("last_error", s.last_error)
            .EndObject();
      }
    }
    w.EndArray().EndObject();
    reply(JsonResponse(200, w.Release()));
  });
  router->Add("GET", "/api/v1/admin/replication", [context](Request& request, Reply reply) {
    QueryParams query;
    if (auto problem = ReadQuery(request, {}, &query)) return reply(*problem);
    if (context->replication == nullptr) return reply(JsonResponse(200, R"({"enabled":false})"));
    std::string json = reactors::ReplicationStatusJson(context->replication->GetStatus());
    json.insert(1, R"("enabled":true,)");
    reply(JsonResponse(200, std::move(json)));
  });
}

}  // namespace annals::gateway
