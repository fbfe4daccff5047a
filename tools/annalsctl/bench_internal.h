// What the ledger workloads (bench.cc) and the view workloads (bench_views.cc) share.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"
#include "annals/projections/views_db.h"

namespace annals::tools {

using BenchClock = std::chrono::steady_clock;

inline constexpr int kConcurrentThreads = 64;

// One line of the report. Latency workloads also give p50/p99 (ms) and their target; a
// workload without a baseline has baseline_events_per_s 0 and no ratio.
struct Figure {
  std::string name;
  double events_per_s = 0;
  std::string baseline;
  double baseline_events_per_s = 0;
  double p50_ms = -1;  // -1: not a latency workload
  double p99_ms = -1;
  std::string target;
  int runs = 1;  // the runs this figure is the median of (--repeat)
};

// Events per second since `start`.
double Rate(uint64_t events, BenchClock::time_point start);
// Reports and exits with kExitError: a benchmark that goes wrong has no figure to give.
[[noreturn]] void Fail(const std::string& what);
// The sync mode of every ledger the benchmark opens (--sync-mode).
extern eventstore::LedgerOptions::SyncMode g_sync_mode;
// A ledger in a fresh directory at `path`.
std::unique_ptr<eventstore::Ledger> FreshLedger(const std::string& path);
void CheckAppended(const eventstore::AppendOutcome& o);

// A views database in a fresh directory at `path`, and a runner over it (bench_views.cc).
std::unique_ptr<projections::ViewsDb> FreshViews(const std::string& path);
std::unique_ptr<projections::Runner> OpenRunner(eventstore::Ledger& ledger,
                                                projections::ViewsDb& db,
                                                std::vector<projections::ViewSpec> views);
// The `p` quantile (0..1) of `values` (sorted in place); 0 when empty.
double Percentile(std::vector<double>& values, double p);

// The view workloads (bench_views.cc); docs/BENCHMARKS.md.
std::vector<Figure> RebuildAgents(const std::string& dir, bool quick);
std::vector<Figure> Discover(const std::string& dir, bool quick);
std::vector<Figure> ProjectionLag(const std::string& dir, bool quick);

// The replication workloads (bench_replication.cc): replication-lag and replication-max,
// between two ledgers over a nats-server the benchmark starts; none when nats-server is not
// installed (said on stderr).
std::vector<Figure> Replication(const std::string& dir, bool quick);

}  // namespace annals::tools
