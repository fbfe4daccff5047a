// Goal: a full disk costs the Ledger availability, never an acknowledged event (ledger.h,
// "Storage failure"). While every write fails with ENOSPC (FaultFileSystem), each append answers
// kUnavailable (one in flight when the disk filled may still be acknowledged, and must then be
// kept), nothing crashes or hangs (every wait here is bounded), and reads, the head and Verify
// go on unchanged. Once space returns, retrying the refused appends with the same keys succeeds
// within a bounded time (kDuplicate telling which had reached the disk), and the ledger holds
// every acknowledged event exactly once at its acknowledged position, gapless from 1, with an
// intact chain, also after a reopen without the fault file system. In both sync modes, with
// the disk filling under a stream of appends (at a WAL append, at a WAL sync, or at a moment
// the test picks, with files then not even creatable), repeatedly, and with the disk filling
// between one event's write and its sync.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/eventstore/limits.h"
#include "annals/testing/test_util.h"
#include "annals/testing/fault_fs.h"

namespace annals::eventstore {
namespace {

using Clock = std::chrono::steady_clock;
using testing::FaultFileSystem;
using testing::FaultOptions;
using Answers = std::vector<std::pair<int, AppendOutcome>>;  // (event number, its answer)

// Limits of the test itself.
constexpr auto kAnswerWaitMax = std::chrono::seconds(10);   // for the answers of one round
constexpr auto kRecoverWaitMax = std::chrono::seconds(10);  // from free space to appends again
constexpr auto kRetryInterval = std::chrono::milliseconds(50);
// Longer than the ledger's kRecoverIntervalMs, so that its recovery runs (and fails) while full.
constexpr auto kFullPause = std::chrono::milliseconds(150);
constexpr size_t kReadPagesMax = 100;
constexpr int kEventsBeforeFull = 100;
// Under load, appends are submitted without waiting for answers until the disk fills (at most
// kEventsBeforeFullMax), then kEventsAfterFull more.
constexpr int kEventsBeforeFullMax = 4000;
constexpr int kEventsAfterFull = 150;
constexpr uint64_t kWalOpsBeforeFull = 3;  // Filling::kAtWal*: the disk fills at this one
constexpr int kFillCycles = 3;             // fill, check, free, retry: per test case
constexpr int kEventsWhileFull = 20;       // appended one at a time on the full disk
constexpr int kEventsAfterRecovery = 20;

// Event n: its own key, on one of four streams.
ProposedEvent EventNo(int n) {
  return testing::Propose(testing::MakeEvent("disk.full.v1", "/disk-full",
                                             "e" + std::to_string(n),
                                             "{\"n\":" + std::to_string(n) + "}",
                                             "s" + std::to_string(n % 4)));
}
std::string KeyOf(int n) { return "/disk-full e" + std::to_string(n); }

// What the ledger told the test: every event proposed, and where each acknowledged one is.
struct Book {
  struct Ack {
    uint64_t position;
    std::string hash;
  };
  std::set<std::string> proposed;    // keys
  std::map<std::string, Ack> acked;  // key -> where the ledger said it is
  std::set<int> refused;             // event numbers answered kUnavailable, not yet recorded
  int duplicates = 0;                // kDuplicate answers: refused events that had been written

  // Files the answer for event n: recorded or kUnavailable, nothing else.
  void Note(int n, const AppendOutcome& outcome) {
    const std::string key = KeyOf(n);
    proposed.insert(key);
    if (outcome.code == AppendCode::kUnavailable) {
      refused.insert(n);
      return;
    }
    REQUIRE_MESSAGE(outcome.recorded(), "event ", n, ": unexpected answer ",
                    AppendCodeName(outcome.code), " (", outcome.error.reason, ")");
    if (outcome.code == AppendCode::kDuplicate) ++duplicates;
    auto [it, inserted] = acked.emplace(key, Ack{outcome.position, outcome.hash});
    if (!inserted) {
      CHECK_MESSAGE(it->second.position == outcome.position, "event ", n,
                    " acknowledged at two positions");
      CHECK(it->second.hash == outcome.hash);
    }
    refused.erase(n);
  }
  void Note(const Answers& answers) {
    for (const auto& [n, o] : answers) Note(n, o);
  }
};

// Appends submitted without waiting; Collect waits for all their answers, kAnswerWaitMax in all.
class Inflight {
 public:
  void Submit(Ledger& ledger, int n) {
    auto answer = std::make_shared<std::promise<std::vector<AppendOutcome>>>();
    pending_.emplace_back(n, answer->get_future());
    std::vector<ProposedEvent> events;
    events.push_back(EventNo(n));
    ledger.Submit(std::move(events), [answer](std::vector<AppendOutcome> outcomes) {
      answer->set_value(std::move(outcomes));
    });
  }
  // False when an answer did not come in time.
  bool Collect(Answers* answers) {
    const auto deadline = Clock::now() + kAnswerWaitMax;
    for (auto& [n, future] : pending_) {
      if (future.wait_until(deadline) != std::future_status::ready) return false;
      std::vector<AppendOutcome> outcomes = future.get();
      REQUIRE(outcomes.size() == 1);
      answers->emplace_back(n, std::move(outcomes.front()));
    }
    pending_.clear();
    return true;
  }

 private:
  std::vector<std::pair<int, std::future<std::vector<AppendOutcome>>>> pending_;
};

// A ledger in a temporary directory, opened on the fault file system.
class Fixture {
 public:
  Fixture(LedgerOptions::SyncMode mode, FaultOptions fault)
      : dir_(std::make_unique<testing::TempDir>()),
        fs_(std::make_shared<FaultFileSystem>(fault)),
        env_(testing::NewFaultEnv(fs_)),
        mode_(mode) {
    Open(env_.get());
  }
  ~Fixture() {
    ledger_.reset();  // before the Env it uses
    env_.reset();
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  Ledger& ledger() { return *ledger_; }
  FaultFileSystem& fs() { return *fs_; }

  // Answers for events `numbers`, all submitted at once.
  Answers AppendAll(const std::vector<int>& numbers) {
    Inflight inflight;
    for (int n : numbers) inflight.Submit(*ledger_, n);
    return Collect(inflight);
  }
  AppendOutcome AppendOne(int n) { return AppendAll({n}).front().second; }
  // The answers of `inflight`; a ledger that does not answer ends the test case.
  Answers Collect(Inflight& inflight) {
    Answers answers;
    if (!inflight.Collect(&answers)) Abandon("no answer within the bound: the ledger hangs");
    return answers;
  }

  // Closes the ledger and its fault Env, then opens the directory again on the default Env.
  void ReopenWithoutFaults() {
    ledger_->Close();
    ledger_.reset();
    env_.reset();
    Open(nullptr);
  }

 private:
  void Open(rocksdb::Env* env) {
    LedgerOptions options;
    options.path = dir_->path();
    options.sync_mode = mode_;
    options.env = env;
    auto ledger = Ledger::Open(options);
    REQUIRE_MESSAGE(ledger.ok(), ledger.status().ToString());
    ledger_ = std::move(ledger).value();
  }
  // A hung ledger cannot be closed (Close joins its threads): it is leaked with its Env and
  // directory, which its threads may still use, and the test case fails.
  [[noreturn]] void Abandon(const std::string& why) {
    (void)ledger_.release();
    (void)env_.release();
    (void)dir_.release();
    FAIL(why);
    std::abort();  // not reached: FAIL throws
  }

  std::unique_ptr<testing::TempDir> dir_;
  std::shared_ptr<FaultFileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  LedgerOptions::SyncMode mode_;
  std::unique_ptr<Ledger> ledger_;
};

// Every record of the ledger, in position order, through ReadAll.
std::vector<Record> ReadEverything(const Ledger& ledger) {
  std::vector<Record> records;
  uint64_t from = 1;
  for (size_t pages = 0; pages < kReadPagesMax; ++pages) {
    auto page = ledger.ReadAll({.from_position = from, .limit = kReadPageEventsMax});
    REQUIRE_MESSAGE(page.ok(), page.status().ToString());
    for (Record& r : page->records) records.push_back(std::move(r));
    if (page->end) return records;
    REQUIRE(page->next > from);
    from = page->next;
  }
  FAIL("more than ", kReadPagesMax, " pages");
  return records;
}

// The ledger holds every acknowledged event exactly once, at its acknowledged position with its
// acknowledged hash; positions are gapless from 1 to the head; every record is one the test
// proposed; Verify finds the chain and indexes intact. With `all_recorded`, every proposed
// event is in.
void CheckHolds(const Ledger& ledger, const Book& book, bool all_recorded) {
  const Head head = ledger.GetHead();
  const std::vector<Record> records = ReadEverything(ledger);
  REQUIRE(records.size() == head.position);
  std::map<std::string, uint64_t> stored;  // key -> position
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    REQUIRE_MESSAGE(r.position() == i + 1, "gap or disorder at index ", i);
    CHECK_MESSAGE(stored.emplace(r.idempotency_key(), r.position()).second, "key '",
                  r.idempotency_key(), "' recorded twice (again at ", r.position(), ")");
    CHECK_MESSAGE(book.proposed.count(r.idempotency_key()) == 1, "unknown record at ",
                  r.position());
  }
  if (!records.empty()) CHECK(head.hash == records.back().hash());
  for (const auto& [key, ack] : book.acked) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      FAIL_CHECK("acknowledged event '", key, "' (position ", ack.position, ") is missing");
      continue;
    }
    CHECK_MESSAGE(it->second == ack.position, "'", key, "' acknowledged at ", ack.position,
                  ", stored at ", it->second);
    CHECK(records[it->second - 1].hash() == ack.hash);
  }
  if (all_recorded) CHECK(stored.size() == book.proposed.size());
  auto report = ledger.Verify({});
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK_MESSAGE(report->intact, "position ", report->first_bad_position, ": ", report->problem);
  CHECK(report->records_checked == head.position);
}

// Appends events [from, to) one at a time on a healthy disk: each is appended.
void AppendHealthy(Fixture& f, Book& book, int from, int to) {
  for (int n = from; n < to; ++n) {
    const AppendOutcome o = f.AppendOne(n);
    CHECK_MESSAGE(o.code == AppendCode::kAppended, "event ", n, ": ", AppendCodeName(o.code), " (",
                  o.error.reason, ")");
    book.Note(n, o);
  }
}

// On the full disk: events [from, to) and a retry of a refused one are each refused (with
// pauses, so that the ledger's recovery runs), the ledger says it is unhealthy, the head stays
// where it was, and reads and Verify go on.
void CheckFull(Fixture& f, Book& book, int from, int to) {
  Ledger& ledger = f.ledger();
  const Head head = ledger.GetHead();
  for (int n = from; n < to; ++n) {
    const AppendOutcome o = f.AppendOne(n);
    CHECK_MESSAGE(o.code == AppendCode::kUnavailable, "event ", n, " on a full disk: ",
                  AppendCodeName(o.code));
    book.Note(n, o);
    if (n % 4 == 0) std::this_thread::sleep_for(kFullPause);
  }
  const int again = *book.refused.begin();
  const AppendOutcome retried = f.AppendOne(again);
  CHECK(retried.code == AppendCode::kUnavailable);
  book.Note(again, retried);
  CHECK(f.fs().full());
  CHECK_FALSE(ledger.healthy());
  auto stats = ledger.Stats();
  REQUIRE(stats.ok());
  CHECK_FALSE(stats->healthy);
  CHECK_FALSE(stats->unhealthy_reason.empty());
  MESSAGE("unhealthy: ", stats->unhealthy_reason);
  CHECK(ledger.GetHead().position == head.position);
  CHECK(ledger.GetHead().hash == head.hash);
  CHECK(ledger.ReadAt(head.position + 1).status().code() == StatusCode::kNotFound);
  CheckHolds(ledger, book, false);
}

// Frees the disk and retries the refused events every kRetryInterval until each is recorded,
// for at most kRecoverWaitMax.
void FreeAndRetry(Fixture& f, Book& book) {
  f.fs().SetFull(false);
  const auto freed = Clock::now();
  const size_t refused = book.refused.size();
  const int duplicates_before = book.duplicates;
  int rounds = 0;
  while (!book.refused.empty() && Clock::now() - freed < kRecoverWaitMax) {
    ++rounds;
    book.Note(f.AppendAll(std::vector<int>(book.refused.begin(), book.refused.end())));
    if (!book.refused.empty()) std::this_thread::sleep_for(kRetryInterval);
  }
  const auto recovery_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - freed).count();
  MESSAGE("space returned: appends again after ", recovery_ms, " ms (", rounds, " rounds); of ",
          refused, " refused events, ", book.duplicates - duplicates_before,
          " had reached the disk");
  REQUIRE_MESSAGE(book.refused.empty(), book.refused.size(), " events still refused ",
                  recovery_ms, " ms after space returned");
  CHECK(f.ledger().healthy());
}

// Everything proposed is in exactly once, and so after a reopen on the default Env.
void CheckAllAndReopen(Fixture& f, const Book& book) {
  CheckHolds(f.ledger(), book, true);
  const Head head = f.ledger().GetHead();
  CHECK(head.position == book.proposed.size());
  f.ReopenWithoutFaults();
  CHECK(f.ledger().GetHead().position == head.position);
  CHECK(f.ledger().GetHead().hash == head.hash);
  CheckHolds(f.ledger(), book, true);
}

// How the disk fills under load: at a WAL append (a hook of the file system: a group's write
// fails, maybe while an earlier group awaits its sync), at a WAL sync (the writer may be writing
// the next group meanwhile), or when the test says so, after the first group committed.
enum class Filling { kAtWalAppend, kAtWalSync, kFromTest };

// The disk fills under a stream of appends from event `first` on: those submitted before may go
// either way, those submitted after (kEventsAfterFull) must be refused. Returns the next event
// number.
int FillUnderLoad(Fixture& f, Book& book, int first, Filling filling) {
  Ledger& ledger = f.ledger();
  const uint64_t head_at_start = ledger.GetHead().position;
  if (filling == Filling::kAtWalAppend) {
    f.fs().FillAt(FaultFileSystem::FillOp::kAppend, kWalOpsBeforeFull, ".log");
  } else if (filling == Filling::kAtWalSync) {
    f.fs().FillAt(FaultFileSystem::FillOp::kSync, kWalOpsBeforeFull, ".log");
  }
  Inflight inflight;
  int n = first;
  for (; !f.fs().full() && n < first + kEventsBeforeFullMax; ++n) {
    inflight.Submit(ledger, n);
    if (filling == Filling::kFromTest && n == first + kEventsBeforeFullMax / 2) {
      ledger.WaitForHead(head_at_start, kAnswerWaitMax);  // some committed, more in flight
      f.fs().SetFull(true);
    }
    if (n % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE_MESSAGE(f.fs().full(), "the disk did not fill within ", n - first, " appends");
  const int flip = n;
  for (; n < flip + kEventsAfterFull; ++n) inflight.Submit(ledger, n);
  int acked_in_flight = 0;
  for (const auto& [m, o] : f.Collect(inflight)) {
    if (m >= flip) {
      CHECK_MESSAGE(o.code == AppendCode::kUnavailable, "event ", m,
                    " submitted on a full disk: ", AppendCodeName(o.code));
    } else if (o.recorded()) {
      ++acked_in_flight;
    }
    book.Note(m, o);
  }
  MESSAGE("disk filled under load: ", acked_in_flight, " of ", flip - first,
          " events submitted before were acknowledged");
  return n;
}

void RunFillUnderLoad(LedgerOptions::SyncMode mode, FaultOptions fault, Filling filling) {
  Fixture f(mode, fault);
  Book book;
  const testing::FaultCounts at_open = f.fs().counts();
  CHECK(at_open.files_opened > 0);
  AppendHealthy(f, book, 0, kEventsBeforeFull);
  // The ledger really writes and syncs through the fault file system.
  const testing::FaultCounts healthy = f.fs().counts();
  CHECK(healthy.appends_passed > at_open.appends_passed);
  CHECK(healthy.syncs_passed > at_open.syncs_passed);
  CHECK(healthy.faults_injected == 0);

  // Several times over: each fill may catch the writer and the sync thread differently.
  int next = kEventsBeforeFull;
  for (int cycle = 0; cycle < kFillCycles; ++cycle) {
    CAPTURE(cycle);
    const uint64_t faults_before = f.fs().counts().faults_injected;
    next = FillUnderLoad(f, book, next, filling);
    CHECK_MESSAGE(f.fs().counts().faults_injected > faults_before,
                  "the injected fault was never hit");
    CheckFull(f, book, next, next + kEventsWhileFull);
    next += kEventsWhileFull;
    FreeAndRetry(f, book);
    AppendHealthy(f, book, next, next + kEventsAfterRecovery);
    next += kEventsAfterRecovery;
  }
  CheckAllAndReopen(f, book);
}

// The disk fills right after one event's WAL record lands, before its sync: it is refused (its
// sync failed) though it may be on the disk; the retry after space returns tells.
void RunFillBeforeSync(LedgerOptions::SyncMode mode) {
  Fixture f(mode, {});
  Book book;
  AppendHealthy(f, book, 0, 10);
  f.fs().FillAt(FaultFileSystem::FillOp::kSync, 1, ".log");
  const AppendOutcome o = f.AppendOne(10);
  CHECK_MESSAGE(f.fs().full(), "the event's WAL sync did not go through the fault file system");
  CHECK_MESSAGE(o.code == AppendCode::kUnavailable, "its sync failed, yet: ",
                AppendCodeName(o.code));
  book.Note(10, o);
  CheckFull(f, book, 11, 11 + kEventsWhileFull);
  FreeAndRetry(f, book);
  AppendHealthy(f, book, 11 + kEventsWhileFull, 11 + kEventsWhileFull + kEventsAfterRecovery);
  CheckAllAndReopen(f, book);
}

TEST_CASE("disk fills at a WAL append under load: pipelined sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kPipelined, {}, Filling::kAtWalAppend);
}

TEST_CASE("disk fills at a WAL append under load: inline sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kInline, {}, Filling::kAtWalAppend);
}

TEST_CASE("disk fills at a WAL sync under load: pipelined sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kPipelined, {}, Filling::kAtWalSync);
}

TEST_CASE("disk fills at a WAL sync under load: inline sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kInline, {}, Filling::kAtWalSync);
}

TEST_CASE("disk fills under load, no file creatable: pipelined sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kPipelined, {.fail_open_when_full = true},
                   Filling::kFromTest);
}

TEST_CASE("disk fills under load, no file creatable: inline sync") {
  RunFillUnderLoad(LedgerOptions::SyncMode::kInline, {.fail_open_when_full = true},
                   Filling::kFromTest);
}

TEST_CASE("disk fills between a write and its sync: pipelined sync") {
  RunFillBeforeSync(LedgerOptions::SyncMode::kPipelined);
}

TEST_CASE("disk fills between a write and its sync: inline sync") {
  RunFillBeforeSync(LedgerOptions::SyncMode::kInline);
}

}  // namespace
}  // namespace annals::eventstore
