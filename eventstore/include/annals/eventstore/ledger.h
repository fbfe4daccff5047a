// The Ledger: annals' append-only, deduplicated, hash-chained event store on RocksDB.
//
// Writes go through one writer thread that drains a bounded queue in groups: for each event it
// checks the CloudEvent, the idempotency key (forever: a key seen once is known for the life of
// the ledger) and the expected revision against committed and in-group state, assigns the next
// gapless position and stream revision, chains the hash, and writes the whole group as one
// RocksDB WriteBatch. A group is acknowledged only after the fsync that covers it (group
// commit). In the default pipelined mode a second thread fsyncs the WAL (DB::SyncWAL) while the
// writer builds the next group; in inline mode each group is written with sync=true.
//
// Dedup cost: a key the in-memory key filter has never seen is new without a RocksDB lookup. A
// third thread builds that filter from the dedup index at open, and again twice as large when
// the ledger outgrows it; until a build covers the ledger, every key is looked up in RocksDB
// (docs/decisions.md, "The key filter").
//
// Indexes: the stream and type indexes are derived from the records. A fourth thread writes
// each group's entries once the group is written, without an fsync of its own; open derives
// from the records whatever a crash took from them. Reads through an index read it up to the
// indexed position and scan the durable records after it, so they see every durable event.
//
// Preparing: the stateless checks and encodings of an event (CloudEvent validation, canonical
// bytes, digests) run on the submitting thread before the event is queued; a batch of 16 events
// or more is prepared there and on a fifth thread (annals-prepare) at once, each taking the next
// event, and the first refusal in the batch's order is the answer either way (docs/decisions.md,
// "Large batches are prepared on two threads").
//
// Visibility: readers, Head() and WaitForHead() see only positions that are durable. A record
// written but not yet synced is invisible, so nothing downstream (views, replication) can act on
// an event a crash could still take back.
//
// Crash: after kill -9 at any instant, Open() gives every acknowledged event, no partial event
// (a WriteBatch is atomic in the WAL), no gap (WAL recovery stops at the first torn record:
// kPointInTimeRecovery), and a valid chain.
//
// Storage failure (disk full, I/O error): the failing group and everything after it answer
// kUnavailable; writes stay refused until RocksDB recovers (DB::Resume, retried at most every
// kRecoverIntervalMs on the next write); reads go on throughout.
//
// Thread-safety: every public method is thread-safe. Completions run on the ledger's sync thread
// (or writer thread in inline mode, or the submitting thread when it refuses at once): they must
// be short and must not call Append on this ledger.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/base/status.h"
#include "annals/eventstore/append.h"
#include "annals/eventstore/limits.h"
#include "annals/eventstore/record.h"

namespace rocksdb {
class Env;
}

namespace annals::eventstore {

struct LedgerOptions {
  // The ledger's directory (a RocksDB database). Created when missing.
  std::string path;
  // This registry's name: the origin of events recorded here. Stored at creation; opening with
  // another non-empty name fails. Default: empty, which means the stored name, or "local" for a
  // new ledger.
  std::string registry_name;
  enum class SyncMode : uint8_t {
    kPipelined,  // write groups with sync=false; a sync thread fsyncs the WAL behind them
    kInline,     // write each group with sync=true
  };
  // Default: kPipelined (docs/BENCHMARKS.md has the measurements behind the choice).
  SyncMode sync_mode = SyncMode::kPipelined;
  // Open for reads only, without taking the database lock (another process may be writing).
  // Reads see the state at open. Default: false.
  bool read_only = false;
  // RocksDB block cache shared by the column families. Default: 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // The RocksDB Env; tests pass a fault-injecting one. Default: nullptr, rocksdb::Env::Default().
  rocksdb::Env* env = nullptr;
  // The ledger's clock, ns since the Unix epoch. Default: nullptr, the system clock.
  std::function<int64_t()> clock_ns;
  // The smallest key filter (limits.h, kKeyFilterKeysMin); tests lower it to make the filter
  // grow after a few events. Default: kKeyFilterKeysMin.
  uint64_t key_filter_keys_min = kKeyFilterKeysMin;
  // The stream heads the writer keeps (limits.h, kStreamCacheEntriesMax); tests lower it to
  // make heads leave the cache while the index trails. Default: kStreamCacheEntriesMax.
  size_t stream_cache_entries_max = kStreamCacheEntriesMax;
};

// The durable head of the ledger.
struct Head {
  uint64_t position = 0;    // 0 when empty
  std::string hash;         // GenesisHash() when empty
  int64_t recorded_at_ns = 0;
};

struct ReadAllOptions {
  uint64_t from_position = 1;
  size_t limit = 1000;  // at most kReadPageEventsMax
  std::string type;     // only events of this type ("": all)
  std::string stream;   // only events of this stream ("": all)
};

struct ReadPage {
  std::vector<Record> records;
  // Where the next page starts: a position (ReadAll) or a revision (ReadStream).
  uint64_t next = 0;
  // True when the page reached the durable head.
  bool end = false;
};

struct VerifyReport {
  uint64_t records_checked = 0;
  bool intact = true;
  uint64_t first_bad_position = 0;  // when !intact
  std::string problem;              // when !intact
};

struct LedgerStats {
  std::string registry_name;
  uint64_t events = 0;
  Head head;
  uint64_t size_bytes = 0;  // files of the ledger directory
  int64_t created_at_ns = 0;
  bool healthy = true;
  std::string unhealthy_reason;
  // RocksDB's background work: flushes and compactions running or due, and its estimate of the
  // bytes compactions still have to rewrite (the debt a burst of appends leaves behind).
  uint64_t background_jobs = 0;
  uint64_t pending_compaction_bytes = 0;
  // The key filter (docs/decisions.md, "The key filter"): built from the ledger at open and
  // whenever the ledger outgrows it. The keys the filter in use is sized for (0: none is ready
  // yet, and every dedup check reads RocksDB), and the memory of the filters held (the one in
  // use and one being built). Both 0 when read-only.
  uint64_t key_filter_capacity = 0;
  uint64_t key_filter_bytes = 0;
  // The position through which the stream and type indexes hold every record (the indexer
  // trails the writer by about one group; reads scan the records after it).
  uint64_t indexed_position = 0;
};

class Ledger {
 public:
  static Result<std::unique_ptr<Ledger>> Open(LedgerOptions options);
  // Closes: see Close().
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Stops accepting appends (later ones answer kUnavailable), writes and acknowledges
  // everything already queued, then stops the threads. Reads still work until the Ledger is
  // destroyed, which closes the database. Idempotent.
  void Close();

  // Called exactly once with one outcome per event, in order, after the fsync that covers the
  // group (or at once when refused before any write).
  using Completion = std::function<void(std::vector<AppendOutcome>)>;

  // Queues an atomic batch (one event is a batch of one): either every event not already
  // recorded is written, or none is. Waits at most kEnqueueWaitMsMax for room in the queue.
  void Submit(std::vector<ProposedEvent> events, Completion done);

  // Blocking forms of Submit. When the ledger is idle (nothing queued, written or syncing), the
  // calling thread writes and syncs its own group instead of handing it to the writer thread:
  // the same work, without two thread wake-ups.
  AppendOutcome Append(ProposedEvent event);
  std::vector<AppendOutcome> AppendBatch(std::vector<ProposedEvent> events);

  // The durable head.
  Head GetHead() const;

  // Waits until the durable head passes `position` (or the ledger closes, or `timeout`), and
  // returns the durable head position. Wakes on commit; no polling.
  uint64_t WaitForHead(uint64_t position, std::chrono::milliseconds timeout) const;

  // Reads. Only durable records are returned; each is decoded and checked (layout, position)
  // after reading; Corruption names the position.
  Result<Record> ReadAt(uint64_t position) const;
  Result<ReadPage> ReadAll(const ReadAllOptions& options) const;
  Result<ReadPage> ReadStream(std::string_view stream, uint64_t from_revision, size_t limit) const;

  // Visits the stored bytes of positions [from, durable head] in order, without decoding; stops
  // when `visit` returns false. For replays that decode lazily.
  Status Scan(uint64_t from_position,
              const std::function<bool(uint64_t position, std::string_view stored)>& visit) const;

  // Recomputes every record's hash and content digest, and checks the chain, gaplessness,
  // clock order and both indexes. `progress` (may be empty) is called now and then with the
  // number of records checked and the head position.
  Result<VerifyReport> Verify(const std::function<void(uint64_t done, uint64_t total)>& progress) const;

  Result<LedgerStats> Stats() const;

  // Checkpoints of the ledger's readers that live with it (reactors, the replication
  // publisher): a name (1 to kCheckpointNameBytesMax bytes) and the last position handled.
  // Written through the WAL without an fsync of their own: they become durable with the next
  // append group's fsync, so after a machine crash a checkpoint may go back (never forward past
  // what was handled). Every reader that keeps one must tolerate handling a position twice
  // (reactors emit under keys derived from the cause; the publisher resumes from its stream).
  // Not part of the chain; `verify` ignores them. SaveCheckpoint refuses writes while storage
  // is failing (Unavailable), like appends.
  Status SaveCheckpoint(std::string_view name, uint64_t position);
  // 0 when `name` has no checkpoint yet.
  Result<uint64_t> LoadCheckpoint(std::string_view name) const;

  bool healthy() const;
  const std::string& registry_name() const;

 private:
  class Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::eventstore
