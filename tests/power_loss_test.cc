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
// unsynced bytes are gone, its synced bytes kept; in-process reads see both), and a writer
// whose WAL syncs lie (persist nothing and answer OK, as a ledger acknowledging before its fsync
// would behave) must be caught losing acknowledged events by the same checks.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"
#include "support/lossy_fs.h"

namespace annals {
namespace {

namespace es = eventstore;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Rounds of start, append, kill, check per sync mode; each writer is killed after a delay drawn
// from [kKillAfterMin, kKillAfterMax] (its Open takes some of it: some kills land in recovery).
constexpr int kRoundsPerMode = 14;
constexpr milliseconds kKillAfterMin{10};
constexpr milliseconds kKillAfterMax{600};
// The lying writer is killed once it has acknowledged this many events (or after
// kLyingRunMax).
constexpr size_t kLyingAcksBeforeKill = 200;
constexpr milliseconds kLyingRunMax{10000};
// The problems one check reports in full; beyond, only counted.
constexpr size_t kProblemsShownMax = 8;

struct Ack {
  std::string id;
  uint64_t position = 0;
};

// One run of the writer, until killed.
struct WriterRun {
  std::vector<Ack> acks;
  bool opened = false;  // it printed "# opened": killed after its Open, not during it
  int exit_code = -1;   // 128 + SIGKILL when killed, as it should be
};

bool ParseAck(const std::string& line, Ack* ack) {
  std::istringstream in(line);
  return static_cast<bool>(in >> ack->id >> ack->position) && in.eof();
}

// Starts power_loss_writer with `args`, reads its acknowledgements, and kills it with SIGKILL
// after `kill_after`, or as soon as it has acknowledged `kill_at_acks` events (0: never).
WriterRun RunWriter(const std::vector<std::string>& args, milliseconds kill_after,
                    size_t kill_at_acks) {
  std::vector<std::string> argv = {testing::BinDir() + "/power_loss_writer"};
  argv.insert(argv.end(), args.begin(), args.end());
  testing::ChildProcess child(argv);
  std::thread killer([&] {
    std::this_thread::sleep_for(kill_after);
    child.Kill(SIGKILL);
  });
  WriterRun run;
  std::string line;
  while (child.ReadLine(&line)) {
    if (line.starts_with("# opened")) run.opened = true;
    if (line.starts_with("#")) continue;
    Ack ack;
    REQUIRE_MESSAGE(ParseAck(line, &ack), "not an acknowledgement: '" << line << "'");
    run.acks.push_back(ack);
    if (kill_at_acks > 0 && run.acks.size() == kill_at_acks) child.Kill(SIGKILL);
  }
  killer.join();
  run.exit_code = child.Wait();
  return run;
}

// What a check of the ledger found.
struct Findings {
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

// Opens the ledger at `path` on the real files alone (read-only: the next writer recovers the
// files exactly as the kill left them) and checks it against `acked` (id -> position).
Findings CheckLedger(const std::string& path, const std::map<std::string, uint64_t>& acked,
                     bool read_only) {
  Findings f;
  es::LedgerOptions options;
  options.path = path;
  options.read_only = read_only;
  auto opened = es::Ledger::Open(options);
  if (!opened.ok()) {
    f.Problem("the ledger does not open: " + opened.status().ToString());
    return f;
  }
  es::Ledger& ledger = **opened;
  f.head = ledger.GetHead().position;
  std::map<std::string, uint64_t> stored;         // id -> position
  std::map<std::string, uint64_t> stream_next;    // stream -> next revision
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
                " to " + std::to_string(r.revision()) + " at position " +
                std::to_string(position));
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

void PowerLossRounds(const std::string& mode) {
  const auto started = Clock::now();
  testing::TempDir dir;
  const std::string path = dir.Sub("ledger");
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::map<std::string, uint64_t> acked;
  size_t ack_lines = 0;
  int killed_in_open = 0;
  int rounds_with_acks = 0;
  Findings last;
  for (int round = 0; round < kRoundsPerMode; ++round) {
    const milliseconds kill_after(
        kKillAfterMin.count() + rng() % (kKillAfterMax - kKillAfterMin).count());
    const WriterRun run = RunWriter({path, mode, std::to_string(round)}, kill_after, 0);
    INFO("mode " << mode << ", round " << round << ", killed after " << kill_after.count()
                 << " ms, seed " << seed);
    REQUIRE_MESSAGE(run.exit_code == 128 + SIGKILL,
                    "the writer ended by itself (exit " << run.exit_code << "): see its stderr");
    ack_lines += run.acks.size();
    killed_in_open += run.opened ? 0 : 1;
    rounds_with_acks += run.acks.empty() ? 0 : 1;
    Findings merged;
    Merge(run, &acked, &merged);
    REQUIRE_MESSAGE(merged.problems.empty(), merged.Report());
    last = CheckLedger(path, acked, /*read_only=*/true);
    REQUIRE_MESSAGE(last.problems.empty(), last.Report());
  }
  // A last writable open recovers the ledger for good: still everything.
  const Findings recovered = CheckLedger(path, acked, /*read_only=*/false);
  CHECK_MESSAGE(recovered.problems.empty(), recovered.Report());
  CHECK(recovered.head == last.head);
  const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();
  MESSAGE(mode << ": " << kRoundsPerMode << " kills (" << killed_in_open << " during open), "
               << ack_lines << " acknowledgements, " << acked.size()
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

TEST_CASE("the checks catch acknowledged events lost to WAL syncs that persist nothing") {
  for (const std::string mode : {"pipelined", "inline"}) {
    CAPTURE(mode);
    testing::TempDir dir;
    const std::string path = dir.Sub("ledger");
    {  // an honest ledger first, so that only the lying writer's events can go missing
      es::LedgerOptions options;
      options.path = path;
      auto created = es::Ledger::Open(options);
      REQUIRE_MESSAGE(created.ok(), created.status().ToString());
    }
    const WriterRun run =
        RunWriter({path, mode, "0", "lying-wal"}, kLyingRunMax, kLyingAcksBeforeKill);
    REQUIRE(run.exit_code == 128 + SIGKILL);
    REQUIRE(run.acks.size() >= kLyingAcksBeforeKill);
    std::map<std::string, uint64_t> acked;
    Findings merged;
    Merge(run, &acked, &merged);
    const Findings f = CheckLedger(path, acked, /*read_only=*/true);
    MESSAGE(mode << ", lying WAL syncs: " << f.acks_lost << " of " << f.acks_checked
                 << " acknowledged events lost; " << f.Report());
    CHECK(f.acks_lost == f.acks_checked);  // nothing reached the WAL on disk
    CHECK(f.head == 0);
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
