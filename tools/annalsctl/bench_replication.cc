// The replication workloads of `annalsctl bench` (bench_internal.h; docs/BENCHMARKS.md). Two
// ledgers in one process, registry "a" publishing and registry "b" consuming from it, over a
// nats-server (JetStream, file storage) the benchmark starts on a free loopback port:
//   replication-lag  events appended to a at a steady 5,000/s; the lag of each is the time from
//                    its commit on a to its commit on b (both ledgers' recorded_at, one clock):
//                    p50 and p99, target p99 <= 100 ms
//   replication-max  a burst appended to a as fast as it takes them; the rate at which b
//                    records them (first to last recorded_at on b): the highest sustained
//                    replicated rate
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "annals/base/loopback.h"
#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/reactors/replication.h"
#include "bench_internal.h"

extern char** environ;

namespace annals::tools {

namespace es = annals::eventstore;
namespace pj = annals::projections;

namespace {

using Clock = BenchClock;

constexpr int kLagRate = 5000;  // events/s
constexpr auto kLagDurationFull = std::chrono::seconds(20);
constexpr auto kLagDurationQuick = std::chrono::seconds(4);
constexpr uint64_t kBurstEventsFull = 200'000;
constexpr uint64_t kBurstEventsQuick = 30'000;
constexpr auto kDrainWait = std::chrono::seconds(120);

std::string NatsServerBinary() {
  for (const char* path : {"/usr/sbin/nats-server", "/usr/bin/nats-server"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

// nats-server with JetStream on a free loopback port, its store and log under `dir`; killed
// and reaped when this goes.
class NatsServerChild {
 public:
  NatsServerChild(const std::string& binary, const std::string& dir) : port_(FreeLoopbackPort()) {
    if (port_ < 0) Fail("no free loopback port");
    std::filesystem::create_directories(dir);
    const std::vector<std::string> args = {binary, "-js", "-sd", dir, "-a", "127.0.0.1", "-p",
                                           std::to_string(port_), "-l", dir + "/nats.log"};
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      Fail("cannot start " + binary);
    }
    for (int i = 0; i < 1000 && !LoopbackAccepts(port_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!LoopbackAccepts(port_)) Fail("nats-server did not listen");
  }
  ~NatsServerChild() {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  std::string url() const { return "nats://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  pid_t pid_ = -1;
};

// One registry: its ledger, the peers view over it, and its replication.
struct Side {
  std::unique_ptr<es::Ledger> ledger;
  std::unique_ptr<pj::ViewsDb> views;
  std::unique_ptr<pj::Runner> runner;
  std::unique_ptr<reactors::Replication> replication;

  Side(const std::string& dir, const std::string& name) {
    std::filesystem::remove_all(dir);
    auto opened = es::Ledger::Open({.path = dir + "/ledger", .registry_name = name,
                                    .sync_mode = g_sync_mode});
    if (!opened.ok()) Fail(opened.status().ToString());
    ledger = std::move(opened).value();
    views = FreshViews(dir + "/views");
    runner = OpenRunner(*ledger, *views,
                        {{std::string(pj::kPeersView), [] { return pj::MakePeersView(); }}});
    runner->Start();
  }
  void Replicate(const std::string& url, std::vector<std::string> peers) {
    auto started = reactors::Replication::Start({.nats_url = url,
                                                 .peers = std::move(peers),
                                                 .ledger = ledger.get(),
                                                 .views = runner.get()});
    if (!started.ok()) Fail(started.status().ToString());
    replication = std::move(started).value();
  }
  ~Side() {
    if (replication) replication->Stop();
    runner->Stop();
    ledger->Close();
  }
};

es::ProposedEvent Note(uint64_t i) {
  es::ProposedEvent p;
  p.event.set_spec_version("1.0");
  p.event.set_id("n-" + std::to_string(i));
  p.event.set_source("/bench/registry/a");
  p.event.set_type("com.example.bench.note.v1");
  (*p.event.mutable_attributes())["datacontenttype"].set_ce_string("application/json");
  p.event.set_text_data(R"({"agent":"did:web:a.example:agents:bench","seq":)" + std::to_string(i) +
                        "}");
  return p;
}

// Waits until b holds `count` events of origin a; their records on both sides.
struct Arrivals {
  std::map<std::string, int64_t> a_recorded_at;  // key -> ns
  std::vector<std::pair<std::string, int64_t>> b_recorded_at;
};

Arrivals Collect(Side& a, Side& b, uint64_t count) {
  const auto deadline = Clock::now() + kDrainWait;
  while (true) {
    const auto status = b.replication->GetStatus();
    if (!status.peers.empty() && status.peers[0].appended >= count) break;
    if (Clock::now() > deadline) Fail("replication did not deliver every event in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Arrivals out;
  Status scanned = a.ledger->Scan(1, [&](uint64_t, std::string_view stored) {
    es::Record r;
    if (es::DecodeRecord(stored, &r).ok()) out.a_recorded_at[r.idempotency_key()] = r.recorded_at_ns();
    return true;
  });
  if (!scanned.ok()) Fail(scanned.ToString());
  scanned = b.ledger->Scan(1, [&](uint64_t, std::string_view stored) {
    es::Record r;
    if (es::DecodeRecord(stored, &r).ok() && r.origin() == "a") {
      out.b_recorded_at.emplace_back(r.idempotency_key(), r.recorded_at_ns());
    }
    return true;
  });
  if (!scanned.ok()) Fail(scanned.ToString());
  return out;
}

}  // namespace

std::vector<Figure> Replication(const std::string& dir, bool quick) {
  const std::string binary = NatsServerBinary();
  if (binary.empty()) {
    std::fprintf(stderr, "bench: replication skipped: nats-server is not installed\n");
    return {};
  }
  NatsServerChild nats(binary, dir + "/nats");
  Side a(dir + "/a", "a");
  Side b(dir + "/b", "b");
  es::ProposedEvent added;
  added.event.set_spec_version("1.0");
  added.event.set_id("peer-a");
  added.event.set_source("/bench/registry/b");
  added.event.set_type("registry.peer.added.v1");
  (*added.event.mutable_attributes())["subject"].set_ce_string("peer-a");
  added.event.set_text_data(
      R"({"peer_id":"a","name":"A","base_url":"https://a.example","spiffe_id":"spiffe://a.example/registry","kind":"operator","relation":"direct"})");
  CheckAppended(b.ledger->Append(std::move(added)));
  a.Replicate(nats.url(), {});
  b.Replicate(nats.url(), {"a"});

  // replication-lag: a steady rate, paced per millisecond.
  Figure lag{"replication-lag", 0, "events/s offered to a (steady)", 0};
  const auto duration = quick ? kLagDurationQuick : kLagDurationFull;
  const uint64_t steady = static_cast<uint64_t>(kLagRate) *
                          static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(duration).count());
  std::atomic<uint64_t> pending{0};
  const auto start = Clock::now();
  for (uint64_t i = 0; i < steady; ++i) {
    const auto due = start + std::chrono::microseconds(i * 1'000'000 / kLagRate);
    if (Clock::now() < due) std::this_thread::sleep_until(due);
    ++pending;
    std::vector<es::ProposedEvent> one;
    one.push_back(Note(i));
    a.ledger->Submit(std::move(one), [&](std::vector<es::AppendOutcome> out) {
      CheckAppended(out.front());
      --pending;
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  lag.baseline_events_per_s = Rate(steady, start);
  Arrivals arrivals = Collect(a, b, steady);
  std::vector<double> lags_ms;
  int64_t first_b = INT64_MAX;
  int64_t last_b = 0;
  for (const auto& [key, at] : arrivals.b_recorded_at) {
    auto it = arrivals.a_recorded_at.find(key);
    if (it == arrivals.a_recorded_at.end()) Fail("b holds an event a does not: " + key);
    lags_ms.push_back(static_cast<double>(at - it->second) / 1e6);
    first_b = std::min(first_b, at);
    last_b = std::max(last_b, at);
  }
  if (lags_ms.size() != steady) Fail("b holds another number of a's events than a appended");
  lag.events_per_s = static_cast<double>(steady) / (static_cast<double>(last_b - first_b) / 1e9);
  lag.p50_ms = Percentile(lags_ms, 0.50);
  lag.p99_ms = Percentile(lags_ms, 0.99);
  lag.target = "p99 <= 100 ms at 5,000 events/s";

  // replication-max: a burst in batches; b's recording rate.
  Figure max{"replication-max", 0, "events/s appended to a (burst)", 0};
  const uint64_t burst = quick ? kBurstEventsQuick : kBurstEventsFull;
  const auto burst_start = Clock::now();
  constexpr uint64_t kBatch = 256;
  for (uint64_t i = 0; i < burst; i += kBatch) {
    std::vector<es::ProposedEvent> batch;
    for (uint64_t j = i; j < std::min(burst, i + kBatch); ++j) batch.push_back(Note(steady + j));
    while (pending.load() > 32) std::this_thread::sleep_for(std::chrono::microseconds(200));
    ++pending;
    a.ledger->Submit(std::move(batch), [&](std::vector<es::AppendOutcome> out) {
      for (const auto& o : out) CheckAppended(o);
      --pending;
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  max.baseline_events_per_s = Rate(burst, burst_start);
  arrivals = Collect(a, b, steady + burst);
  // The burst is the last `burst` of a's events on b (b records them in a's order).
  std::vector<int64_t> burst_b;
  for (const auto& [key, at] : arrivals.b_recorded_at) burst_b.push_back(at);
  std::sort(burst_b.begin(), burst_b.end());
  const int64_t burst_first = burst_b[burst_b.size() - burst];
  max.events_per_s = static_cast<double>(burst) /
                     (static_cast<double>(burst_b.back() - burst_first) / 1e9);
  max.target = "the highest sustained rate (no target)";
  return {lag, max};
}

}  // namespace annals::tools
