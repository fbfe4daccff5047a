// power_loss_writer: the child process of power_loss_test. It appends events to a Ledger opened
// on the lossy file system (support/lossy_fs.h: what is not synced dies with the process, as on
// a power loss) from kThreads threads, and prints one line per acknowledged event,
// "<id> <position>", only once Append or AppendBatch answered kAppended or kDuplicate for it.
// It runs until killed; the test kills it with SIGKILL and checks that every printed event
// survived.
//
// Usage:
//   power_loss_writer LEDGER_DIR pipelined|inline ROUND [large|burst|lying-wal|lagging-wal]
//     ROUND (0, 1, ...) names the fresh ids, "r<ROUND>-t<thread>-<n>"; about one append in
//     sixteen retries an id of an earlier round, which answers kDuplicate when that id was
//     recorded. The threads append until the kill, except:
//       large: about one event in two is large (40 to 120 KiB), so that the ledger's 64 MiB
//         memtables fill within seconds: WAL switches, flushes and compactions then happen
//         while events are acknowledged;
//       burst: each thread stops after kIdleAfterAppends appends, and the writer prints
//         "# idle": a kill from then on finds the ledger at rest, its last group acknowledged;
//       lying-wal, lagging-wal: a burst whose WAL syncs answer before the bytes are durable
//         (LossyOptions::WalSync), to prove that the test can fail: lying-wal persists nothing
//         (a disk that lies about fsync), lagging-wal only what the previous sync was given (as
//         if the ledger acknowledged each group one sync early: the last group is lost).
//   power_loss_writer --probe DIR
//     Writes files in DIR through the lossy file system, some synced and some not, checks that
//     it reads them back as written, prints "ready" and waits to be killed (power_loss_test
//     then checks which bytes survived).
//
// Output lines starting with '#' are notes. Exit codes (only when not killed): 2 usage, 3 the
// ledger did not open, 4 an append was answered otherwise than kAppended/kDuplicate, 5 the probe
// read back something else than it wrote.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/testing/test_util.h"
#include "annals/testing/lossy_fs.h"

namespace annals {
namespace {

namespace es = eventstore;
using testing::LossyFileSystem;

constexpr int kThreads = 8;
constexpr int kStreams = 16;
// One append in kBatchOneIn is an atomic batch of 2 to kBatchEventsMax events.
constexpr uint64_t kBatchOneIn = 8;
constexpr uint64_t kBatchEventsMax = 6;
// One append in kRetryOneIn retries an id of an earlier round (with n < kRetryIdsMax).
constexpr uint64_t kRetryOneIn = 16;
constexpr uint64_t kRetryIdsMax = 400;
// Large events (kLargePadBytesMin to +kLargePadBytesSpan bytes of data): one id in kLargeOneIn,
// so that WAL records span several 32 KiB WAL blocks and a loss can cut one; and with "large",
// one fresh id in kLargeIdOneIn more, named "<id>-large".
constexpr uint64_t kLargeOneIn = 32;
constexpr uint64_t kLargeIdOneIn = 2;
constexpr std::string_view kLargeSuffix = "-large";
constexpr size_t kLargePadBytesMin = 40 << 10;
constexpr size_t kLargePadBytesSpan = 80 << 10;
constexpr size_t kSmallPadBytesMax = 200;
// In a burst: appends per thread before the writer goes idle.
constexpr uint64_t kIdleAfterAppends = 40;

void WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(1);  // the test has gone
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Lines to stdout, each written whole before anything after it.
class Printer {
 public:
  void Line(const std::string& line) {
    std::lock_guard lock(mu_);
    WriteAll(STDOUT_FILENO, line + "\n");
  }

 private:
  std::mutex mu_;
};

[[noreturn]] void Die(int code, const std::string& why) {
  WriteAll(STDERR_FILENO, "power_loss_writer: " + why + "\n");
  std::_Exit(code);
}

// The event of `id`: its content depends on the id only, so a retry is a true duplicate.
es::ProposedEvent EventOf(const std::string& id) {
  const uint64_t h = std::hash<std::string>{}(id);
  std::mt19937_64 content(h);
  const size_t pad_bytes = h % kLargeOneIn == 0 || id.ends_with(kLargeSuffix)
                               ? kLargePadBytesMin + content() % kLargePadBytesSpan
                               : content() % kSmallPadBytesMax;
  std::string pad(pad_bytes, 'a');
  for (char& c : pad) c = static_cast<char>('a' + content() % 26);
  return testing::Propose(testing::MakeEvent("power.loss.v1", "/power-loss", id,
                                             R"({"id":")" + id + R"(","pad":")" + pad + R"("})",
                                             "s" + std::to_string(h % kStreams)));
}

std::string FreshId(int round, int thread, uint64_t n) {
  return "r" + std::to_string(round) + "-t" + std::to_string(thread) + "-" + std::to_string(n);
}

// Makes `appends` appends (single events or batches).
void AppendMany(es::Ledger& ledger, int round, bool large, int thread, uint64_t appends,
                Printer& out) {
  std::mt19937_64 rng(std::random_device{}());
  uint64_t n = 0;
  auto next_id = [&] {
    if (round > 0 && rng() % kRetryOneIn == 0) {
      return FreshId(static_cast<int>(rng() % static_cast<uint64_t>(round)),
                     static_cast<int>(rng() % kThreads), rng() % kRetryIdsMax);
    }
    std::string id = FreshId(round, thread, n++);
    if (large && rng() % kLargeIdOneIn == 0) id += kLargeSuffix;
    return id;
  };
  for (uint64_t a = 0; a < appends; ++a) {
    std::vector<std::string> ids;
    const size_t count = rng() % kBatchOneIn == 0 ? 2 + rng() % (kBatchEventsMax - 1) : 1;
    for (size_t i = 0; i < count; ++i) ids.push_back(next_id());
    std::vector<es::ProposedEvent> events;
    for (const auto& id : ids) events.push_back(EventOf(id));
    std::vector<es::AppendOutcome> outcomes;
    if (count == 1) {
      outcomes.push_back(ledger.Append(std::move(events.front())));
    } else {
      outcomes = ledger.AppendBatch(std::move(events));
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      const es::AppendOutcome& o = outcomes[i];
      if (!es::IsRecorded(o.code)) {
        Die(4, "append of " + ids[i] + " answered " + std::string(es::AppendCodeName(o.code)) +
                   ": " + o.error.reason);
      }
      out.Line(ids[i] + " " + std::to_string(o.position));
    }
  }
}

// The command line of a writer.
struct WriterConfig {
  es::LedgerOptions ledger;  // path and sync mode
  int round = 0;
  bool large = false;
  uint64_t appends_per_thread = UINT64_MAX;  // until killed
  testing::LossyOptions lossy;
};

std::optional<WriterConfig> ParseWriterArgs(const std::vector<std::string>& args) {
  using WalSync = testing::LossyOptions::WalSync;
  if (args.size() < 3 || args.size() > 4) return std::nullopt;
  WriterConfig c;
  c.ledger.path = args[0];
  if (args[1] == "pipelined") {
    c.ledger.sync_mode = es::LedgerOptions::SyncMode::kPipelined;
  } else if (args[1] == "inline") {
    c.ledger.sync_mode = es::LedgerOptions::SyncMode::kInline;
  } else {
    return std::nullopt;
  }
  c.round = std::atoi(args[2].c_str());
  const std::string variant = args.size() == 4 ? args[3] : "";
  if (variant == "large") {
    c.large = true;
  } else if (variant == "burst" || variant == "lying-wal" || variant == "lagging-wal") {
    c.appends_per_thread = kIdleAfterAppends;
    if (variant == "lying-wal") c.lossy.wal_sync = WalSync::kNothing;
    if (variant == "lagging-wal") c.lossy.wal_sync = WalSync::kOneBehind;
  } else if (!variant.empty()) {
    return std::nullopt;
  }
  return c;
}

[[noreturn]] void RunWriter(WriterConfig config) {
  auto fs = std::make_shared<LossyFileSystem>(config.lossy);
  // Never freed: the process ends by SIGKILL, with the ledger's threads still using it.
  config.ledger.env = testing::NewLossyEnv(fs).release();
  auto opened = es::Ledger::Open(config.ledger);
  if (!opened.ok()) Die(3, "opening " + config.ledger.path + ": " + opened.status().ToString());
  es::Ledger* ledger = opened->release();
  Printer out;
  out.Line("# opened, head " + std::to_string(ledger->GetHead().position));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AppendMany(*ledger, config.round, config.large, t, config.appends_per_thread, out);
    });
  }
  for (auto& t : threads) t.join();
  out.Line("# idle");
  for (;;) pause();
}

// -- the probe of the file system itself

struct ProbeFile {
  std::string name;
  std::string written;  // what the process wrote and must read back
};

std::string Bytes(char c, size_t n) { return std::string(n, c); }

// Writes the probe files; `open` keeps the files a kill must find open.
void ProbeWrites(LossyFileSystem& fs, const std::string& dir, std::vector<ProbeFile>* files,
                 std::vector<std::unique_ptr<rocksdb::FSWritableFile>>* open) {
  const rocksdb::IOOptions io;
  const rocksdb::FileOptions fo;
  auto create = [&](const std::string& name) {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    rocksdb::IOStatus s = fs.NewWritableFile(dir + "/" + name, fo, &f, nullptr);
    if (!s.ok()) Die(5, "creating " + name + ": " + s.ToString());
    return f;
  };
  auto check = [](const rocksdb::IOStatus& s, std::string_view what) {
    if (!s.ok()) Die(5, std::string(what) + ": " + s.ToString());
  };
  {  // appended and flushed, never synced
    auto f = create("unsynced");
    check(f->Append(Bytes('a', 3000), io, nullptr), "append");
    check(f->Flush(io, nullptr), "flush");
    files->push_back({"unsynced", Bytes('a', 3000)});
    open->push_back(std::move(f));
  }
  {  // closed without a sync
    auto f = create("closed");
    check(f->Append(Bytes('b', 3000), io, nullptr), "append");
    check(f->Close(io, nullptr), "close");
    files->push_back({"closed", Bytes('b', 3000)});
  }
  {  // synced, left open
    auto f = create("synced");
    check(f->Append(Bytes('c', 3000), io, nullptr), "append");
    check(f->Sync(io, nullptr), "sync");
    files->push_back({"synced", Bytes('c', 3000)});
    open->push_back(std::move(f));
  }
  {  // fsynced, then closed
    auto f = create("fsynced-closed");
    check(f->Append(Bytes('d', 3000), io, nullptr), "append");
    check(f->Fsync(io, nullptr), "fsync");
    check(f->Close(io, nullptr), "close");
    files->push_back({"fsynced-closed", Bytes('d', 3000)});
  }
  {  // synced, then more appended
    auto f = create("partial");
    check(f->Append(Bytes('e', 3000), io, nullptr), "append");
    check(f->Sync(io, nullptr), "sync");
    check(f->Append(Bytes('f', 3000), io, nullptr), "append");
    files->push_back({"partial", Bytes('e', 3000) + Bytes('f', 3000)});
    open->push_back(std::move(f));
  }
  {  // range-synced only
    auto f = create("range-synced");
    check(f->Append(Bytes('g', 8192), io, nullptr), "append");
    check(f->RangeSync(0, 8192, io, nullptr), "range sync");
    files->push_back({"range-synced", Bytes('g', 8192)});
    open->push_back(std::move(f));
  }
  {  // closed unsynced, reopened, synced: the sync covers the whole file
    auto f = create("reopened");
    check(f->Append(Bytes('h', 1000), io, nullptr), "append");
    check(f->Close(io, nullptr), "close");
    std::unique_ptr<rocksdb::FSWritableFile> g;
    check(fs.ReopenWritableFile(dir + "/reopened", fo, &g, nullptr), "reopen");
    check(g->Append(Bytes('i', 1000), io, nullptr), "append");
    check(g->Sync(io, nullptr), "sync");
    files->push_back({"reopened", Bytes('h', 1000) + Bytes('i', 1000)});
    open->push_back(std::move(g));
  }
}

// Reads `fname` whole through the file system, sequentially and at random.
bool ReadsBack(LossyFileSystem& fs, const std::string& fname, const std::string& expected) {
  const rocksdb::IOOptions io;
  const rocksdb::FileOptions fo;
  uint64_t size = 0;
  if (!fs.GetFileSize(fname, io, &size, nullptr).ok() || size != expected.size()) return false;
  std::unique_ptr<rocksdb::FSSequentialFile> seq;
  if (!fs.NewSequentialFile(fname, fo, &seq, nullptr).ok()) return false;
  std::string got;
  std::vector<char> scratch(expected.size() + 1);
  for (;;) {
    rocksdb::Slice chunk;
    if (!seq->Read(1000, io, &chunk, scratch.data(), nullptr).ok()) return false;
    if (chunk.empty()) break;
    got.append(chunk.data(), chunk.size());
  }
  if (got != expected) return false;
  std::unique_ptr<rocksdb::FSRandomAccessFile> random;
  if (!fs.NewRandomAccessFile(fname, fo, &random, nullptr).ok()) return false;
  const uint64_t middle = expected.size() / 3;
  rocksdb::Slice part;
  if (!random->Read(middle, expected.size(), io, &part, scratch.data(), nullptr).ok()) {
    return false;
  }
  return part.ToStringView() == std::string_view(expected).substr(middle);
}

[[noreturn]] void RunProbe(const std::string& dir) {
  LossyFileSystem fs;
  std::vector<ProbeFile> files;
  std::vector<std::unique_ptr<rocksdb::FSWritableFile>> open;  // kept open until the kill
  ProbeWrites(fs, dir, &files, &open);
  for (const auto& f : files) {
    if (!ReadsBack(fs, dir + "/" + f.name, f.written)) Die(5, f.name + " reads back wrong");
  }
  Printer out;
  out.Line("# wrote and read back " + std::to_string(files.size()) + " files");
  out.Line("ready");
  for (;;) pause();
}

}  // namespace
}  // namespace annals

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "--probe") annals::RunProbe(args[1]);
  std::optional<annals::WriterConfig> config = annals::ParseWriterArgs(args);
  if (!config) {
    std::fprintf(stderr,
                 "usage: power_loss_writer LEDGER_DIR pipelined|inline ROUND "
                 "[large|burst|lying-wal|lagging-wal]\n"
                 "       power_loss_writer --probe DIR\n");
    return 2;
  }
  annals::RunWriter(std::move(*config));
}
