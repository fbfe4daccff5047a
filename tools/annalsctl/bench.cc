// The ledger benchmark (bench.h). Each workload measures annals and its baseline on fresh
// directories, with the same ~450-byte CloudEvent payloads.
#include "bench.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <semaphore>
#include <thread>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/limits.h"
#include "bench_internal.h"
#include "commands.h"

namespace annals::tools {

namespace es = annals::eventstore;

// Shared with the view workloads (bench_internal.h).
double Rate(uint64_t events, BenchClock::time_point start) {
  const double s = std::chrono::duration<double>(BenchClock::now() - start).count();
  return s > 0 ? static_cast<double>(events) / s : 0;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "annalsctl bench: %s\n", what.c_str());
  std::exit(kExitError);
}

es::LedgerOptions::SyncMode g_sync_mode = es::LedgerOptions::SyncMode::kPipelined;

std::unique_ptr<es::Ledger> FreshLedger(const std::string& path) {
  std::filesystem::remove_all(path);
  es::LedgerOptions options;
  options.path = path;
  options.sync_mode = g_sync_mode;
  auto ledger = es::Ledger::Open(options);
  if (!ledger.ok()) Fail(ledger.status().ToString());
  return std::move(ledger).value();
}

void CheckAppended(const es::AppendOutcome& o) {
  if (o.code != es::AppendCode::kAppended) {
    Fail(std::string("append answered ") + std::string(es::AppendCodeName(o.code)) + ": " +
         o.error.reason);
  }
}

namespace {

using Clock = BenchClock;

struct Sizes {
  uint64_t single_writer;
  uint64_t concurrent;
  uint64_t batch;
  uint64_t read_all;
  uint64_t dedup_small_fill;
  uint64_t dedup_large_fill;
  uint64_t dedup_probe;
  bool quick;
};

constexpr Sizes kQuick{2'000, 64'000, 256'000, 200'000, 0, 0, 0, true};
constexpr Sizes kFull{10'000, 320'000, 1'024'000, 1'000'000, 100'000, 10'000'000, 320'000, false};
constexpr int kBatchEvents = 256;
// Streams the payloads spread over: agents with a few revisions each.
constexpr uint64_t kStreams = 1000;

es::CloudEvent PayloadEvent(uint64_t i) {
  es::CloudEvent e;
  e.set_spec_version("1.0");
  e.set_id("evt-" + std::to_string(i));
  e.set_source("spiffe://acme.com/registry");
  e.set_type("io.ossa.agent.published");
  (*e.mutable_attributes())["subject"].set_ce_string("acme-corp/agent-" +
                                                     std::to_string(i % kStreams));
  (*e.mutable_attributes())["datacontenttype"].set_ce_string("application/json");
  e.set_text_data("{\"agent\":{\"name\":\"agent-" + std::to_string(i % kStreams) +
                  "\",\"namespace\":\"acme-corp\",\"version\":\"2.4.1\",\"digest\":\"sha256:"
                  "a1b2c3d4e5f6789a1b2c3d4e5f6789a1b2c3d4e5f6789\",\"capabilities\":["
                  "\"financial-analysis\",\"risk-assessment\"],\"trustTier\":\"verified\"}}");
  return e;
}

// The raw baseline stores the event's JSON form, as a plain RocksDB event log would.
std::string PayloadJson(uint64_t i) { return es::CloudEventToJson(PayloadEvent(i)); }

// ---- annals side

es::ProposedEvent Proposal(uint64_t i) {
  es::ProposedEvent p;
  p.event = PayloadEvent(i);
  return p;
}

// `threads` threads append events [first, first + count) one at a time.
double AnnalsConcurrent(es::Ledger& ledger, uint64_t first, uint64_t count, int threads) {
  std::atomic<uint64_t> next{first};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint64_t i = next++; i < first + count; i = next++) CheckAppended(ledger.Append(Proposal(i)));
    });
  }
  for (auto& w : workers) w.join();
  return Rate(count, start);
}

double AnnalsBatches(es::Ledger& ledger, uint64_t first, uint64_t count, size_t batch_events) {
  const auto start = Clock::now();
  for (uint64_t i = first; i < first + count;) {
    std::vector<es::ProposedEvent> batch;
    for (size_t k = 0; k < batch_events && i < first + count; ++k, ++i) batch.push_back(Proposal(i));
    for (const auto& o : ledger.AppendBatch(std::move(batch))) CheckAppended(o);
  }
  return Rate(count, start);
}

// Fills a ledger fast: batches submitted asynchronously, many in flight.
void AnnalsFill(es::Ledger& ledger, uint64_t first, uint64_t count) {
  constexpr size_t kFillBatch = 2048;
  std::atomic<uint64_t> pending{0};
  for (uint64_t i = first; i < first + count;) {
    std::vector<es::ProposedEvent> batch;
    for (size_t k = 0; k < kFillBatch && i < first + count; ++k, ++i) batch.push_back(Proposal(i));
    while (pending.load() > 16) std::this_thread::sleep_for(std::chrono::microseconds(200));
    ++pending;
    ledger.Submit(std::move(batch), [&](std::vector<es::AppendOutcome> out) {
      for (const auto& o : out) CheckAppended(o);
      --pending;
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Reads the whole ledger through Ledger::Scan, the bulk read path (stored bytes, each record's
// position and layout checked): what replication and export read with.
double AnnalsScanAll(const es::Ledger& ledger) {
  const auto start = Clock::now();
  uint64_t count = 0;
  size_t bytes = 0;
  Status s = ledger.Scan(1, [&](uint64_t, std::string_view stored) {
    ++count;
    bytes += stored.size();
    return true;
  });
  if (!s.ok()) Fail(s.ToString());
  if (count != ledger.GetHead().position || bytes == 0) Fail("read-all read the wrong records");
  return Rate(count, start);
}

// Reads the whole ledger through ReadAll: pages of fully decoded records.
double AnnalsReadAllDecoded(const es::Ledger& ledger) {
  const auto start = Clock::now();
  uint64_t count = 0;
  es::ReadAllOptions options;
  options.limit = es::kReadPageEventsMax;
  for (;;) {
    auto page = ledger.ReadAll(options);
    if (!page.ok()) Fail(page.status().ToString());
    count += page->records.size();
    if (page->end) break;
    options.from_position = page->next;
  }
  if (count != ledger.GetHead().position) Fail("read-all-decoded read the wrong number of records");
  return Rate(count, start);
}

// ---- raw RocksDB side: an append-only log keyed by big-endian position plus an idempotency
// index, with a dedup lookup before each event (what rocks_raw.cc in the anchors measures).

class RawLog {
 public:
  explicit RawLog(const std::string& path) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions idem;
    idem.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                        {"idem", idem}};
    auto s = rocksdb::DB::Open(o, path, cfs, &handles_, &db_);
    if (!s.ok()) Fail(s.ToString());
  }
  ~RawLog() {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
    delete db_;
  }
  // Appends events [first, first + count) in batches of `batch_events`, sync=true.
  void AppendRange(uint64_t first, uint64_t count, size_t batch_events) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    for (uint64_t i = first; i < first + count;) {
      rocksdb::WriteBatch batch;
      for (size_t k = 0; k < batch_events && i < first + count; ++k, ++i) {
        // Keys in scattered order, as anchors/rocks_raw.cc makes them (real keys are UUIDs
        // and URIs, not a counter).
        const std::string key = "idem-" + std::to_string(i * 2654435761ull);
        std::string v;
        if (db_->Get(rocksdb::ReadOptions(), handles_[1], key, &v).ok()) continue;
        batch.Put(handles_[0], BigEndian64(i + 1), PayloadJson(i));
        batch.Put(handles_[1], key, BigEndian64(i + 1));
      }
      auto s = db_->Write(wo, &batch);
      if (!s.ok()) Fail(s.ToString());
    }
  }
  double Scan() {
    const auto start = Clock::now();
    rocksdb::ReadOptions ro;
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[0]));
    uint64_t count = 0;
    size_t bytes = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      bytes += it->value().size();
    }
    if (bytes == 0) Fail("empty raw scan");
    return Rate(count, start);
  }

 private:
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

double RawConcurrent(RawLog& raw, uint64_t count, int threads) {
  std::atomic<uint64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint64_t i = next++; i < count; i = next++) raw.AppendRange(i, 1, 1);
    });
  }
  for (auto& w : workers) w.join();
  return Rate(count, start);
}

// ---- the hand-off ceiling: what 64 blocking callers can do on this machine with one durable
// write per group and nothing else (no validation, hashing, dedup, index or RocksDB). Each
// caller queues its event's JSON and blocks; one thread takes all that is queued, writes it to a
// file, fdatasyncs it and answers every caller in it. A ledger's concurrent-64 can approach this
// rate and not pass it; neither can any baseline built the same way (docs/BENCHMARKS.md).

double HandoffCeiling(const std::string& path, uint64_t count, int threads) {
  struct Caller {
    const std::string* event;
    std::binary_semaphore answered{0};
  };
  std::filesystem::create_directories(path);
  const std::string file = path + "/handoff.log";
  const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) Fail("cannot create " + file);
  std::mutex mu;
  std::condition_variable queued_cv;
  std::vector<Caller*> queued;
  bool stop = false;
  std::thread syncer([&] {
    std::vector<Caller*> group;
    std::string bytes;
    for (;;) {
      {
        std::unique_lock lock(mu);
        queued_cv.wait(lock, [&] { return stop || !queued.empty(); });
        if (queued.empty()) return;
        group.swap(queued);
      }
      bytes.clear();
      for (const Caller* c : group) bytes += *c->event;
      if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()) ||
          ::fdatasync(fd) != 0) {
        Fail("writing " + file);
      }
      for (Caller* c : group) c->answered.release();
      group.clear();
    }
  });
  std::atomic<uint64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (uint64_t i = next++; i < count; i = next++) {
        const std::string event = PayloadJson(i) + "\n";
        Caller caller{&event};
        {
          std::lock_guard lock(mu);
          queued.push_back(&caller);
        }
        queued_cv.notify_one();
        caller.answered.acquire();
      }
    });
  }
  for (auto& w : workers) w.join();
  const double rate = Rate(count, start);
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  queued_cv.notify_one();
  syncer.join();
  ::close(fd);
  return rate;
}

// ---- workloads

std::vector<Figure> SingleWriter(const std::string& dir, const Sizes& n) {
  Figure f{"single-writer", 0, "raw RocksDB, fsync per event", 0};
  {
    auto ledger = FreshLedger(dir + "/annals");
    f.events_per_s = AnnalsConcurrent(*ledger, 0, n.single_writer, 1);
  }
  RawLog raw(dir + "/raw");
  const auto start = Clock::now();
  raw.AppendRange(0, n.single_writer, 1);
  f.baseline_events_per_s = Rate(n.single_writer, start);
  return {f};
}

std::vector<Figure> Concurrent(const std::string& dir, const Sizes& n) {
  Figure f{"concurrent-64", 0, "raw RocksDB, 64 threads sync writes", 0};
  {
    auto ledger = FreshLedger(dir + "/annals");
    f.events_per_s = AnnalsConcurrent(*ledger, 0, n.concurrent, kConcurrentThreads);
  }
  RawLog raw(dir + "/raw");
  f.baseline_events_per_s = RawConcurrent(raw, n.concurrent, kConcurrentThreads);
  Figure ceiling{"concurrent-64-ceiling", f.events_per_s,
                 "64 callers, one write+fdatasync per group, nothing else", 0};
  ceiling.baseline_events_per_s = HandoffCeiling(dir + "/handoff", n.concurrent,
                                                 kConcurrentThreads);
  return {f, ceiling};
}

std::vector<Figure> Batch(const std::string& dir, const Sizes& n) {
  Figure f{"batch-256", 0, "raw RocksDB, batches of 256 with dedup lookup", 0};
  {
    auto ledger = FreshLedger(dir + "/annals");
    f.events_per_s = AnnalsBatches(*ledger, 0, n.batch, kBatchEvents);
  }
  RawLog raw(dir + "/raw");
  const auto start = Clock::now();
  raw.AppendRange(0, n.batch, kBatchEvents);
  f.baseline_events_per_s = Rate(n.batch, start);
  return {f};
}

// Both read workloads share one ledger and one raw log: read-all (the bulk path) and
// read-all-decoded (every record parsed into a Record).
std::vector<Figure> ReadAll(const std::string& dir, const Sizes& n) {
  Figure bulk{"read-all", 0, "raw RocksDB scan", 0};
  Figure decoded{"read-all-decoded", 0, "raw RocksDB scan", 0};
  RawLog raw(dir + "/raw");
  raw.AppendRange(0, n.read_all, 4096);
  auto ledger = FreshLedger(dir + "/annals");
  AnnalsFill(*ledger, 0, n.read_all);
  bulk.baseline_events_per_s = raw.Scan();
  bulk.events_per_s = AnnalsScanAll(*ledger);
  decoded.baseline_events_per_s = bulk.baseline_events_per_s;
  decoded.events_per_s = AnnalsReadAllDecoded(*ledger);
  return {bulk, decoded};
}

// Waits until RocksDB has no flush or compaction running or due: the fill's backlog would
// otherwise take a core from the measurement that follows. Gives up after kSettleWaitMax.
constexpr auto kSettleWaitMax = std::chrono::minutes(20);

void WaitForBackgroundWork(const es::Ledger& ledger) {
  const auto start = Clock::now();
  for (;;) {
    auto stats = ledger.Stats();
    if (!stats.ok()) Fail(stats.status().ToString());
    if (stats->background_jobs == 0) break;
    if (Clock::now() - start > kSettleWaitMax) {
      std::fprintf(stderr, "bench: compactions still running after %lld s; measuring anyway\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                              kSettleWaitMax).count()));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::fprintf(stderr, "bench: background work settled after %.1f s\n",
               std::chrono::duration<double>(Clock::now() - start).count());
}

// The append rate (64 writers) with a large ledger against the rate with a small one, each
// measured once the fill's flushes and compactions are done: what is compared is the lookups
// and inserts at either size, not the backlog of having just written 10 million events.
std::vector<Figure> DedupAtScale(const std::string& dir, const Sizes& n) {
  Figure f{"dedup-at-scale", 0, "", 0};
  f.baseline = "annals with " + std::to_string(n.dedup_small_fill) + " events";
  auto measure = [&](uint64_t fill) {
    auto ledger = FreshLedger(dir + "/annals");
    AnnalsFill(*ledger, 0, fill);
    WaitForBackgroundWork(*ledger);
    return AnnalsConcurrent(*ledger, fill, n.dedup_probe, kConcurrentThreads);
  };
  f.baseline_events_per_s = measure(n.dedup_small_fill);
  f.events_per_s = measure(n.dedup_large_fill);
  return {f};
}

// The `i`-th figure of the median run: ranked by ratio to the baseline measured in the same run
// where there is one (the two sides share the machine's mood of the moment), else by rate, or
// by p99 for a latency workload. A median of whole runs, not of each number apart, so that a
// figure's numbers were all measured together.
Figure MedianRun(const std::vector<std::vector<Figure>>& runs, size_t i) {
  std::vector<Figure> all;
  for (const auto& run : runs) {
    if (i >= run.size()) Fail("a workload gave a different number of figures from run to run");
    all.push_back(run[i]);
  }
  auto rank = [](const Figure& f) {
    if (f.p99_ms >= 0) return -f.p99_ms;  // a lower p99 ranks higher
    if (f.baseline_events_per_s > 0) return f.events_per_s / f.baseline_events_per_s;
    return f.events_per_s;
  };
  std::sort(all.begin(), all.end(), [&](const Figure& a, const Figure& b) { return rank(a) < rank(b); });
  Figure median = all[all.size() / 2];
  median.runs = static_cast<int>(all.size());
  return median;
}

void Print(const std::vector<Figure>& figures, bool json) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("workloads").BeginArray();
    for (const auto& f : figures) {
      w.BeginObject().Member("name", f.name).Key("events_per_s").Double(std::round(f.events_per_s));
      w.Member("baseline", f.baseline).Key("baseline_events_per_s").Double(std::round(f.baseline_events_per_s));
      w.Key("ratio");
      if (f.baseline_events_per_s > 0) {
        w.Double(std::round(100 * f.events_per_s / f.baseline_events_per_s) / 100);
      } else {
        w.Null();
      }
      if (f.p99_ms >= 0) {
        w.Key("p50_ms").Double(std::round(1000 * f.p50_ms) / 1000);
        w.Key("p99_ms").Double(std::round(1000 * f.p99_ms) / 1000);
      }
      if (!f.target.empty()) w.Member("target", f.target);
      if (f.runs > 1) w.Member("runs", f.runs);
      w.EndObject();
    }
    w.EndArray().EndObject();
    std::printf("%s\n", w.str().c_str());
    return;
  }
  std::printf("%-22s %14s %14s %7s  %s\n", "workload", "annals ev/s", "baseline ev/s", "ratio",
              "baseline");
  for (const auto& f : figures) {
    if (f.baseline_events_per_s > 0) {
      std::printf("%-22s %14.0f %14.0f %7.2f  %s\n", f.name.c_str(), f.events_per_s,
                  f.baseline_events_per_s, f.events_per_s / f.baseline_events_per_s,
                  f.baseline.c_str());
    } else {
      std::printf("%-22s %14.0f %14s %7s  %s\n", f.name.c_str(), f.events_per_s, "-", "-",
                  f.baseline.c_str());
    }
    if (f.p99_ms >= 0) {
      std::printf("%-22s p50 %.3f ms, p99 %.3f ms (target %s)\n", "", f.p50_ms, f.p99_ms,
                  f.target.c_str());
    }
  }
  if (!figures.empty() && figures.front().runs > 1) {
    std::printf("(each figure: its median run of %d, by ratio, or by p99)\n", figures.front().runs);
  }
}

bool Selected(const std::string& only, const std::string& name) {
  if (only.empty()) return true;
  return ("," + only + ",").find("," + name + ",") != std::string::npos;
}

}  // namespace

int RunBench(const BenchArgs& args) {
  std::string dir = args.dir;
  const bool temporary = dir.empty();
  if (temporary) {
    std::string tmpl = "/tmp/annals-bench-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) Fail("cannot create a scratch directory");
    dir = tmpl;
  }
  const Sizes& n = args.quick ? kQuick : kFull;
  if (args.sync_mode == "inline") {
    g_sync_mode = es::LedgerOptions::SyncMode::kInline;
  } else if (args.sync_mode != "pipelined") {
    Fail("--sync-mode is pipelined or inline");
  }
  using Workload = std::vector<Figure> (*)(const std::string&, const Sizes&);
  const std::vector<std::pair<std::string, Workload>> workloads = {
      {"single-writer", SingleWriter}, {"concurrent-64", Concurrent}, {"batch-256", Batch},
      {"read-all", ReadAll},           {"dedup-at-scale", DedupAtScale},
      {"rebuild-agents", [](const std::string& d, const Sizes& s) { return RebuildAgents(d, s.quick); }},
      {"discover", [](const std::string& d, const Sizes& s) { return Discover(d, s.quick); }},
      {"projection-lag", [](const std::string& d, const Sizes& s) { return ProjectionLag(d, s.quick); }},
      {"replication", [](const std::string& d, const Sizes& s) { return Replication(d, s.quick); }}};
  std::vector<Figure> figures;
  for (const auto& [name, run] : workloads) {
    if (!Selected(args.only, name)) continue;
    if (name == "dedup-at-scale" && args.quick) continue;  // full mode only
    std::vector<std::vector<Figure>> runs;
    for (int r = 0; r < args.repeat; ++r) {
      std::fprintf(stderr, "bench: %s (run %d of %d) ...\n", name.c_str(), r + 1, args.repeat);
      runs.push_back(run(dir + "/" + name, n));
      std::filesystem::remove_all(dir + "/" + name);
    }
    for (size_t i = 0; i < runs.front().size(); ++i) figures.push_back(MedianRun(runs, i));
  }
  if (temporary) std::filesystem::remove_all(dir);
  Print(figures, args.json);
  return kExitOk;
}

}  // namespace annals::tools
