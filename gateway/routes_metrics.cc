// GET /metrics: the gateway's metrics (internal/metrics.h) in the Prometheus text format, from
// our own route (prometheus-cpp's TextSerializer; never its civetweb exposer). The views'
// positions and the ledger's head are read at scrape time.
#include "internal/metrics.h"
#include "internal/query.h"
#include "internal/routes.h"

namespace annals::gateway {

void AddMetricsRoutes(Router* router, RouteContext* context) {
  router->Add("GET", "/metrics", [context](Request& request, Reply reply) {
    QueryParams query;
    if (auto problem = ReadQuery(request, {}, &query)) return reply(*problem);
    Response response;
    response.content_type = std::string(kPrometheusContentType);
    response.body = context->metrics->Render();
    reply(std::move(response));
  });
}

}  // namespace annals::gateway
