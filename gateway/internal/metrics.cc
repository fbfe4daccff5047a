#include "internal/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <atomic>

#include "annals/base/assert.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

using prometheus::Counter;
using prometheus::Histogram;

constexpr std::string_view kNone = "none";

// The HTTP statuses a response can have; each (route, status) pair gets its counter on first use.
constexpr unsigned kStatusMin = 100;
constexpr unsigned kStatusMax = 599;

// Seconds from first byte to response written: a read of one record takes well under a
// millisecond, a page of 10000 records or a view wait up to seconds.
const Histogram::BucketBoundaries& RequestBuckets() {
  static const Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return buckets;
}

// Seconds from an append request to the ledger's answer: an fsync (a millisecond or so on an
// SSD, tens on a disk), more when the ledger's queue is deep.
const Histogram::BucketBoundaries& AppendBuckets() {
  static const Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};
  return buckets;
}

constexpr es::AppendCode kAppendCodes[] = {
    es::AppendCode::kAppended,      es::AppendCode::kDuplicate,   es::AppendCode::kKeyReuse,
    es::AppendCode::kWrongRevision, es::AppendCode::kInvalidEvent, es::AppendCode::kTooLarge,
    es::AppendCode::kUnavailable,   es::AppendCode::kBatchAborted};
constexpr size_t kAppendCodeSlots = 9;  // indexed by the code's number (1..8)

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One gauge sample with one label (or none when `label` is empty).
prometheus::ClientMetric GaugeSample(std::string_view label, std::string_view value, double v) {
  prometheus::ClientMetric metric;
  if (!label.empty()) metric.label.push_back({std::string(label), std::string(value)});
  metric.gauge.value = v;
  return metric;
}

// A family whose samples are read at scrape time.
prometheus::MetricFamily ScrapedFamily(std::string name, std::string help,
                                       prometheus::MetricType type) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

prometheus::MetricFamily GaugeFamily(std::string name, std::string help) {
  return ScrapedFamily(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}

prometheus::MetricFamily CounterFamily(std::string name, std::string help) {
  return ScrapedFamily(std::move(name), std::move(help), prometheus::MetricType::Counter);
}

prometheus::ClientMetric CounterSample(std::vector<prometheus::ClientMetric::Label> labels,
                                       uint64_t v) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = static_cast<double>(v);
  return metric;
}

// The ledger's storage, from Ledger::Stats (which lists the data directory: a scrape's cost, not
// an append's). A failed Stats leaves them out of this scrape.
void ScrapeLedgerStorage(const es::Ledger& ledger, std::vector<prometheus::MetricFamily>* out) {
  auto stats = ledger.Stats();
  if (!stats.ok()) return;
  const std::pair<const char*, const char*> names[] = {
      {"annals_ledger_size_bytes", "Bytes of the ledger's files"},
      {"annals_ledger_background_jobs", "RocksDB flushes and compactions running or due"},
      {"annals_ledger_pending_compaction_bytes", "RocksDB's estimate of bytes compactions must rewrite"},
      {"annals_ledger_key_filter_capacity", "Keys the idempotency key filter in use is sized for"},
      {"annals_ledger_key_filter_bytes", "Memory of the idempotency key filters held"},
      {"annals_ledger_indexed_position", "Position through which the stream and type indexes hold every record"}};
  const uint64_t values[] = {stats->size_bytes,          stats->background_jobs,
                             stats->pending_compaction_bytes, stats->key_filter_capacity,
                             stats->key_filter_bytes,    stats->indexed_position};
  for (size_t i = 0; i < std::size(names); ++i) {
    auto family = GaugeFamily(names[i].first, names[i].second);
    family.metric.push_back(GaugeSample("", "", static_cast<double>(values[i])));
    out->push_back(std::move(family));
  }
}

// The reactors' families, read from their statuses.
void ScrapeReactors(const reactors::ReactorRunner& runner,
                    std::vector<prometheus::MetricFamily>* out) {
  auto position = GaugeFamily("annals_reactor_position", "The last position a reactor has handled");
  auto emitted = CounterFamily("annals_reactor_emitted_total", "Events a reactor appended");
  auto retries = CounterFamily("annals_reactor_retries_total", "Reactions retried after a failure");
  auto failed = GaugeFamily("annals_reactor_failed", "1 when a reactor stopped on a failure");
  for (const reactors::ReactorStatus& s : runner.Statuses()) {
    position.metric.push_back(GaugeSample("reactor", s.name, static_cast<double>(s.position)));
    emitted.metric.push_back(CounterSample({{"reactor", s.name}}, s.emitted));
    retries.metric.push_back(CounterSample({{"reactor", s.name}}, s.retries));
    failed.metric.push_back(GaugeSample("reactor", s.name, s.state == "failed" ? 1 : 0));
  }
  for (auto* family : {&position, &emitted, &retries, &failed}) out->push_back(std::move(*family));
}

// Replication's families, read from its status.
void ScrapeReplication(const reactors::Replication& replication,
                       std::vector<prometheus::MetricFamily>* out) {
  const reactors::ReplicationStatus status = replication.GetStatus();
  auto connected = GaugeFamily("annals_replication_connected", "1 when connected to NATS");
  connected.metric.push_back(GaugeSample("", "", status.connected ? 1 : 0));
  auto published = CounterFamily("annals_replication_published_total",
                                 "Own events acknowledged by JetStream");
  published.metric.push_back(CounterSample({}, status.publisher.published));
  auto position = GaugeFamily("annals_replication_publisher_position",
                              "The last ledger position the publisher has passed");
  position.metric.push_back(GaugeSample("", "", static_cast<double>(status.publisher.position)));
  auto publisher_errors = CounterFamily("annals_replication_publisher_errors_total",
                                        "Publisher failures (each followed by a backoff)");
  publisher_errors.metric.push_back(CounterSample({}, status.publisher.errors));
  auto events = CounterFamily("annals_replication_events_total",
                              "Peer events received, by peer and result");
  auto lag = GaugeFamily("annals_replication_lag",
                         "A peer's messages not yet delivered or not yet acknowledged");
  auto errors = CounterFamily("annals_replication_errors_total",
                              "Consumer failures (each followed by a backoff)");
  for (const reactors::PeerReplicationStatus& p : status.peers) {
    for (auto [result, count] :
         {std::pair{"appended", p.appended}, std::pair{"duplicate", p.duplicates},
          std::pair{"refused_malformed", p.refused_malformed},
          std::pair{"refused_peer_not_active", p.refused_peer_not_active}}) {
      events.metric.push_back(CounterSample({{"peer", p.peer}, {"result", result}}, count));
    }
    if (p.lag) lag.metric.push_back(GaugeSample("peer", p.peer, static_cast<double>(*p.lag)));
    errors.metric.push_back(CounterSample({{"peer", p.peer}}, p.errors));
  }
  for (auto* family : {&connected, &published, &position, &publisher_errors, &events, &lag, &errors}) {
    out->push_back(std::move(*family));
  }
}

}  // namespace

struct Metrics::Impl {
  // The label values of one route.
  struct Route {
    std::string method;
    std::string pattern;
  };
  // The metrics of one route, resolved on first use.
  struct RouteSlots {
    std::array<std::atomic<Counter*>, kStatusMax - kStatusMin + 1> requests{};
    std::atomic<Histogram*> duration{nullptr};
  };

  Impl(MetricSources sources_in, const std::vector<std::string>& routes_in)
      : ledger(sources_in.ledger),
        runner(sources_in.runner),
        sources(sources_in),
        appends(prometheus::BuildCounter()
                    .Name("annals_appends_total")
                    .Help("Events of HTTP appends by result: the ledger's answer, or the gateway's "
                          "refusal before it")
                    .Register(registry)),
        append_latency(prometheus::BuildHistogram()
                           .Name("annals_append_latency_seconds")
                           .Help("From an append request read whole to the ledger's answer")
                           .Register(registry)
                           .Add({}, AppendBuckets())),
        requests(prometheus::BuildCounter()
                     .Name("annals_http_requests_total")
                     .Help("HTTP responses written, by method, route pattern and status")
                     .Register(registry)),
        durations(prometheus::BuildHistogram()
                      .Name("annals_http_request_duration_seconds")
                      .Help("From a request's first byte to its response written (a stream: "
                            "its head), by method and route pattern")
                      .Register(registry)),
        sse_streams(prometheus::BuildGauge()
                        .Name("annals_sse_streams")
                        .Help("Open Server-Sent Events streams")
                        .Register(registry)
                        .Add({})),
        sse_slow_clients(prometheus::BuildCounter()
                             .Name("annals_sse_slow_clients_total")
                             .Help("Event streams cut because the client read too slowly")
                             .Register(registry)
                             .Add({})) {
    for (es::AppendCode code : kAppendCodes) {
      const auto index = static_cast<size_t>(code);
      ANNALS_ASSERT(index < kAppendCodeSlots);
      append_by_code[index] = &appends.Add({{"result", std::string(es::AppendCodeName(code))}});
    }
    for (const std::string& route : routes_in) {
      const size_t space = route.find(' ');
      ANNALS_ASSERT_MSG(space != std::string::npos, "a route is described as \"METHOD pattern\"");
      routes.push_back({route.substr(0, space), route.substr(space + 1)});
    }
    routes.push_back({std::string(kNone), std::string(kNone)});
    slots = std::make_unique<RouteSlots[]>(routes.size());
  }

  Counter& RequestCounter(size_t route, unsigned status) {
    status = std::clamp(status, kStatusMin, kStatusMax);
    std::atomic<Counter*>& slot = slots[route].requests[status - kStatusMin];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {
      // Family::Add returns the metric already there for the same labels: a race adds one.
      counter = &requests.Add({{"method", routes[route].method},
                               {"route", routes[route].pattern},
                               {"status", std::to_string(status)}});
      slot.store(counter, std::memory_order_release);
    }
    return *counter;
  }

  Histogram& DurationHistogram(size_t route) {
    std::atomic<Histogram*>& slot = slots[route].duration;
    Histogram* histogram = slot.load(std::memory_order_acquire);
    if (histogram == nullptr) {
      histogram = &durations.Add(
          {{"method", routes[route].method}, {"route", routes[route].pattern}}, RequestBuckets());
      slot.store(histogram, std::memory_order_release);
    }
    return *histogram;
  }

  // The metrics read at scrape time.
  std::vector<prometheus::MetricFamily> Scrape() const {
    auto head = GaugeFamily("annals_ledger_head_position", "The ledger's durable head position");
    head.metric.push_back(GaugeSample("", "", static_cast<double>(ledger->GetHead().position)));
    auto position = GaugeFamily("annals_view_position", "The last position a view has folded");
    auto lag = GaugeFamily("annals_view_lag", "Positions between the ledger's head and a view");
    for (const projections::ViewStatus& view : runner->Statuses()) {
      position.metric.push_back(GaugeSample("view", view.name, static_cast<double>(view.position)));
      lag.metric.push_back(GaugeSample("view", view.name, static_cast<double>(view.lag)));
    }
    std::vector<prometheus::MetricFamily> families;
    families.push_back(std::move(head));
    families.push_back(std::move(position));
    families.push_back(std::move(lag));
    ScrapeLedgerStorage(*ledger, &families);
    if (sources.reactors != nullptr) ScrapeReactors(*sources.reactors, &families);
    if (sources.replication != nullptr) ScrapeReplication(*sources.replication, &families);
    return families;
  }

  const es::Ledger* ledger;
  const projections::Runner* runner;
  MetricSources sources;
  prometheus::Registry registry;
  prometheus::Family<Counter>& appends;
  std::array<Counter*, kAppendCodeSlots> append_by_code{};
  Histogram& append_latency;
  prometheus::Family<Counter>& requests;
  prometheus::Family<Histogram>& durations;
  prometheus::Gauge& sse_streams;
  Counter& sse_slow_clients;
  std::vector<Route> routes;  // the last one is "none"
  std::unique_ptr<RouteSlots[]> slots;
};

Metrics::Metrics(MetricSources sources, const std::vector<std::string>& routes)
    : impl_(std::make_unique<Impl>(sources, routes)) {
  ANNALS_ASSERT(sources.ledger != nullptr && sources.runner != nullptr);
}

Metrics::~Metrics() = default;

size_t Metrics::no_route() const { return impl_->routes.size() - 1; }

void Metrics::CountAppends(const std::vector<es::AppendOutcome>& outcomes,
                           std::chrono::steady_clock::time_point received) {
  for (const es::AppendOutcome& outcome : outcomes) {
    const auto index = static_cast<size_t>(outcome.code);
    ANNALS_ASSERT(index < kAppendCodeSlots && impl_->append_by_code[index] != nullptr);
    impl_->append_by_code[index]->Increment();
  }
  impl_->append_latency.Observe(Seconds(std::chrono::steady_clock::now() - received));
}

void Metrics::CountRefusedAppend(int status) {
  es::AppendCode code = es::AppendCode::kInvalidEvent;
  switch (status) {
    case 400: code = es::AppendCode::kInvalidEvent; break;
    case 413: code = es::AppendCode::kTooLarge; break;
    case 503: code = es::AppendCode::kUnavailable; break;
    default: return;
  }
  impl_->append_by_code[static_cast<size_t>(code)]->Increment();
}

void Metrics::CountResponse(size_t route, unsigned status,
                            std::chrono::steady_clock::duration elapsed) {
  ANNALS_ASSERT(route <= no_route());
  impl_->RequestCounter(route, status).Increment();
  impl_->DurationHistogram(route).Observe(Seconds(elapsed));
}

void Metrics::StreamOpened() { impl_->sse_streams.Increment(); }

void Metrics::StreamClosed(bool slow_client) {
  impl_->sse_streams.Decrement();
  if (slow_client) impl_->sse_slow_clients.Increment();
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = impl_->registry.Collect();
  for (auto& family : impl_->Scrape()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

// ------------------------------------------------------------------------- RouteClassifier

RouteClassifier::RouteClassifier(const std::vector<std::string>& routes) : none_(routes.size()) {
  for (size_t i = 0; i < routes.size(); ++i) {
    const size_t space = routes[i].find(' ');
    ANNALS_ASSERT_MSG(space != std::string::npos, "a route is described as \"METHOD pattern\"");
    // The handler answers with -1 - its index as the status: never an HTTP status.
    router_.Add(routes[i].substr(0, space), routes[i].substr(space + 1),
                [i](Request&, Reply reply) {
                  Response named;
                  named.status = -1 - static_cast<int>(i);
                  reply(std::move(named));
                });
  }
}

size_t RouteClassifier::Classify(std::string_view method, std::string_view path) const {
  Request probe;
  probe.method = std::string(method);
  probe.target = std::string(path);
  size_t index = none_;
  router_.Dispatch(&probe, [&index](Response response) {
    if (response.status < 0) index = static_cast<size_t>(-1 - response.status);
  });
  return index;
}

}  // namespace annals::gateway
