// Goal: the replication's lifecycle is safe with its threads and nats.c's callbacks in one
// process, where the sanitizer builds (tools/sanitize.sh) see both sides: registries a and b on
// one nats-server, each stopped and destroyed again and again while a's publisher has windows
// in flight and b's consumer has batches in flight, with GetStatus read from another thread
// throughout (during and after Stop, which the contract allows until destruction). Across the
// restarts nothing is lost or stored twice: b ends with each of a's events exactly once.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/reactors/replication.h"
#include "annals/testing/nats_server.h"
#include "annals/testing/views_fixture.h"

namespace annals::reactors {
namespace {
namespace pj = annals::projections;

constexpr int kRounds = 4;
constexpr int kEventsPerRound = 300;  // more than one publish window (kPublishWindowMax)

// A registry in this process: its ledger, its peers view (folding), and `peer` added ACTIVE.
class Registry : public testing::ViewsFixture {
 public:
  Registry(const std::string& name, const std::string& peer)
      : ViewsFixture({{std::string(pj::kPeersView), [] { return pj::MakePeersView(); }}}, name),
        source_("/" + name) {
    runner->Start();
    Add("registry.peer.added.v1",
        R"({"peer_id":")" + peer +
            R"(","name":"Peer","base_url":"https://p.example","spiffe_id":"spiffe://p.example/registry","kind":"operator","relation":"direct"})");
  }
  void Add(std::string_view type, const std::string& data) {
    // Keys are global across the federation: each registry appends under its own source.
    Append({.type = type, .data = data, .source = source_});
  }
  std::unique_ptr<Replication> StartReplication(const std::string& nats_url,
                                                const std::string& peer) {
    auto started = Replication::Start(
        {.nats_url = nats_url, .peers = {peer}, .ledger = ledger.get(), .views = runner.get()});
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    return std::move(started).value();
  }
  // The keys of the events recorded with origin `origin`, each with how often it is held.
  std::multiset<std::string> KeysFrom(const std::string& origin) {
    std::multiset<std::string> keys;
    auto page = ledger->ReadAll({.from_position = 1, .limit = 100000});
    REQUIRE(page.ok());
    for (const auto& record : page->records) {
      if (record.origin() == origin) keys.insert(record.idempotency_key());
    }
    return keys;
  }

 private:
  std::string source_;
};

TEST_CASE("stopped and destroyed mid-stream again and again, status read throughout: each "
          "event once") {
  testing::TempDir nats_dir;
  testing::NatsServer nats({.store_dir = nats_dir.Sub("nats")});
  Registry a("a", "b");
  Registry b("b", "a");
  for (int round = 0; round < kRounds; ++round) {
    std::unique_ptr<Replication> on_a = a.StartReplication(nats.url(), "b");
    std::unique_ptr<Replication> on_b = b.StartReplication(nats.url(), "a");
    std::atomic<bool> reading{true};
    std::atomic<int> reads_without_peer{0};
    std::thread reader([&] {
      while (reading.load()) {
        if (on_a->GetStatus().peers.size() != 1) ++reads_without_peer;
        if (on_b->GetStatus().peers.size() != 1) ++reads_without_peer;
      }
    });
    for (int i = 0; i < kEventsPerRound; ++i) a.Add("t.replicated.v1", "{}");
    // Whatever is in flight now (a window, a batch, PubAcks) must end safely; what it did not
    // finish is resumed by the next round.
    on_b->Stop();
    on_a->Stop();
    CHECK(on_a->GetStatus().publisher.state == "stopped");
    CHECK(on_b->GetStatus().peers[0].state == "stopped");
    reading.store(false);
    reader.join();
    CHECK(reads_without_peer.load() == 0);
    on_a.reset();
    on_b.reset();
  }

  // The last round runs until b holds everything a wrote.
  const size_t expected = static_cast<size_t>(kRounds) * kEventsPerRound + 1;  // + its peer
  std::unique_ptr<Replication> on_a = a.StartReplication(nats.url(), "b");
  std::unique_ptr<Replication> on_b = b.StartReplication(nats.url(), "a");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (b.KeysFrom("a").size() < expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  on_b.reset();
  on_a.reset();
  const std::multiset<std::string> keys = b.KeysFrom("a");
  CHECK(keys.size() == expected);
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
  for (int n = 1; n <= a.appended; ++n) {
    CHECK_MESSAGE(keys.count("/a e" + std::to_string(n)) == 1, "e", n);
  }
}

}  // namespace
}  // namespace annals::reactors
