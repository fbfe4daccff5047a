// Goal: annalsd killed with SIGKILL at random instants, while concurrent HTTP clients append
// events with overlapping idempotency keys, loses nothing it acknowledged and records each key
// once. Eight clients post the same 3,000 keys, each in its own random order, most with the same
// content (the first is 201 Created, the others 409 Duplicate of it) and some with other content
// (422 KeyReuse, or the one recorded when it came first). Round after round annalsd is killed in
// the middle; a request that got no answer is posted again after the restart. At the end every
// key is in the ledger exactly once, `annalsctl verify` finds the chain intact, and every answer
// any client got agrees with the ledger: the position of each 201, 409 and 422 is where the key
// is, a 201 or 409 carried the recorded content, a 422 the other one, and no key got two 201s.
#include <doctest/doctest.h>
#include <signal.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/json_lines.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

constexpr int kKeys = 3000;
constexpr int kClients = 8;
constexpr int kRoundsMax = 12;
constexpr int kMidWorkKillsWanted = 4;
constexpr int kVariantOneIn = 8;  // posts with the other content
constexpr int kFinalPassesMax = 3;

// A post to make: the key's number, and which of its two contents.
struct Post {
  int key;
  bool variant;
};

struct Answer {
  int status;
  uint64_t position;
  bool variant;
};

std::string KeyId(int key) { return "key-" + std::to_string(key); }

std::string Body(const Post& post) {
  return R"({"specversion":"1.0","id":")" + KeyId(post.key) +
         R"(","source":"/crash","type":"test.crash","datacontenttype":"application/json","data":{"k":)" +
         std::to_string(post.key) + (post.variant ? R"(,"variant":true})" : "}") + "}";
}

// Every answer any client got, by key.
struct Answers {
  std::mutex mu;
  std::map<int, std::vector<Answer>> by_key;  // guarded by mu
};

// One client's posts, in its order; what the server did not answer stays at the front.
class Client {
 public:
  explicit Client(int seed) {
    std::mt19937 rng(seed);
    std::vector<int> keys(kKeys);
    for (int k = 0; k < kKeys; ++k) keys[k] = k;
    std::shuffle(keys.begin(), keys.end(), rng);
    for (int k : keys) unanswered_.push_back({k, std::uniform_int_distribution<int>(1, kVariantOneIn)(rng) == 1});
  }

  // Posts until every post is answered or the server stops answering.
  void Run(int port, Answers* answers) {
    HttpClient client(port);
    while (!unanswered_.empty()) {
      const Post post = unanswered_.front();
      const HttpResponse r = client.Post("/api/v1/events", Body(post), kStructured);
      if (r.status == 0) return;  // no answer: the server is gone; post it again later
      unanswered_.pop_front();
      // On this client's thread: CHECK (a REQUIRE would throw out of the thread).
      if (r.status != 201 && r.status != 409 && r.status != 422) {
        CHECK_MESSAGE(false, "unexpected answer " << r.status << " " << r.body);
        continue;
      }
      std::lock_guard lock(answers->mu);
      answers->by_key[post.key].push_back({r.status, JsonDoc(r.body).u64("/position"), post.variant});
    }
  }

  bool done() const { return unanswered_.empty(); }

 private:
  std::deque<Post> unanswered_;
};

// Runs every client against annalsd until annalsd stops answering or every client is done.
void RunClients(std::vector<Client>& clients, int port, Answers* answers) {
  std::vector<std::thread> threads;
  for (auto& c : clients) threads.emplace_back([&c, port, answers] { c.Run(port, answers); });
  for (auto& t : threads) t.join();
}

bool AllDone(const std::vector<Client>& clients) {
  return std::all_of(clients.begin(), clients.end(), [](const Client& c) { return c.done(); });
}

size_t AnswerCount(Answers& answers) {
  std::lock_guard lock(answers.mu);
  size_t n = 0;
  for (const auto& [key, list] : answers.by_key) n += list.size();
  return n;
}

TEST_CASE("annalsd killed with SIGKILL under concurrent appends of overlapping keys") {
  TempDir dir;
  const std::string data = dir.Sub("data");
  std::random_device seeds;
  std::vector<Client> clients;
  for (int c = 0; c < kClients; ++c) clients.emplace_back(static_cast<int>(seeds()));
  Answers answers;
  std::mt19937 rng(seeds());

  int mid_work_kills = 0;
  for (int round = 0; round < kRoundsMax && mid_work_kills < kMidWorkKillsWanted; ++round) {
    Annalsd server({.data_dir = data});
    REQUIRE(server.listening());
    const size_t before = AnswerCount(answers);
    std::thread killer([&] {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 400)(rng)));
      CHECK(server.Stop(SIGKILL) == 128 + SIGKILL);
    });
    RunClients(clients, server.port(), &answers);
    killer.join();
    const size_t after = AnswerCount(answers);
    INFO("round " << round << ": " << before << " -> " << after << " answers");
    if (after > before && !AllDone(clients)) ++mid_work_kills;
    if (AllDone(clients)) break;
  }
  MESSAGE(mid_work_kills << " kills landed in the middle of the appends");
  WARN(mid_work_kills > 0);

  // The last run answers the rest.
  {
    Annalsd server({.data_dir = data});
    REQUIRE(server.listening());
    // A client whose request timed out stops; it goes on with the next pass.
    for (int pass = 0; pass < kFinalPassesMax && !AllDone(clients); ++pass) {
      RunClients(clients, server.port(), &answers);
    }
    REQUIRE(AllDone(clients));
    CHECK(server.Stop(SIGTERM) == 0);
  }

  auto verify = RunCommand({BinDir() + "/annalsctl", "--data", data, "verify"});
  INFO(verify.out);
  CHECK(verify.exit_code == 0);

  // Where each key is, and with which content.
  std::map<int, std::pair<uint64_t, bool>> recorded;
  auto read = RunCommand({BinDir() + "/annalsctl", "--data", data, "read", "--type", "test.crash"});
  REQUIRE(read.exit_code == 0);
  ForEachJsonLine(read.out, [&](simdjson::dom::element e) {
    const std::string id{std::string_view(e["id"])};
    const int key = std::stoi(id.substr(4));
    INFO(id);
    CHECK(recorded.count(key) == 0);  // each key once
    bool variant = false;
    if (e["data"]["variant"].get(variant) != simdjson::SUCCESS) variant = false;  // absent
    recorded[key] = {uint64_t(e["position"]), variant};
  });
  CHECK(recorded.size() == static_cast<size_t>(kKeys));

  for (const auto& [key, list] : answers.by_key) {
    INFO("key " << key);
    auto it = recorded.find(key);
    REQUIRE(it != recorded.end());
    const auto [position, variant] = it->second;
    int created = 0;
    for (const Answer& a : list) {
      CHECK(a.position == position);
      if (a.status == 201) ++created;
      if (a.status == 422) {
        CHECK(a.variant != variant);
      } else {
        CHECK(a.variant == variant);
      }
    }
    CHECK(created <= 1);
  }
}

}  // namespace
}  // namespace annals::testing
