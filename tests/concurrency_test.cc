// Goal: concurrent writers with overlapping keys are each told the truth. Many threads append
// events drawn from one shared key space, some with content that differs from what another
// thread wrote under the same key. Afterwards: each key is stored exactly once; every Appended
// and Duplicate answer for a key names the position where it is stored; KeyReuse is answered
// exactly when the caller's content differs from the stored content; and racing conditional
// appends to one stream assign each revision once.
#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "annals/eventstore/ledger.h"
#include "annals/eventstore/limits.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

namespace es = eventstore;
using testing::MakeEvent;
using testing::Propose;

constexpr int kThreads = 16;
constexpr int kAppendsPerThread = 1500;
constexpr int kKeys = 3000;

std::unique_ptr<es::Ledger> Open(const std::string& path, es::LedgerOptions::SyncMode mode) {
  es::LedgerOptions options;
  options.path = path;
  options.sync_mode = mode;
  auto ledger = es::Ledger::Open(options);
  REQUIRE(ledger.ok());
  return std::move(ledger).value();
}

struct Answer {
  int key;
  int variant;  // which content the caller sent
  es::AppendOutcome outcome;
};

TEST_CASE("overlapping keys from many threads") {
  for (auto mode : {es::LedgerOptions::SyncMode::kPipelined, es::LedgerOptions::SyncMode::kInline}) {
    testing::TempDir dir;
    auto ledger = Open(dir.path(), mode);
    std::mutex mu;
    std::vector<Answer> answers;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(t) * 7919u);
        std::vector<Answer> mine;
        for (int i = 0; i < kAppendsPerThread; ++i) {
          const int key = static_cast<int>(rng() % kKeys);
          const int variant = rng() % 10 == 0 ? 1 : 0;  // one in ten sends other content
          const std::string data = "{\"v\":" + std::to_string(variant) + "}";
          auto event = MakeEvent("t.v1", "/c", "e" + std::to_string(key), data);
          mine.push_back({key, variant, ledger->Append(Propose(std::move(event), "s" + std::to_string(key % 7)))});
        }
        std::lock_guard lock(mu);
        answers.insert(answers.end(), mine.begin(), mine.end());
      });
    }
    for (auto& th : threads) th.join();

    // What is stored: key -> (position, variant).
    std::map<int, std::pair<uint64_t, int>> stored;
    Status scan = ledger->Scan(1, [&](uint64_t position, std::string_view bytes) {
      es::Record r;
      REQUIRE(es::DecodeRecord(bytes, &r).ok());
      const int key = std::stoi(r.event().id().substr(1));
      const int variant = r.event().text_data() == "{\"v\":1}" ? 1 : 0;
      CHECK_MESSAGE(stored.emplace(key, std::make_pair(position, variant)).second,
                    "key stored twice: " << key);
      return true;
    });
    REQUIRE(scan.ok());

    size_t appended = 0;
    for (const Answer& a : answers) {
      auto it = stored.find(a.key);
      REQUIRE_MESSAGE(it != stored.end(), "a key answered but not stored: " << a.key);
      const auto [position, variant] = it->second;
      switch (a.outcome.code) {
        case es::AppendCode::kAppended:
          ++appended;
          CHECK(a.outcome.position == position);
          CHECK(a.variant == variant);
          break;
        case es::AppendCode::kDuplicate:
          CHECK(a.outcome.position == position);
          CHECK(a.variant == variant);
          break;
        case es::AppendCode::kKeyReuse:
          CHECK(a.outcome.position == position);
          CHECK(a.variant != variant);
          break;
        default:
          FAIL("unexpected answer " << es::AppendCodeName(a.outcome.code));
      }
    }
    CHECK(appended == stored.size());
    CHECK(ledger->GetHead().position == stored.size());
    CHECK(ledger->Verify({})->intact);
  }
}

TEST_CASE("racing conditional appends assign each revision once") {
  testing::TempDir dir;
  auto ledger = Open(dir.path(), es::LedgerOptions::SyncMode::kPipelined);
  constexpr int kRacers = 8;
  constexpr int kWinsEach = 40;
  std::vector<std::thread> threads;
  std::atomic<int> conflicts{0};
  for (int t = 0; t < kRacers; ++t) {
    threads.emplace_back([&, t] {
      for (int won = 0, attempt = 0; won < kWinsEach; ++attempt) {
        // Read the stream's head, then append expecting it: optimistic concurrency.
        auto page = ledger->ReadStream("account", 0, es::kReadPageEventsMax);
        REQUIRE(page.ok());
        const auto expected = page->records.empty()
                                  ? es::ExpectedRevision::NoStream()
                                  : es::ExpectedRevision::Exact(page->records.back().revision());
        auto event = MakeEvent("t.v1", "/race", std::to_string(t) + "-" + std::to_string(attempt));
        auto out = ledger->Append(Propose(std::move(event), "account", "", expected));
        if (out.code == es::AppendCode::kAppended) {
          ++won;
        } else {
          REQUIRE(out.code == es::AppendCode::kWrongRevision);
          ++conflicts;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  auto page = ledger->ReadStream("account", 0, es::kReadPageEventsMax);
  REQUIRE(page.ok());
  REQUIRE(page->records.size() == kRacers * kWinsEach);
  for (size_t i = 0; i < page->records.size(); ++i) CHECK(page->records[i].revision() == i);
  MESSAGE(conflicts.load() << " conflicts refused");
}

}  // namespace
}  // namespace annals
