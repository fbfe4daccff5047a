// `annalsctl bench`: the ledger's workloads, each run beside its raw RocksDB baseline in the same
// process on the same machine, reported as events/s and the ratio annals / baseline.
// Workloads and targets: docs/BENCHMARKS.md. Output: a table, or with --json
//   {"workloads":[{"name","events_per_s","baseline","baseline_events_per_s","ratio"}]}
#pragma once

#include <string>

namespace annals::tools {

struct BenchArgs {
  bool quick = false;  // a run within a minute
  bool json = false;
  std::string dir;     // scratch directory; "": a fresh one under /tmp, removed after
  std::string only;    // comma-separated workload names; "": all
  std::string sync_mode = "pipelined";  // the ledger's LedgerOptions::SyncMode: pipelined, inline
  // Each workload runs this many times; a figure reports its median run (bench.cc, MedianRun).
  int repeat = 1;
};

int RunBench(const BenchArgs& args);

}  // namespace annals::tools
