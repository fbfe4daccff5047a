// Goal: the Ledger acknowledges nothing before the fsync that covers it (ledger.h), so a power
// loss at any instant keeps every acknowledged event. crash_test cannot show this: after a
// SIGKILL the OS page cache keeps every written byte, synced or not. Here the writer
// (power_loss_writer: 8 threads of single appends, batches and retries of earlier ids) runs on
// the lossy file system (support/lossy_fs.h), which keeps unsynced bytes in the process's
// memory, so that a SIGKILL at a random instant loses exactly what a power loss could. After each
// kill the ledger, opened on the real files alone, must hold every acknowledged id at its
// acknowledged position, each id once, positions gapless, stream revisions gapless, and an
// intact chain (Verify). In both sync modes, many rounds over the same ledger, each new writer
// recovering what the last one left.
//
// The test must be able to fail: the lossy file system is checked on its own (a killed child's
// unsynced bytes are gone, its synced bytes kept; in-process reads see both), and the same
// checks must catch the lost acknowledgements of writers whose WAL syncs answer early, as a
// ledger acknowledging before its fsync would: syncs that persist nothing, and syncs that
// persist only what the previous sync was given (each group acknowledged one sync early).
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"
#include "annals/testing/lossy_fs.h"

namespace annals {
namespace {

namespace es = eventstore;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Rounds of start, append, kill, check per sync mode. Round 0 kills the writer at a random
// instant up to kCreationKillMax after its start, often while it creates the ledger. One round in
// kKillFromStartOneIn kills it at a random instant up to kKillFromStartMax after its start (its
// Open, with the recovery of what the last writer left, takes some of that); one in kBurstOneIn
// is a burst, killed once the writer is idle (the counterpart of the dishonest writers below,
// with honest syncs); the others are killed at a random instant up to kKillAfterOpenMax after the
// writer's Open. Round kLargeRound writes large events for
// [kLargeKillAfterOpenMin, kLargeKillAfterOpenMax] after its Open, long enough for a 64 MiB
// memtable to fill, so that WAL switches and flushes happen while it acknowledges; it comes
// late, because every check after it reads its hundreds of MiB.
constexpr int kRoundsPerMode = 18;
constexpr int kLargeRound = 15;
constexpr uint32_t kKillFromStartOneIn = 4;
constexpr uint32_t kBurstOneIn = 6;
constexpr milliseconds kCreationKillMax{60};
constexpr milliseconds kKillFromStartMax{300};
constexpr milliseconds kKillAfterOpenMax{500};
constexpr milliseconds kLargeKillAfterOpenMin{1500};
constexpr milliseconds kLargeKillAfterOpenMax{2500};
// A writer that has not opened the ledger by then is killed anyway (and the round reported).
constexpr milliseconds kOpenWaitMax{30000};
// A writer whose WAL syncs answer early goes idle after a few hundred acknowledgements
// (power_loss_writer.cc) and is killed then, or after kDishonestRunMax.
constexpr milliseconds kDishonestRunMax{10000};
constexpr size_t kDishonestAcksMin = 300;
// lagging-wal loses the last group only when no other WAL sync follows it before the kill; under
// load one sometimes does (the group is then durable, and nothing is lost). The control runs a
// fresh writer up to this many times for a run that leaves the last group unsynced.
constexpr int kLaggingAttemptsMax = 4;
// The problems one check reports in full; beyond, only counted.
constexpr size_t kProblemsShownMax = 8;

struct Ack {
  std::string id;
  uint64_t position = 0;
};

// When to kill a writer.
struct KillPlan {
  milliseconds after{0};
  bool from_open = false;  // `after` counts from its "# opened" line, not from its start
  bool at_idle = false;    // or as soon as it prints "# idle" (it stopped appending)
};

// One run of the writer, until killed.
struct WriterRun {
  std::vector<Ack> acks;
  bool opened = false;       // it printed "# opened": killed after its Open, not during it
  uint64_t opened_head = 0;  // the head its Open recovered
  milliseconds open_time{0};
  int exit_code = -1;  // 128 + SIGKILL when killed, as it should be
};

// The writer's note once its ledger is open, followed by the head.
constexpr std::string_view kOpenedLine = "# opened, head ";

bool ParseAck(const std::string& line, Ack* ack) {
  std::istringstream in(line);
  return static_cast<bool>(in >> ack->id >> ack->position) && in.eof();
}

// Starts power_loss_writer with `args`, reads its acknowledgements, and kills it with SIGKILL
// as `plan` says.
WriterRun RunWriter(const std::vector<std::string>& args, const KillPlan& plan) {
  std::vector<std::string> argv = {testing::BinDir() + "/power_loss_writer"};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto started = Clock::now();
  testing::ChildProcess child(argv);
  std::mutex mu;
  std::condition_variable cv;
  bool opened = false;        // guarded by mu
  bool output_ended = false;  // guarded by mu
  std::thread killer([&] {
    std::unique_lock lock(mu);
    if (plan.from_open) {
      cv.wait_for(lock, kOpenWaitMax, [&] { return opened || output_ended; });
    }
    if (!cv.wait_for(lock, plan.after, [&] { return output_ended; })) child.Kill(SIGKILL);
  });
  WriterRun run;
  std::string line;
  bool parsed = true;
  while (child.ReadLine(&line)) {
    if (line.starts_with(kOpenedLine)) {
      run.opened = true;
      run.opened_head = std::stoull(line.substr(kOpenedLine.size()));
      run.open_time = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
      {
        std::lock_guard lock(mu);
        opened = true;
      }
      cv.notify_one();
    }
    if (plan.at_idle && line == "# idle") child.Kill(SIGKILL);
    if (line.starts_with("#")) continue;
    Ack ack;
    parsed = ParseAck(line, &ack);
    if (!parsed) break;
    run.acks.push_back(ack);
  }
  child.Kill(SIGKILL);  // it has ended, or printed garbage
  {
    std::lock_guard lock(mu);
    output_ended = true;
  }
  cv.notify_one();
  killer.join();
  run.exit_code = child.Wait();
  REQUIRE_MESSAGE(parsed, "not an acknowledgement: '" << line << "'");
  return run;
}

// How CheckLedger opens the ledger.
enum class CheckOpen : uint8_t {
  kReadOnly,  // read-only: the files exactly as the kill left them, for the next writer to recover
  kReadOnlyBeforeCreation,  // the same, but no writer has finished its Open yet: the ledger may
                            // not be created yet (nothing can have been acknowledged)
  kWritable,                // a writable open, which recovers the ledger for good
};

// What a check of the ledger found.
struct Findings {
  bool absent = false;  // no ledger yet (CheckOpen::kReadOnlyBeforeCreation only)
  uint64_t head = 0;
  uint64_t acks_checked = 0;
  uint64_t acks_lost = 0;
  std::vector<std::string> problems;  // the first kProblemsShownMax
  size_t problem_count = 0;

  void Problem(std::string what) {
    if (problems.size() < kProblemsShownMax) problems.push_back(std::move(what));
    ++problem_count;
  }
  std::string Report() const {
    std::string r = std::to_string(problem_count) + " problem(s):";
    for (const auto& p : problems) r += "\n  " + p;
    return r;
  }
};

// Opens the ledger at `path` on the real files alone and checks it against `acked`
// (id -> position).
Findings CheckLedger(const std::string& path, const std::map<std::string, uint64_t>& acked,
                     CheckOpen how) {
  Findings f;
  es::LedgerOptions options;
  options.path = path;
  options.read_only = how != CheckOpen::kWritable;
  auto opened = es::Ledger::Open(options);
  if (!opened.ok() && how == CheckOpen::kReadOnlyBeforeCreation && acked.empty()) {
    f.absent = true;  // killed before its creation was durable: nothing to find
    return f;
  }
  if (!opened.ok()) {
    f.Problem("the ledger does not open: " + opened.status().ToString());
    return f;
  }
  es::Ledger& ledger = **opened;
  f.head = ledger.GetHead().position;
  std::map<std::string, uint64_t> stored;       // id -> position
  std::map<std::string, uint64_t> stream_next;  // stream -> next revision
  uint64_t expected_position = 1;
  const Status scan = ledger.Scan(1, [&](uint64_t position, std::string_view bytes) {
    es::Record r;
    if (!es::DecodeRecord(bytes, &r).ok()) {
      f.Problem("position " + std::to_string(position) + " does not decode");
      return true;
    }
    if (position != expected_position) {
      f.Problem("position " + std::to_string(position) + " follows " +
                std::to_string(expected_position - 1));
    }
    expected_position = position + 1;
    if (!stored.emplace(r.event().id(), position).second) {
      f.Problem("id " + r.event().id() + " stored twice, at " +
                std::to_string(stored[r.event().id()]) + " and " + std::to_string(position));
    }
    const uint64_t revision = stream_next[r.stream()]++;
    if (!r.stream().empty() && r.revision() != revision) {
      f.Problem("stream " + r.stream() + " skips from revision " + std::to_string(revision) +
                " to " + std::to_string(r.revision()) + " at position " + std::to_string(position));
    }
    return true;
  });
  if (!scan.ok()) f.Problem("scan: " + scan.ToString());
  if (expected_position != f.head + 1) {
    f.Problem("the records end at " + std::to_string(expected_position - 1) + ", the head is " +
              std::to_string(f.head));
  }
  for (const auto& [id, position] : acked) {
    ++f.acks_checked;
    auto it = stored.find(id);
    if (it == stored.end()) {
      ++f.acks_lost;
      f.Problem("acknowledged event lost: " + id + " at position " + std::to_string(position) +
                " (head " + std::to_string(f.head) + ")");
    } else if (it->second != position) {
      f.Problem("id " + id + " acknowledged at position " + std::to_string(position) +
                ", stored at " + std::to_string(it->second));
    }
  }
  auto report = ledger.Verify({});
  if (!report.ok()) {
    f.Problem("verify: " + report.status().ToString());
  } else if (!report->intact) {
    f.Problem("verify: position " + std::to_string(report->first_bad_position) + ": " +
              report->problem);
  }
  return f;
}

// Adds a run's acknowledgements to `acked`; an id acknowledged at two positions is a problem.
void Merge(const WriterRun& run, std::map<std::string, uint64_t>* acked, Findings* f) {
  for (const Ack& ack : run.acks) {
    auto [it, fresh] = acked->emplace(ack.id, ack.position);
    if (!fresh && it->second != ack.position) {
      f->Problem("id " + ack.id + " acknowledged at " + std::to_string(it->second) + " and " +
                 std::to_string(ack.position));
    }
  }
}

// Copies the ledger at `path` (which its TempDir removes) to a directory that stays; returns a
// note saying where.
std::string KeepForInspection(const std::string& path) {
  const auto kept = std::filesystem::temp_directory_path() /
                    ("annals-power-loss-" + std::to_string(std::random_device{}()));
  std::error_code ec;
  std::filesystem::copy(path, kept, std::filesystem::copy_options::recursive, ec);
  if (ec) return "could not keep the ledger: " + ec.message();
  return "the ledger as the kill left it is kept at " + kept.string();
}

void PowerLossRounds(const std::string& mode) {
  const auto started = Clock::now();
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  auto draw = [&](milliseconds min, milliseconds max) {
    return milliseconds(min.count() + rng() % (max - min).count());
  };
  std::map<std::string, uint64_t> acked;
  size_t ack_lines = 0;
  int killed_in_open = 0;
  int rounds_with_acks = 0;
  bool ever_opened = false;  // a writer has finished its Open: the ledger exists
  int checked_absent = 0;    // checks that found no ledger yet
  Findings last;
  for (int round = 0; round < kRoundsPerMode; ++round) {
    std::string variant;  // the writer's: "", "large" or "burst"
    KillPlan plan;
    const uint32_t pick = rng();
    if (round == 0) {
      plan = {draw(milliseconds(0), kCreationKillMax), false};
    } else if (round == kLargeRound) {
      variant = "large";
      plan = {draw(kLargeKillAfterOpenMin, kLargeKillAfterOpenMax), true};
    } else if (pick % kBurstOneIn == 0) {
      variant = "burst";
      plan = {kOpenWaitMax, false, true};
    } else if (pick % kKillFromStartOneIn == 0) {
      plan = {draw(milliseconds(0), kKillFromStartMax), false};
    } else {
      plan = {draw(milliseconds(0), kKillAfterOpenMax), true};
    }
    std::vector<std::string> args = {path, mode, std::to_string(round)};
    if (!variant.empty()) args.push_back(variant);
    const WriterRun run = RunWriter(args, plan);
    const std::string what = "round " + std::to_string(round) +
                             (variant.empty() ? "" : " (" + variant + ")") + ": killed " +
                             (plan.at_idle ? std::string("when idle")
                                           : std::to_string(plan.after.count()) + " ms after " +
                                                 (plan.from_open ? "its open" : "its start"));
    INFO(mode << ", " << what << ", seed " << seed);
    REQUIRE_MESSAGE(run.exit_code == 128 + SIGKILL,
                    "the writer ended by itself (exit " << run.exit_code << "): see its stderr");
    if (plan.from_open) REQUIRE_MESSAGE(run.opened, "the writer did not open the ledger in time");
    // The writer recovered what the check after the last kill saw: nothing more, nothing less.
    if (run.opened) CHECK(run.opened_head == last.head);
    ack_lines += run.acks.size();
    killed_in_open += run.opened ? 0 : 1;
    rounds_with_acks += run.acks.empty() ? 0 : 1;
    Findings merged;
    Merge(run, &acked, &merged);
    REQUIRE_MESSAGE(merged.problems.empty(), merged.Report());
    ever_opened = ever_opened || run.opened;
    last = CheckLedger(path, acked,
                       ever_opened ? CheckOpen::kReadOnly : CheckOpen::kReadOnlyBeforeCreation);
    if (!last.problems.empty()) FAIL(last.Report() << "\n  " << KeepForInspection(path));
    checked_absent += last.absent ? 1 : 0;
  }
  // A last writable open recovers the ledger for good: still everything.
  const Findings recovered = CheckLedger(path, acked, CheckOpen::kWritable);
  CHECK_MESSAGE(recovered.problems.empty(), recovered.Report());
  CHECK(recovered.head == last.head);
  const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  MESSAGE(mode << ": " << kRoundsPerMode << " kills (" << killed_in_open << " during open, "
               << checked_absent << " before the ledger existed), " << ack_lines
               << " acknowledgements, " << acked.size()
               << " distinct ids checked after every kill, head " << recovered.head << ", "
               << seconds << " s, seed " << seed);
  // Not vacuous: most writers got to acknowledge, and the checks covered many events.
  CHECK(rounds_with_acks >= kRoundsPerMode / 2);
  CHECK(acked.size() >= 1000);
}

TEST_CASE("power loss at random instants loses nothing acknowledged: pipelined sync") {
  PowerLossRounds("pipelined");
}

TEST_CASE("power loss at random instants loses nothing acknowledged: inline sync") {
  PowerLossRounds("inline");
}

// A writer whose WAL syncs answer before its bytes are durable, in a fresh ledger; returns what
// the check found after the kill.
Findings RunDishonest(const std::string& mode, const std::string& variant) {
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  {  // an honest ledger first, so that only the dishonest writer's events can go missing
    es::LedgerOptions options;
    options.path = path;
    auto created = es::Ledger::Open(options);
    REQUIRE_MESSAGE(created.ok(), created.status().ToString());
  }
  const WriterRun run = RunWriter({path, mode, "0", variant}, {kDishonestRunMax, false, true});
  REQUIRE(run.exit_code == 128 + SIGKILL);
  REQUIRE(run.acks.size() >= kDishonestAcksMin);
  std::map<std::string, uint64_t> acked;
  Findings merged;
  Merge(run, &acked, &merged);
  REQUIRE_MESSAGE(merged.problems.empty(), merged.Report());
  Findings f = CheckLedger(path, acked, CheckOpen::kReadOnly);
  MESSAGE(mode << ", " << variant << ": " << f.acks_lost << " of " << f.acks_checked
               << " acknowledged events lost, head " << f.head << "; " << f.Report());
  // Lost events are the only problem: the ledger itself stays sound.
  CHECK(f.problem_count == f.acks_lost);
  return f;
}

TEST_CASE("the checks catch acknowledged events lost to WAL syncs that persist nothing") {
  for (const std::string mode : {"pipelined", "inline"}) {
    CAPTURE(mode);
    const Findings f = RunDishonest(mode, "lying-wal");
    CHECK(f.acks_lost == f.acks_checked);  // nothing reached the WAL on disk
    CHECK(f.head == 0);
  }
}

TEST_CASE("the checks catch groups acknowledged one WAL sync early") {
  for (const std::string mode : {"pipelined", "inline"}) {
    CAPTURE(mode);
    Findings f = RunDishonest(mode, "lagging-wal");
    for (int attempt = 1; attempt < kLaggingAttemptsMax && f.acks_lost == 0; ++attempt) {
      f = RunDishonest(mode, "lagging-wal");
    }
    CHECK(f.acks_lost > 0);               // the last group acknowledged before going idle
    CHECK(f.acks_lost < f.acks_checked);  // only it: the earlier ones were synced in time
  }
}

// The real file's bytes: what a power loss now would leave.
std::string RealBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("the lossy file system: a killed process keeps exactly its synced bytes") {
  testing::TempDir dir;
  testing::ChildProcess child({testing::BinDir() + "/power_loss_writer", "--probe", dir.path()});
  std::string line;
  bool ready = false;
  while (!ready && child.ReadLine(&line)) ready = line == "ready";
  REQUIRE_MESSAGE(ready, "the probe failed before it was ready: see its stderr");
  // Before the kill every file exists (directory entries are immediate), holding only the bytes
  // synced so far.
  CHECK(RealBytes(dir.Sub("unsynced")).empty());
  child.Kill(SIGKILL);
  REQUIRE(child.Wait() == 128 + SIGKILL);
  const std::map<std::string, std::string> survivors = {
      {"unsynced", ""},
      {"closed", ""},
      {"synced", std::string(3000, 'c')},
      {"fsynced-closed", std::string(3000, 'd')},
      {"partial", std::string(3000, 'e')},
      {"range-synced", ""},
      {"reopened", std::string(1000, 'h') + std::string(1000, 'i')},
  };
  for (const auto& [name, bytes] : survivors) {
    CAPTURE(name);
    REQUIRE(std::filesystem::exists(dir.Sub(name)));
    CHECK(RealBytes(dir.Sub(name)) == bytes);
  }
}

TEST_CASE("the lossy file system: positioned writes, truncation and renames") {
  testing::TempDir dir;
  testing::LossyFileSystem fs;
  const rocksdb::IOOptions io;
  const std::string a = dir.Sub("a");
  std::unique_ptr<rocksdb::FSWritableFile> f;
  REQUIRE(fs.NewWritableFile(a, rocksdb::FileOptions(), &f, nullptr).ok());
  auto seen = [&](const std::string& fname) {
    std::unique_ptr<rocksdb::FSRandomAccessFile> r;
    REQUIRE(fs.NewRandomAccessFile(fname, rocksdb::FileOptions(), &r, nullptr).ok());
    std::string scratch(64, '?');
    rocksdb::Slice got;
    REQUIRE(r->Read(0, scratch.size(), io, &got, scratch.data(), nullptr).ok());
    return got.ToString();
  };
  REQUIRE(f->Append("abcdef", io, nullptr).ok());
  REQUIRE(f->PositionedAppend("XY", 2, io, nullptr).ok());
  CHECK(seen(a) == "abXYef");
  CHECK(RealBytes(a).empty());
  CHECK(fs.UnsyncedBytes(a) == 6);
  REQUIRE(f->Sync(io, nullptr).ok());
  CHECK(RealBytes(a) == "abXYef");
  CHECK(fs.UnsyncedBytes(a) == 0);
  REQUIRE(f->Truncate(3, io, nullptr).ok());
  REQUIRE(f->Append("123", io, nullptr).ok());
  REQUIRE(f->PositionedAppend("Z", 8, io, nullptr).ok());
  const std::string now = std::string("abX123") + '\0' + '\0' + 'Z';
  CHECK(seen(a) == now);
  CHECK(f->GetFileSize(io, nullptr) == now.size());
  CHECK(RealBytes(a) == "abXYef");  // a truncation is not durable before its sync either
  REQUIRE(f->Fsync(io, nullptr).ok());
  CHECK(RealBytes(a) == now);
  // Unsynced bytes follow a rename; the real file under the new name has the synced ones only.
  REQUIRE(f->Append("tail", io, nullptr).ok());
  REQUIRE(f->Close(io, nullptr).ok());
  const std::string b = dir.Sub("b");
  REQUIRE(fs.RenameFile(a, b, io, nullptr).ok());
  CHECK(seen(b) == now + "tail");
  uint64_t size = 0;
  REQUIRE(fs.GetFileSize(b, io, &size, nullptr).ok());
  CHECK(size == now.size() + 4);
  CHECK(RealBytes(b) == now);
  const testing::LossyCounts counts = fs.counts();
  CHECK(counts.files_opened == 1);
  CHECK(counts.syncs == 2);
  CHECK(counts.closes_unsynced == 1);
}

}  // namespace
}  // namespace annals
