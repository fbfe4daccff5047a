// The view workloads of `annalsctl bench` (bench_internal.h; targets in docs/BENCHMARKS.md):
//   rebuild-agents  the agents view rebuilt from a ledger of agent events, against a raw
//                   RocksDB scan of the same ledger's records
//   discover        Discover latency over a catalog of agents (p50, p99)
//   projection-lag  how long after an event is durable every view reflects it (p50, p99), while
//                   64 writers append
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "annals/projections/agents.h"
#include "annals/projections/rebuild_floor.h"
#include "annals/projections/registry_views.h"
#include "bench_internal.h"
#include "sample_events.h"

namespace annals::tools {

namespace es = annals::eventstore;
namespace pj = annals::projections;

namespace {

using Clock = BenchClock;

constexpr uint64_t kRebuildEventsFull = 1'000'000;
constexpr uint64_t kRebuildEventsQuick = 100'000;
// The rebuild floor runs over at most this many of them (it holds their data in memory).
constexpr uint64_t kFloorEventsMax = 200'000;
constexpr uint64_t kDiscoverAgentsFull = 100'000;
constexpr uint64_t kDiscoverAgentsQuick = 20'000;
constexpr int kDiscoverQueriesFull = 10'000;
constexpr int kDiscoverQueriesQuick = 2'000;
constexpr uint64_t kLagEventsFull = 320'000;
constexpr uint64_t kLagEventsQuick = 64'000;
constexpr auto kLagSampleInterval = std::chrono::milliseconds(2);

// `count` events of a generated history, appended in asynchronous batches.
void FillFromSample(es::Ledger& ledger, SampleHistory& history, uint64_t count) {
  constexpr size_t kFillBatch = 2048;
  std::atomic<uint64_t> pending{0};
  uint64_t appended = 0;
  es::ProposedEvent event;
  while (appended < count) {
    std::vector<es::ProposedEvent> batch;
    while (batch.size() < kFillBatch && appended < count && history.Next(&event)) {
      batch.push_back(std::move(event));
      ++appended;
    }
    if (batch.empty()) break;
    while (pending.load() > 16) std::this_thread::sleep_for(std::chrono::microseconds(200));
    ++pending;
    ledger.Submit(std::move(batch), [&](std::vector<es::AppendOutcome> out) {
      for (const auto& o : out) CheckAppended(o);
      --pending;
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (ledger.GetHead().position != appended) Fail("the sample history ran out of events");
}

std::vector<pj::ViewSpec> AgentsOnly() {
  return {{std::string(pj::kAgentsView), [] { return pj::MakeAgentsView(); }}};
}

// Every record of the ledger's `records` column family, read by a plain RocksDB iterator.
double RawScan(const std::string& ledger_path, uint64_t expected) {
  std::vector<std::string> families;
  rocksdb::Options options;
  if (!rocksdb::DB::ListColumnFamilies(options, ledger_path, &families).ok()) Fail("listing families");
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(options, ledger_path, descriptors, &handles, &raw).ok()) {
    Fail("opening the ledger with raw RocksDB");
  }
  rocksdb::ColumnFamilyHandle* records = nullptr;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i] == "records") records = handles[i];
  }
  if (records == nullptr) Fail("the ledger has no records family");
  const auto start = Clock::now();
  uint64_t count = 0;
  size_t bytes = 0;
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), records));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++count;
    bytes += it->value().size();
  }
  double rate = Rate(count, start);
  it.reset();
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
  if (count != expected || bytes == 0) Fail("the raw scan read the wrong records");
  return rate;
}

}  // namespace

std::unique_ptr<pj::ViewsDb> FreshViews(const std::string& path) {
  std::filesystem::remove_all(path);
  auto db = pj::ViewsDb::Open({.path = path});
  if (!db.ok()) Fail(db.status().ToString());
  return std::move(db).value();
}

std::unique_ptr<pj::Runner> OpenRunner(es::Ledger& ledger, pj::ViewsDb& db,
                                       std::vector<pj::ViewSpec> views) {
  auto runner = pj::Runner::Open({.ledger = &ledger, .db = &db}, std::move(views));
  if (!runner.ok()) Fail(runner.status().ToString());
  return std::move(runner).value();
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = static_cast<size_t>(p * static_cast<double>(values.size() - 1));
  return values[index];
}


std::vector<Figure> RebuildAgents(const std::string& dir, bool quick) {
  const uint64_t events = quick ? kRebuildEventsQuick : kRebuildEventsFull;
  Figure f{"rebuild-agents", 0, "raw RocksDB scan of the same ledger", 0};
  auto ledger = FreshLedger(dir + "/ledger");
  SampleHistory history({.agents = events, .peers = 0, .seed = 11, .agents_only = true});
  FillFromSample(*ledger, history, events);
  f.baseline_events_per_s = RawScan(dir + "/ledger", events);
  auto views = FreshViews(dir + "/views");
  auto runner = OpenRunner(*ledger, *views, AgentsOnly());
  auto report = runner->Rebuild(pj::kAgentsView, events);
  if (!report.ok()) Fail(report.status().ToString());
  if (report->position != events) Fail("the rebuild stopped short");
  f.events_per_s = static_cast<double>(events) / report->seconds;
  f.target = "ratio >= 0.5";
  // What the machine allows any rebuild (rebuild_floor.h): the scan and the floor's steps,
  // spread perfectly over every core.
  auto floor = pj::MeasureRebuildFloor(*ledger, dir + "/floor", kFloorEventsMax);
  if (!floor.ok()) Fail(floor.status().ToString());
  const double cores = std::max(1u, std::thread::hardware_concurrency());
  const double scan_us = 1e6 / f.baseline_events_per_s;
  std::fprintf(stderr,
               "bench: rebuild floor, one core, per event: scan %.2f us (raw), parse %.2f, "
               "tokenize %.2f, index %.2f, row %.2f; %.0f cores\n",
               scan_us, floor->parse_us, floor->tokenize_us, floor->index_us, floor->row_us, cores);
  Figure bound{"rebuild-floor", cores * 1e6 / (scan_us + floor->total_us()),
               "raw scan; the floor: any rebuild at best", f.baseline_events_per_s};
  return {f, bound};
}

std::vector<Figure> Discover(const std::string& dir, bool quick) {
  const uint64_t agents = quick ? kDiscoverAgentsQuick : kDiscoverAgentsFull;
  const int queries = quick ? kDiscoverQueriesQuick : kDiscoverQueriesFull;
  Figure f{"discover", 0, "", 0};
  f.baseline = "latency over " + std::to_string(agents) + " agents";
  auto ledger = FreshLedger(dir + "/ledger");
  SampleHistory history({.agents = agents, .peers = 5, .seed = 12});
  FillFromSample(*ledger, history, UINT64_MAX);
  auto views = FreshViews(dir + "/views");
  auto runner = OpenRunner(*ledger, *views, AgentsOnly());
  if (Status s = runner->CatchUp("", 0); !s.ok()) Fail(s.ToString());
  auto live = runner->Live(pj::kAgentsView);
  if (!live.ok()) Fail(live.status().ToString());
  const auto& view = dynamic_cast<const pj::AgentsView&>(**live);
  SampleHistory words({.seed = 13});
  std::vector<double> latencies_ms;
  const auto start = Clock::now();
  size_t bytes = 0;
  for (int q = 0; q < queries; ++q) {
    std::string text = words.Query();
    const auto t0 = Clock::now();
    auto json = view.DiscoverJson(text, pj::kDiscoverLimitDefault, "");
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!json.ok()) Fail(json.status().ToString());
    bytes += json->size();
  }
  f.events_per_s = Rate(static_cast<uint64_t>(queries), start);
  if (bytes == 0) Fail("discover answered nothing");
  f.p50_ms = Percentile(latencies_ms, 0.50);
  f.p99_ms = Percentile(latencies_ms, 0.99);
  f.target = "p99 <= 2 ms";
  return {f};
}

std::vector<Figure> ProjectionLag(const std::string& dir, bool quick) {
  const uint64_t count = quick ? kLagEventsQuick : kLagEventsFull;
  Figure f{"projection-lag", 0, "", 0};
  f.baseline = "appends/s with all four views folding";
  std::vector<es::ProposedEvent> events;
  SampleHistory history({.agents = count, .peers = 20, .seed = 14});
  es::ProposedEvent event;
  while (events.size() < count && history.Next(&event)) events.push_back(std::move(event));
  auto ledger = FreshLedger(dir + "/ledger");
  auto views = FreshViews(dir + "/views");
  auto runner = OpenRunner(*ledger, *views, pj::RegistryViews());
  runner->Start();
  std::atomic<uint64_t> next{0};
  std::atomic<int> writing{kConcurrentThreads};
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int t = 0; t < kConcurrentThreads; ++t) {
    writers.emplace_back([&] {
      for (uint64_t i = next++; i < events.size(); i = next++) CheckAppended(ledger->Append(std::move(events[i])));
      --writing;
    });
  }
  // The lag of a sample: from the moment a position is durable until every view reflects it.
  std::vector<double> lags_ms;
  while (writing.load() > 0) {
    uint64_t head = ledger->GetHead().position;
    const auto t0 = Clock::now();
    for (const auto& name : runner->names()) runner->WaitFor(name, head, std::chrono::seconds(10));
    lags_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    std::this_thread::sleep_for(kLagSampleInterval);
  }
  for (auto& w : writers) w.join();
  f.events_per_s = Rate(events.size(), start);
  runner->Stop();
  f.p50_ms = Percentile(lags_ms, 0.50);
  f.p99_ms = Percentile(lags_ms, 0.99);
  f.target = "p99 <= 50 ms";
  return {f};
}

}  // namespace annals::tools
