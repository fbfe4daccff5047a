// ViewsDb: the RocksDB database that holds every view (`<data>/views/`), apart from the ledger.
//
// Layout (docs/views_format.md): one column family; each view's rows live under a generation, so
// a rebuild can fill a new generation (a shadow) while the live one serves, then swap with one
// write. Every fold batch writes its rows and the generation's checkpoint in one WriteBatch: any
// state a reader or a restart sees is the state after some whole number of events.
//
// Durability: the views are derived from the ledger, so folds write without the WAL; a crash
// loses the newest unflushed batches, never a part of one (memtables flush whole and in order),
// and the fold resumes from the checkpoint that survived. Close() flushes.
//
// Thread-safety: every method is thread-safe. ViewTxn and FoldBatch are not: one fold thread
// owns each. ViewReader is an immutable snapshot, usable from any thread, and keeps the
// database's snapshot alive while it exists (the ViewsDb must outlive it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "annals/base/status.h"

namespace rocksdb {
class DB;
class Snapshot;
}  // namespace rocksdb

namespace annals::projections {

// One view's rows as of one checkpoint, read from a database snapshot. Keys are the view's own
// (without the generation prefix).
class ViewReader {
 public:
  // The last ledger position folded into the rows this reader sees (0: none).
  uint64_t position() const { return position_; }
  uint32_t generation() const { return generation_; }

  Result<std::optional<std::string>> Get(std::string_view key) const;
  // Visits rows whose key starts with `prefix`, in key order, starting at `prefix + from`
  // (from = "": the first); stops when `visit` returns false.
  Status Scan(std::string_view prefix, std::string_view from,
              const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

 private:
  friend class ViewsDb;
  rocksdb::DB* db_ = nullptr;
  std::shared_ptr<const rocksdb::Snapshot> snapshot_;
  std::string row_prefix_;  // the generation's key prefix
  uint64_t position_ = 0;
  uint32_t generation_ = 0;
};

// The rows of one generation as a fold sees them: the committed rows plus the writes of the
// batch being built (read-your-own-writes within the batch).
//
// Writes are kept in memory until the batch commits: a row written by several events of one
// batch (a counter, an agent updated twice) reaches the database once, and the rows are written
// in key order.
class ViewTxn {
 public:
  Result<std::optional<std::string>> Get(std::string_view key);
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Visits rows (committed and pending) whose key starts with `prefix`, in key order.
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view key, std::string_view value)>& visit);

 private:
  friend class FoldBatch;
  friend class ViewsDb;
  std::string Key(std::string_view key) const;
  void Write(std::string_view key, std::optional<std::string_view> value);
  using PendingWrite = std::pair<const std::string, std::optional<std::string>>;
  // The pending writes whose full key starts with `prefix`, in key order.
  std::vector<const PendingWrite*> SortedWrites(std::string_view prefix) const;
  rocksdb::DB* db_ = nullptr;
  std::string row_prefix_;
  // The batch's writes by full key: the row, or nullopt for a deletion.
  std::unordered_map<std::string, std::optional<std::string>> pending_;
  // Bytes of the keys and rows in pending_: what the commit writes.
  size_t pending_bytes_ = 0;
};

// A batch of folded events for one generation of one view, committed with its checkpoint.
class FoldBatch {
 public:
  ~FoldBatch();
  ViewTxn& txn() { return txn_; }
  // Bytes of the rows (with their keys) the commit will write: each written row once.
  size_t data_bytes() const;
  // Writes the rows and the checkpoint `position` atomically. The batch is empty afterwards
  // (whether the write succeeded or not) and can be reused for the next events.
  Status Commit(uint64_t position);
  // Drops the pending writes (a fold that failed part-way).
  void Clear();

 private:
  friend class ViewsDb;
  FoldBatch() = default;
  ViewTxn txn_;
  std::string checkpoint_key_;
};

// What the database says about one view.
struct ViewMeta {
  bool exists = false;         // false: never built
  uint32_t version = 0;        // the projection version the live generation was built by
  uint32_t live_generation = 0;
};

struct ViewsDbOptions {
  std::string path;
  // Open for queries only, without the lock (a server may hold the database). Default: false.
  bool read_only = false;
  // Block cache for the view rows. Default: 64 MiB.
  size_t block_cache_bytes = 64 << 20;
};

class ViewsDb {
 public:
  static Result<std::unique_ptr<ViewsDb>> Open(const ViewsDbOptions& options);
  ~ViewsDb();  // flushes and closes (see Close)
  ViewsDb(const ViewsDb&) = delete;
  ViewsDb& operator=(const ViewsDb&) = delete;

  // Flushes the memtables (folds write without the WAL) and closes. Idempotent.
  Status Close();

  bool read_only() const { return read_only_; }

  Result<ViewMeta> Meta(std::string_view view) const;
  // The checkpoint of one generation: 0 when nothing is folded into it.
  Result<uint64_t> Checkpoint(std::string_view view, uint32_t generation) const;

  // A snapshot of one generation (the live one when `generation` is nullopt).
  Result<ViewReader> Reader(std::string_view view, std::optional<uint32_t> generation = {}) const;

  // A fresh batch for folding into `generation`.
  std::unique_ptr<FoldBatch> BeginBatch(std::string_view view, uint32_t generation) const;

  // Makes `generation` (built by projection `version`) the live one in one write, then drops
  // the rows of the previous live generation.
  Status Swap(std::string_view view, uint32_t version, uint32_t generation);
  // Deletes the rows and checkpoint of a generation that is not live (a shadow).
  Status DropGeneration(std::string_view view, uint32_t generation);

  // Direct row writes, for tests that corrupt a view on purpose (tests/views_check_test).
  Status PutRowForTesting(std::string_view view, std::string_view key, std::string_view value);

 private:
  ViewsDb() = default;
  std::unique_ptr<rocksdb::DB> db_;
  bool read_only_ = false;
  bool closed_ = false;
};

}  // namespace annals::projections
