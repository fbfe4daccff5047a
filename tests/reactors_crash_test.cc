// Goal: reactors react to every cause exactly once, whatever instant annalsd is killed at. A
// history of license and drift events (the peer-status reactor's causes) is imported; then,
// round after round, annalsd starts on it, reacts for a random while and is killed with SIGKILL
// (in the middle of its reactions: a reaction appended and its checkpoint not saved, the index
// behind the records). A last run reacts to the end. Then every cause has exactly one
// registry.peer.status_changed.v1 under its key (reactor/peer-status/<position>/0), none is
// missing or doubled, and each names the peer and status the ledger decides: a license's peer
// is the one of its latest registry.license.issued.v1 before the cause (a license is issued
// again to another peer half-way, so an index that lost entries in a crash would show).
// Prepared transfers long past their deadline are spread through the history, a third of them
// committed: every one left uncommitted has exactly one registry.transfer.rolled_back.v1 under
// its key (reactor/transfer-saga/<prepared position>/0) in its stream, and no committed one has
// any.
#include <doctest/doctest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/json_lines.h"
#include "annals/testing/test_util.h"

namespace annals::testing {
namespace {

constexpr int kCauses = 3000;
constexpr int kPeers = 4;
constexpr int kRoundsMax = 16;
// Rounds whose kill must land after some reactions and before the last.
constexpr int kMidWorkKillsWanted = 6;
// The longest a round lets annalsd run before the kill (the wait grows while kills land early).
constexpr int kDelayMaxMs = 5000;
constexpr auto kFinalRunWaitMax = std::chrono::seconds(120);
constexpr char kStatusChanged[] = "registry.peer.status_changed.v1";
constexpr char kPrepared[] = "registry.transfer.prepared.v1";
constexpr char kRolledBack[] = "registry.transfer.rolled_back.v1";
// A prepared transfer after every this many causes; every third one is committed.
constexpr int kCausesPerTransfer = 10;

std::string Annalsctl() { return BinDir() + "/annalsctl"; }

std::string Event(std::string_view type, const std::string& id, const std::string& subject,
                  const std::string& data) {
  return R"({"specversion":"1.0","id":")" + id +
         R"(","source":"https://registry.example/ops","type":")" + std::string(type) +
         R"(","subject":")" + subject + R"(","datacontenttype":"application/json","data":)" +
         data + "}\n";
}

std::string Issued(int license, int peer, const std::string& id) {
  const std::string lic = "lic-" + std::to_string(license);
  return Event("registry.license.issued.v1", id, "license-" + lic,
               R"({"license_id":")" + lic + R"(","peer_id":"peer-)" + std::to_string(peer) +
                   R"(","key_sha256":")" + std::string(64, 'a') + R"(","tier":"standard"})");
}

// What a cause must lead to.
struct Expected {
  std::string peer_id;
  std::string status;
};

std::string Transfer(int n, bool committed) {
  const std::string id = "t-" + std::to_string(n);
  std::string out = Event(
      kPrepared, "prepare-" + id, "transfer-" + id,
      R"({"transfer_id":")" + id +
          R"(","from_agent":"did:web:a.example:agent-1","to_agent":"did:web:b.example:agent-2",)"
          R"("from_registry":"home","to_registry":"peer-1","amount":"10.00","fee":"0.10",)"
          R"("expires_at":"2020-01-01T00:00:00Z"})");
  if (committed) {
    out += Event("registry.transfer.committed.v1", "commit-" + id, "transfer-" + id,
                 R"({"transfer_id":")" + id + R"("})");
  }
  return out;
}

// The history, and what each cause (by its id) must lead to; `rollbacks`: the transfers
// (by id) left uncommitted.
std::string History(std::map<std::string, Expected>* expected, std::set<std::string>* rollbacks) {
  std::string out;
  std::map<int, int> peer_of;  // license -> peer, as issued so far
  for (int k = 0; k < kPeers; ++k) {
    out += Issued(k, k, "issue-" + std::to_string(k));
    peer_of[k] = k;
  }
  for (int i = 0; i < kCauses; ++i) {
    if (i == kCauses / 2) {
      out += Issued(0, 9, "reissue-0");  // lic-0 now belongs to peer-9
      peer_of[0] = 9;
    }
    if (i % kCausesPerTransfer == 0) {
      const int n = i / kCausesPerTransfer;
      out += Transfer(n, n % 3 == 0);
      if (n % 3 != 0) rollbacks->insert("t-" + std::to_string(n));
    }
    const std::string id = "cause-" + std::to_string(i);
    const int k = (i / 3) % kPeers;
    const std::string lic = "lic-" + std::to_string(k);
    switch (i % 3) {
      case 0:
        out += Event("registry.compliance.drift_detected.v1", id, "compliance-peer-" + std::to_string(k),
                     R"({"peer_id":"peer-)" + std::to_string(k) +
                         R"(","local_policy_hash":"sha256:l","peer_policy_hash":"sha256:p","divergent_agents":3,"threshold":2})");
        (*expected)[id] = {"peer-" + std::to_string(k), "DRIFT"};
        break;
      case 1:
        out += Event("registry.license.suspended.v1", id, "license-" + lic,
                     R"({"license_id":")" + lic + R"(","reason":"payment overdue"})");
        (*expected)[id] = {"peer-" + std::to_string(peer_of[k]), "SUSPENDED"};
        break;
      default:
        out += Event("registry.license.reinstated.v1", id, "license-" + lic,
                     R"({"license_id":")" + lic + R"(","reason":"paid"})");
        (*expected)[id] = {"peer-" + std::to_string(peer_of[k]), "ACTIVE"};
        break;
    }
  }
  return out;
}

// The ledger's records of `type` (annalsctl read: the data dir must not be in use).
std::string Read(const std::string& data, std::string_view type) {
  auto read = RunCommand({Annalsctl(), "--data", data, "read", "--type", std::string(type)});
  REQUIRE(read.exit_code == 0);
  return read.out;
}

size_t Lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// annals_reactor_position of `reactor` from /metrics (0 when absent).
// Records of `type` the server's audit route gives (at most 1,000).
size_t CountOfType(HttpClient& client, std::string_view type) {
  auto page = client.Get("/api/v1/events?limit=1000&type=" + std::string(type));
  REQUIRE(page.status == 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(page.body).get(doc) == simdjson::SUCCESS);
  return simdjson::dom::array(doc["events"]).size();
}

uint64_t ReactorPosition(HttpClient& client, const std::string& reactor) {
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics.status == 200);
  const std::string series = "\nannals_reactor_position{reactor=\"" + reactor + "\"} ";
  size_t at = metrics.body.find(series);
  if (at == std::string::npos) return 0;
  return std::stoull(metrics.body.substr(at + series.size()));
}

TEST_CASE("reactors killed with SIGKILL at random instants react to every cause exactly once") {
  TempDir dir;
  const std::string data = dir.Sub("data");
  std::map<std::string, Expected> expected;
  std::set<std::string> rollbacks;
  auto import =
      RunCommand({Annalsctl(), "--data", data, "import", "-"}, History(&expected, &rollbacks));
  REQUIRE(import.exit_code == 0);

  // Kill after a random while, growing while the kills land before any reaction (a slow start).
  std::mt19937 rng(std::random_device{}());
  int delay_max_ms = 150;
  int mid_work_kills = 0;
  size_t reacted = 0;
  for (int round = 0; round < kRoundsMax && mid_work_kills < kMidWorkKillsWanted; ++round) {
    {
      Annalsd server({.data_dir = data});
      REQUIRE(server.listening());
      std::this_thread::sleep_for(std::chrono::milliseconds(
          std::uniform_int_distribution<int>(delay_max_ms / 4, delay_max_ms)(rng)));
      CHECK(server.Stop(SIGKILL) == 128 + SIGKILL);
    }
    const size_t now = Lines(Read(data, kStatusChanged));
    INFO("round " << round << ": " << reacted << " -> " << now << " reactions");
    CHECK(now >= reacted);  // nothing acknowledged is lost
    if (now == reacted) delay_max_ms = std::min(delay_max_ms * 3 / 2, kDelayMaxMs);
    if (now > reacted && now < expected.size()) ++mid_work_kills;
    reacted = now;
    if (reacted == expected.size()) break;
  }
  MESSAGE(mid_work_kills << " kills landed in the middle of the reactions");
  // A machine that reacts to every cause before the first kill cannot show a crash mid-way.
  WARN(mid_work_kills > 0);

  // The last run reacts to the end: its peer-status reactor handles the last imported position.
  const uint64_t last_cause = Lines(import.out);
  {
    Annalsd server({.data_dir = data});
    REQUIRE(server.listening());
    HttpClient client(server.port());
    const auto deadline = std::chrono::steady_clock::now() + kFinalRunWaitMax;
    while (ReactorPosition(client, "peer-status") < last_cause ||
           CountOfType(client, kRolledBack) < rollbacks.size()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(server.Stop(SIGTERM) == 0);
  }

  // Every cause (by position) and what it must lead to.
  std::map<uint64_t, Expected> by_position;
  for (std::string_view type : {"registry.compliance.drift_detected.v1",
                                "registry.license.suspended.v1", "registry.license.reinstated.v1"}) {
    ForEachJsonLine(Read(data, type), [&](simdjson::dom::element e) {
      auto it = expected.find(std::string(std::string_view(e["id"])));
      REQUIRE(it != expected.end());
      by_position[uint64_t(e["position"])] = it->second;
    });
  }
  REQUIRE(by_position.size() == expected.size());

  std::map<uint64_t, int> reactions;  // cause position -> status_changed events
  ForEachJsonLine(Read(data, kStatusChanged), [&](simdjson::dom::element e) {
    const std::string key{std::string_view(e["idempotency_key"])};
    INFO(key);
    const std::string prefix = "reactor/peer-status/";
    REQUIRE(key.rfind(prefix, 0) == 0);
    REQUIRE(key.size() > prefix.size() + 2);
    REQUIRE(key.substr(key.size() - 2) == "/0");
    const uint64_t cause = std::stoull(key.substr(prefix.size(), key.size() - prefix.size() - 2));
    ++reactions[cause];
    auto it = by_position.find(cause);
    REQUIRE(it != by_position.end());
    CHECK(std::string_view(e["data"]["peer_id"]) == it->second.peer_id);
    CHECK(std::string_view(e["data"]["status"]) == it->second.status);
    CHECK(uint64_t(e["position"]) > cause);
  });
  CHECK(reactions.size() == by_position.size());  // none missing
  for (const auto& [cause, count] : reactions) {
    INFO("cause at position " << cause);
    CHECK(count == 1);  // none doubled
  }

  // Transfers: the prepared ones by position, then each rollback against them.
  std::map<uint64_t, std::string> prepared;  // position -> transfer id
  ForEachJsonLine(Read(data, kPrepared), [&](simdjson::dom::element e) {
    prepared[uint64_t(e["position"])] = std::string(std::string_view(e["data"]["transfer_id"]));
  });
  std::map<std::string, int> rolled_back;  // transfer id -> rollbacks
  ForEachJsonLine(Read(data, kRolledBack), [&](simdjson::dom::element e) {
    const std::string key{std::string_view(e["idempotency_key"])};
    INFO(key);
    const std::string prefix = "reactor/transfer-saga/";
    REQUIRE(key.rfind(prefix, 0) == 0);
    REQUIRE(key.substr(key.size() - 2) == "/0");
    const uint64_t cause = std::stoull(key.substr(prefix.size(), key.size() - prefix.size() - 2));
    auto it = prepared.find(cause);
    REQUIRE(it != prepared.end());
    CHECK(std::string_view(e["data"]["transfer_id"]) == it->second);
    CHECK(std::string_view(e["stream"]) == "transfer-" + it->second);
    CHECK(uint64_t(e["revision"]) == 1);  // right after its prepared event
    ++rolled_back[it->second];
  });
  CHECK(rolled_back.size() == rollbacks.size());
  for (const auto& [id, count] : rolled_back) {
    INFO("transfer " << id);
    CHECK(rollbacks.count(id) == 1);  // never a committed one
    CHECK(count == 1);                // none doubled
  }
}

}  // namespace
}  // namespace annals::testing
