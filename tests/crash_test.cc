// Goal: acknowledged means durable, whatever instant the writer dies at. `annalsctl import` (the
// real CLI, printing each result only once its event is durable) is fed a stream of events, some
// of them retries of earlier ones, and killed with SIGKILL at a random instant, many times over
// the same data directory. After every kill the ledger must open with every acknowledged event
// at the position it was acknowledged with, each idempotency key exactly once, no gap, stream
// revisions without holes, and an intact hash chain.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <signal.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "annals/eventstore/ledger.h"
#include "annals/eventstore/limits.h"
#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

namespace es = eventstore;

constexpr int kKills = 25;
constexpr int kEventsPerRun = 20000;
constexpr int kStreams = 50;

// The same id always gets the same content, so a resend is a true retry.
std::string EventLine(const std::string& id) {
  const size_t h = std::hash<std::string>{}(id);
  return R"({"specversion":"1.0","type":"registry.agent.card_updated.v1","source":"/crash","id":")" +
         id + R"(","subject":"agent-)" + std::to_string(h % kStreams) +
         R"(","datacontenttype":"application/json","data":{"did":")" + id +
         R"(","name":"agent","description":"","version":"1","url":"https://agents.example/a",)"
         R"("skills":[{"id":"s","name":"search","tags":["a","b"]}],"tags":[],)"
         R"("provider":{"organization":"crash","url":"https://crash.example"},"card":{}}})" + "\n";
}

struct Ack {
  std::string id;
  uint64_t position;
};

// Parses an import result line; true for appended/duplicate.
bool ParseAck(const std::string& line, Ack* ack) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE_MESSAGE(parser.parse(line).get(doc) == simdjson::SUCCESS, line);
  std::string_view result;
  REQUIRE(doc["result"].get_string().get(result) == simdjson::SUCCESS);
  if (result != "appended" && result != "duplicate") {
    FAIL("unexpected import result: " << line);
    return false;
  }
  std::string_view id;
  REQUIRE(doc["id"].get_string().get(id) == simdjson::SUCCESS);
  REQUIRE(doc["position"].get_uint64().get(ack->position) == simdjson::SUCCESS);
  ack->id = std::string(id);
  return true;
}

// Runs one import of `ids`, killed after `kill_after`; returns what it acknowledged.
std::vector<Ack> RunAndKill(const std::string& data_dir, const std::vector<std::string>& ids,
                            std::chrono::milliseconds kill_after) {
  testing::ChildProcess child(
      {testing::BinDir() + "/annalsctl", "--data", data_dir, "import", "-"});
  std::thread feeder([&] {
    std::string chunk;
    for (const auto& id : ids) {
      chunk += EventLine(id);
      if (chunk.size() > 64 * 1024) {
        if (!child.Write(chunk)) return;
        chunk.clear();
      }
    }
    child.Write(chunk);
    child.CloseStdin();
  });
  std::thread killer([&] {
    std::this_thread::sleep_for(kill_after);
    child.Kill(SIGKILL);
  });
  std::vector<Ack> acks;
  std::string line;
  while (child.ReadLine(&line)) {
    Ack ack;
    if (ParseAck(line, &ack)) acks.push_back(ack);
  }
  killer.join();
  feeder.join();
  child.Wait();
  return acks;
}

// Checks the whole ledger against every acknowledgement so far.
void CheckLedger(const std::string& ledger_path, const std::map<std::string, uint64_t>& acked) {
  es::LedgerOptions options;
  options.path = ledger_path;
  auto opened = es::Ledger::Open(options);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  es::Ledger& ledger = **opened;
  const uint64_t head = ledger.GetHead().position;
  std::map<std::string, uint64_t> stored;  // id -> position
  std::map<std::string, uint64_t> stream_next;
  uint64_t expected_position = 1;
  Status scan = ledger.Scan(1, [&](uint64_t position, std::string_view bytes) {
    es::Record r;
    REQUIRE(es::DecodeRecord(bytes, &r).ok());
    CHECK(position == expected_position++);
    const bool first = stored.emplace(r.event().id(), position).second;
    CHECK_MESSAGE(first, "id stored twice: " << r.event().id());
    CHECK(r.revision() == stream_next[r.stream()]++);
    return true;
  });
  REQUIRE(scan.ok());
  CHECK(expected_position == head + 1);
  for (const auto& [id, position] : acked) {
    auto it = stored.find(id);
    REQUIRE_MESSAGE(it != stored.end(), "acknowledged event lost: " << id);
    CHECK(it->second == position);
  }
  auto report = ledger.Verify({});
  REQUIRE(report.ok());
  CHECK_MESSAGE(report->intact, report->problem);
}

TEST_CASE("kill -9 at random instants loses nothing acknowledged") {
  testing::TempDir dir;
  std::mt19937 rng(std::random_device{}());
  std::map<std::string, uint64_t> acked;  // every acknowledgement so far
  std::vector<std::string> sent_before;
  size_t total_acks = 0;
  for (int run = 0; run < kKills; ++run) {
    std::vector<std::string> ids;
    for (int i = 0; i < kEventsPerRun; ++i) {
      // One in eight is a resend of an earlier id: acknowledged or not, it must end up once.
      if (!sent_before.empty() && rng() % 8 == 0) {
        ids.push_back(sent_before[rng() % sent_before.size()]);
      } else {
        ids.push_back("r" + std::to_string(run) + "-" + std::to_string(i));
      }
    }
    const auto kill_after = std::chrono::milliseconds(20 + rng() % 400);
    for (const Ack& ack : RunAndKill(dir.path(), ids, kill_after)) {
      auto [it, fresh] = acked.emplace(ack.id, ack.position);
      CHECK_MESSAGE(it->second == ack.position, "id " << ack.id << " acknowledged at two positions");
      total_acks += fresh ? 1 : 0;
    }
    sent_before.insert(sent_before.end(), ids.begin(), ids.end());
    CheckLedger(dir.Sub("ledger"), acked);
  }
  MESSAGE("acknowledged " << total_acks << " distinct events over " << kKills << " kills");
  CHECK(total_acks > 0);
}

}  // namespace
}  // namespace annals
