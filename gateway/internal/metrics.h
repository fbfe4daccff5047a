// The gateway's Prometheus metrics, kept by prometheus-cpp core and served by GET /metrics
// (routes_metrics.cc) in the text exposition format. docs/annalsd.md lists every metric.
//
//   annals_appends_total{result}              events answered, by AppendCode name (those the
//                                             gateway refused before the ledger: once a request)
//   annals_append_latency_seconds             append request (read whole) to the ledger's answer
//   annals_http_requests_total{method,route,status}
//   annals_http_request_duration_seconds{method,route}   first byte to response written
//   annals_sse_streams, annals_sse_slow_clients_total     open event streams, streams cut
//   annals_ledger_head_position, annals_view_position{view}, annals_view_lag{view}
//                                             read at scrape time (Ledger, Runner::Statuses)
//   annals_ledger_size_bytes, annals_ledger_background_jobs,
//   annals_ledger_pending_compaction_bytes, annals_ledger_key_filter_capacity,
//   annals_ledger_key_filter_bytes, annals_ledger_indexed_position
//                                             read at scrape time (Ledger::Stats)
//   annals_reactor_position{reactor}, annals_reactor_emitted_total{reactor},
//   annals_reactor_retries_total{reactor}, annals_reactor_failed{reactor}
//                                             read at scrape time (ReactorRunner::Statuses)
//   annals_replication_connected, annals_replication_published_total,
//   annals_replication_publisher_position, annals_replication_publisher_errors_total,
//   annals_replication_events_total{peer,result}   appended, duplicate, refused_malformed,
//                                                  refused_peer_not_active
//   annals_replication_lag{peer}, annals_replication_errors_total{peer}
//                                             read at scrape time (Replication::GetStatus);
//                                             absent when replication is off
//
// The counters on the hot path (appends, responses) take no lock of their own: each label set
// is resolved once (prometheus-cpp's family lock) and kept in an atomic slot; incrementing is
// prometheus-cpp's atomic add (a histogram's Observe takes that histogram's own mutex).
// `route` is the pattern of the route that took the request ("/api/v1/events/{position}"), so
// that the label has as many values as the server has routes; a request no route took (404,
// 405, a malformed path parameter, a message refused while being read) counts as method and
// route "none".
//
// Thread-safety: every method may be called from any thread. The sources are not owned and
// must outlive the Metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "annals/eventstore/append.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"
#include "annals/reactors/reactor.h"
#include "annals/reactors/replication.h"
#include "internal/http.h"
#include "internal/router.h"

namespace annals::gateway {

// What is read at scrape time. ledger and runner are required; the others may be null.
struct MetricSources {
  const eventstore::Ledger* ledger = nullptr;
  const projections::Runner* runner = nullptr;
  const reactors::ReactorRunner* reactors = nullptr;
  const reactors::Replication* replication = nullptr;
};

class Metrics {
 public:
  // `routes`: the server's routes as Router::Describe() lists them ("GET /api/v1/events").
  Metrics(MetricSources sources, const std::vector<std::string>& routes);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The route index of a request no route took.
  size_t no_route() const;

  // The ledger answered an append: one count per event by its outcome, and one latency from
  // `received` (the request read whole) to now.
  void CountAppends(const std::vector<eventstore::AppendOutcome>& outcomes,
                    std::chrono::steady_clock::time_point received);

  // An append refused by the gateway before the ledger, answered `status`: one count as the
  // ledger would answer the event (400 invalid, 413 too_large, 503 unavailable; another
  // status, such as 415 for a body that is no CloudEvent, counts nothing), and no latency.
  void CountRefusedAppend(int status);

  // A response written: `route` is an index into the routes (or no_route()), `elapsed` the time
  // from the request's first byte to the response written (for a stream: its head written).
  void CountResponse(size_t route, unsigned status, std::chrono::steady_clock::duration elapsed);

  // An event stream opened; one closed (`slow_client`: cut for reading too slowly).
  void StreamOpened();
  void StreamClosed(bool slow_client);

  // Every metric in the Prometheus text format (version 0.0.4).
  std::string Render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Which route takes a request, for the `route` label: a Router holding the same patterns,
// whose handlers only name their route (so the matching rules are the Router's own).
class RouteClassifier {
 public:
  // `routes` as for Metrics.
  explicit RouteClassifier(const std::vector<std::string>& routes);
  // The index of the route that takes `method` and `path`, or routes.size() when none does.
  size_t Classify(std::string_view method, std::string_view path) const;

 private:
  Router router_;
  size_t none_ = 0;
};

// The Prometheus text format's content type.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace annals::gateway
