// The Ledger (ledger.h): opening, the group-commit writer, the sync thread, reads and verify.
#include "annals/eventstore/ledger.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <semaphore>
#include <thread>
#include <unordered_map>

#include "annals/base/assert.h"
#include "annals/base/coding.h"
#include "annals/base/work_sharing.h"
#include "annals/eventstore/limits.h"
#include "annals/eventstore/rocks_status.h"
#include "internal/key_filter.h"
#include "internal/keys.h"
#include "internal/memtables.h"
#include "internal/names.h"

namespace annals::eventstore {

namespace {

using internal::IdemValue;
using internal::RecordKey;
using internal::StreamKey;

// How often a refused write may try to bring failed storage back (DB::Resume).
constexpr auto kRecoverIntervalMs = std::chrono::milliseconds(100);
// How long a read through an index waits for the indexer to reach the durable head before it
// scans the records the index lacks (the indexer trails by about one group).
constexpr auto kIndexWaitMs = std::chrono::milliseconds(50);
// Records indexed per WriteBatch when the index is derived from the records (open, recovery).
constexpr size_t kIndexRebuildBatchEvents = 4096;
// The indexer writes what is queued at least this often, and at once when this many events are
// queued or a reader waits for it: one index write covers many groups (a write of its own per
// group, and a thread wake-up, cost single appends more than the index entries themselves). It
// writes at most about this many events' entries at a time, holding wal_mu_ briefly.
constexpr auto kIndexIntervalMs = std::chrono::milliseconds(10);
constexpr size_t kIndexEagerEvents = 256;
// A batch of at least this many events is prepared (validated, encoded, hashed) on the caller's
// thread and a helper thread at once; smaller ones on the caller alone, where waking the helper
// would cost more than it saves.
constexpr size_t kSharedPrepareEventsMin = 16;
// How many events ahead of the one being staged the writer prefetches key filter lines.
constexpr size_t kKeyFilterPrefetchAhead = 8;
// Hash buckets of each dedup index memtable (8 MiB of its 64 MiB): more than the ~600,000 keys
// one holds, so a bucket's list is about one entry long.
constexpr size_t kIdemMemtableBuckets = size_t{1} << 20;
// Hash buckets of each stream and type index memtable: one per name it holds, about.
constexpr size_t kIndexMemtableBuckets = size_t{1} << 16;
// Bytes a Record adds around its CloudEvent, at most: stream, key, origin, two hashes, digest,
// and the integer fields with their tags.
constexpr size_t kRecordOverheadBytesMax = 4096;
static_assert(kRecordOverheadBytesMax >
              kStreamBytesMax + kIdempotencyKeyBytesMax + kOriginBytesMax + 3 * kSha256Size + 64);

int64_t SystemClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A position missing below the head.
Status GapAt(uint64_t position) {
  return Status::Corruption("gap in the ledger: position " + std::to_string(position) +
                            " is missing");
}

AppendOutcome Refusal(AppendCode code, std::string attribute, std::string reason) {
  AppendOutcome o;
  o.code = code;
  o.error = {std::move(attribute), std::move(reason)};
  return o;
}

// The stateless half of an append, done on the caller's thread before the event is queued, so
// that the single writer thread does only what needs the ledger's state.
struct PreparedEvent {
  std::string event_bytes;  // CanonicalBytes(event)
  std::string digest;       // SHA-256(event_bytes)
  std::string type;
  std::string stream;  // derived: the given stream, else the subject, else ""
  std::string key;     // derived: the given key, else "<source> <id>"
  std::string origin;  // "" : the ledger's registry
  ExpectedRevision expected;
  // The index keys' hashes (docs/ledger_format.md), computed here rather than on the writer.
  std::string idem_key;     // IdemKey(key)
  std::string stream_hash;  // NameHash(stream), "" without a stream
  std::string type_hash;    // NameHash(type)
};

// One Submit call travelling through the writer and the sync thread.
struct Request {
  std::vector<PreparedEvent> events;
  Ledger::Completion done;
  std::vector<AppendOutcome> outcomes;
  // The written position this request's answer depends on: it may be completed only once the
  // durable head reaches it.
  uint64_t covers_position = 0;
};

// A key seen in the group being built (not yet in RocksDB).
struct StagedKey {
  uint64_t position;
  std::string digest;
  std::string stream;
  uint64_t revision;
  std::string hash;
  std::string idem_key;  // staged by this group: the dedup index key ("" when read back)
};

// What the writer knows of a stream: its next revision, and the position of its last event
// (0 when read from the stream index, which holds it).
struct StreamHead {
  uint64_t next_revision = 0;
  uint64_t last_position = 0;
};

// The stream and type index entries of one record (fixed-size: no allocation per event).
struct IndexEntry {
  IndexEntry(std::string_view type_hash, std::string_view stream_hash, uint64_t revision,
             uint64_t position)
      : has_stream(!stream_hash.empty()), revision(revision), position(position) {
    ANNALS_ASSERT(type_hash.size() == internal::kNameHashSize);
    std::memcpy(this->type_hash, type_hash.data(), internal::kNameHashSize);
    if (has_stream) {
      ANNALS_ASSERT(stream_hash.size() == internal::kNameHashSize);
      std::memcpy(this->stream_hash, stream_hash.data(), internal::kNameHashSize);
    }
  }
  char type_hash[internal::kNameHashSize];    // NameHash(type)
  char stream_hash[internal::kNameHashSize];  // NameHash(stream), when has_stream
  bool has_stream;
  uint64_t revision;
  uint64_t position;
};

// The index entries of the records [first, last], handed from the writer to the indexer thread
// once those records are written.
struct IndexWork {
  uint64_t first = 0;
  uint64_t last = 0;
  std::vector<IndexEntry> entries;
};

// Writer state a request changes; copied per request so that a refused batch leaves no trace.
struct Tip {
  uint64_t next_position = 1;
  std::string head_hash;
  int64_t last_recorded_at_ns = 0;
};

// A group handed from the writer to the sync thread, with the tip it wrote up to.
struct WrittenGroup {
  std::vector<Request*> requests;
  uint64_t written_position;
  std::string head_hash;
  int64_t recorded_at_ns;
};

// One request's staged writes and state, merged into the group only when the whole request
// passes.
struct Staging {
  Tip tip;
  std::unordered_map<std::string, StagedKey> keys;
  std::unordered_map<std::string, StreamHead> stream_next;        // streams this request extends
  std::vector<std::pair<std::string, std::string>> records;       // record key -> stored bytes
  std::vector<IndexEntry> index_entries;
  size_t bytes = 0;
};

// `outcomes` ends with the refusal of one event of a batch of `size`: every other event is
// answered kBatchAborted (the batch is written whole or not at all).
void AbortBatch(std::vector<AppendOutcome>* outcomes, size_t size) {
  const size_t failed = outcomes->size() - 1;
  outcomes->resize(size);
  for (size_t i = 0; i < size; ++i) {
    if (i == failed) continue;
    (*outcomes)[i] = Refusal(AppendCode::kBatchAborted, "batch",
                             "not written: event " + std::to_string(failed) +
                                 " of the batch was refused");
  }
}

// NameHash(type): an event type's hash is kept (per thread, at most kTypeHashesMax of them),
// since a ledger sees few types and a SHA-256 costs about what the rest of Prepare's derivations
// do together.
constexpr size_t kTypeHashesMax = 4096;
const std::string& TypeHash(const std::string& type) {
  thread_local std::unordered_map<std::string, std::string> hashes;
  if (auto it = hashes.find(type); it != hashes.end()) return it->second;
  if (hashes.size() >= kTypeHashesMax) hashes.clear();
  return hashes.emplace(type, internal::NameHash(type)).first->second;
}

// Validates one event and derives its stream and key; returns the refusal, or nullopt.
std::optional<AppendOutcome> Prepare(ProposedEvent& proposed, PreparedEvent* out) {
  const CloudEvent& event = proposed.event;
  if (auto invalid = ValidateCloudEvent(event)) {
    return Refusal(AppendCode::kInvalidEvent, invalid->attribute, invalid->reason);
  }
  if (event.ByteSizeLong() > kEventBytesMax - kRecordOverheadBytesMax) {
    return Refusal(AppendCode::kTooLarge, "event",
                   "the event is over " +
                       std::to_string(kEventBytesMax - kRecordOverheadBytesMax) + " bytes");
  }
  out->stream = std::move(proposed.stream);
  if (out->stream.empty()) {
    auto it = event.attributes().find("subject");
    if (it != event.attributes().end()) out->stream = it->second.ce_string();
  }
  if (!out->stream.empty() &&
      (!IsValidName(out->stream, kStreamBytesMax) || out->stream[0] == '$')) {
    return Refusal(AppendCode::kInvalidEvent, "stream",
                   "a stream name is 1 to " + std::to_string(kStreamBytesMax) +
                       " bytes of UTF-8 without control characters, not starting with '$'");
  }
  out->key = std::move(proposed.idempotency_key);
  if (out->key.empty()) out->key = event.source() + " " + event.id();
  if (!IsValidName(out->key, kIdempotencyKeyBytesMax)) {
    return Refusal(AppendCode::kInvalidEvent, "idempotency_key",
                   "an idempotency key is 1 to " + std::to_string(kIdempotencyKeyBytesMax) +
                       " bytes of UTF-8 without control characters");
  }
  out->origin = std::move(proposed.origin);
  if (!out->origin.empty() && !IsValidName(out->origin, kOriginBytesMax)) {
    return Refusal(AppendCode::kInvalidEvent, "origin",
                   "an origin is a registry name of 1 to " + std::to_string(kOriginBytesMax) +
                       " bytes without control characters");
  }
  out->event_bytes = CanonicalBytes(event);
  out->digest = Sha256(out->event_bytes);
  out->type = event.type();
  out->expected = proposed.expected;
  out->idem_key = internal::IdemKey(out->key);
  if (!out->stream.empty()) out->stream_hash = internal::NameHash(out->stream);
  out->type_hash = TypeHash(out->type);
  return std::nullopt;
}

// Prepares every event of a batch; on a refusal, fills `outcomes` (AbortBatch) and returns false.
// A batch of kSharedPrepareEventsMin or more is prepared on the caller and `sharing`'s helper
// at once; the first refusal in the batch's order is the one answered either way.
bool PrepareBatch(std::vector<ProposedEvent>& events, std::vector<PreparedEvent>* prepared,
                  std::vector<AppendOutcome>* outcomes, WorkSharing* sharing) {
  const size_t n = events.size();
  prepared->resize(n);
  std::vector<std::optional<AppendOutcome>> refusals;
  const bool shared = sharing != nullptr && n >= kSharedPrepareEventsMin;
  if (shared) {
    refusals.resize(n);
    sharing->Run(n, [&](size_t i) { refusals[i] = Prepare(events[i], &(*prepared)[i]); });
  }
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    std::optional<AppendOutcome> refusal =
        shared ? std::move(refusals[i]) : Prepare(events[i], &(*prepared)[i]);
    bytes += (*prepared)[i].event_bytes.size();
    if (!refusal && bytes > kBatchBytesMax) {
      refusal = Refusal(AppendCode::kTooLarge, "batch",
                        "the batch is over " + std::to_string(kBatchBytesMax) + " bytes");
    }
    if (refusal) {
      outcomes->assign(i, AppendOutcome{});
      outcomes->push_back(std::move(*refusal));
      AbortBatch(outcomes, n);
      return false;
    }
  }
  return true;
}

}  // namespace

class Ledger::Impl {
 public:
  explicit Impl(LedgerOptions options) : options_(std::move(options)) {}
  // Closes (stopping the threads), then closes the database.
  ~Impl() {
    Close();
    CloseDb();
  }

  Status Open();
  void Close();
  void CloseDb();
  // `may_write_here`: the caller blocks until the completion anyway (Append, AppendBatch), so
  // when nothing is queued and the writer is idle it writes its own group on its own thread.
  void Submit(std::vector<ProposedEvent> events, Completion done, bool may_write_here = false);
  Head GetHead() const;
  uint64_t WaitForHead(uint64_t position, std::chrono::milliseconds timeout) const;
  Result<Record> ReadAt(uint64_t position) const;
  Result<ReadPage> ReadAll(const ReadAllOptions& options) const;
  Result<ReadPage> ReadStream(std::string_view stream, uint64_t from_revision, size_t limit) const;
  Status Scan(uint64_t from, const std::function<bool(uint64_t, std::string_view)>& visit) const;
  Result<VerifyReport> Verify(const std::function<void(uint64_t, uint64_t)>& progress) const;
  Result<LedgerStats> Stats() const;
  Status SaveCheckpoint(std::string_view name, uint64_t position);
  Result<uint64_t> LoadCheckpoint(std::string_view name) const;
  bool healthy() const { return healthy_.load(std::memory_order_acquire); }
  const std::string& registry_name() const { return registry_name_; }

 private:
  // -- opening
  Status OpenDb();
  Status LoadOrInitMeta();
  Status LoadTip(Tip* tip);

  // -- the writer thread
  void WriterLoop();
  bool TakeGroup(std::vector<Request*>* group);
  void ReleaseWriter();
  void ProcessGroup(std::vector<Request*>& group);
  void StageRequest(Request* request, rocksdb::WriteBatch* batch);
  AppendOutcome StageEvent(PreparedEvent& event, Staging* staging);
  AppendOutcome AnswerKnownKey(const std::string& key, const std::string& digest,
                               const StagedKey& original);
  std::optional<AppendOutcome> CheckExpected(const ExpectedRevision& expected,
                                             const std::string& stream, uint64_t next_revision);
  Result<std::optional<StagedKey>> LookupKey(const PreparedEvent& event,
                                             const std::unordered_map<std::string, StagedKey>& local);
  Result<uint64_t> StreamNextRevision(const PreparedEvent& event,
                                      const std::unordered_map<std::string, StreamHead>& local);
  Status MakeRoomInStreamCache();
  bool TryRecover();
  void MarkUnhealthy(const Status& s);

  // -- the key filter (writer-only state, but for the builder thread and the byte count)
  void MaintainKeyFilter();
  void StartKeyFilterBuild(uint64_t capacity);
  void BuildKeyFilter(internal::KeyFilter* filter, uint64_t keys_written);
  void AddToKeyFilters(std::string_view idem_key);
  void PrefetchFromKeyFilters(std::string_view idem_key) const;
  void StopKeyFilterBuilder();

  // -- the indexer thread (the streams and types families, written behind the records)
  Status LoadIndexedThrough();
  void QueueIndexWork(IndexWork work);
  void IndexerLoop();
  Status IndexLocked(std::deque<IndexWork>& work);
  void PutIndexEntry(const IndexEntry& entry, rocksdb::WriteBatch* batch);
  Status IndexFromRecordsLocked(uint64_t to);
  Status WriteIndexBatch(rocksdb::WriteBatch* batch, uint64_t indexed_through);
  void PublishIndexed(uint64_t position);
  uint64_t WaitIndexed(uint64_t position, std::chrono::milliseconds timeout) const;
  void StopIndexer();

  // -- the sync thread
  void SyncLoop();
  void SyncAndFinish(std::vector<WrittenGroup>& groups);
  bool QueueEmpty();
  void Finish(std::vector<Request*>& group, uint64_t durable);
  void PublishDurable(uint64_t position, const std::string& hash, int64_t recorded_at_ns);

  // -- reads
  Result<Record> DecodeAt(uint64_t position, std::string_view stored) const;
  std::string CheckIndexes(const Record& record) const;
  Result<ReadPage> ReadIndexed(rocksdb::ColumnFamilyHandle* cf, std::string_view name,
                               uint64_t from, size_t limit, std::string_view type_filter,
                               bool by_revision) const;

  LedgerOptions options_;
  std::string registry_name_;
  int64_t created_at_ns_ = 0;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* records_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* idem_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* streams_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* types_cf_ = nullptr;

  // Queue: producers -> writer.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // the writer waits for work
  std::condition_variable room_cv_;   // producers wait for room
  std::deque<Request*> queue_;
  bool closing_ = false;  // guarded by queue_mu_
  // A thread holds the writer's role: the writer thread with a group, or a blocking caller
  // writing its own request (Submit's may_write_here). The writer-only state below belongs to
  // whoever holds it.
  bool writer_busy_ = false;  // guarded by queue_mu_

  // Writer-only state (the holder of writer_busy_).
  Tip tip_;
  uint64_t written_position_ = 0;
  // Stream heads. A miss reads the stream index, so a head leaves only once the index holds
  // its stream's last event (last_position <= indexed_position_): every stream with an event
  // the index lacks is here.
  std::unordered_map<std::string, StreamHead> stream_cache_;
  std::vector<IndexEntry> index_entries_;  // the open group's, for the indexer thread
  std::unordered_map<std::string, StagedKey> group_keys_;   // keys staged by the open group
  Sha256Hasher hasher_;
  std::chrono::steady_clock::time_point last_recover_attempt_{};
  // The key filter the writer trusts for "certainly new" (null until the first build is done),
  // and the one being built, which the writer adds to as well; it is trusted once the builder
  // thread has added every key of the idem family (key_filter_next_ready_).
  std::unique_ptr<internal::KeyFilter> key_filter_;
  std::unique_ptr<internal::KeyFilter> key_filter_next_;
  std::atomic<bool> key_filter_next_ready_{false};
  std::atomic<bool> key_filter_stop_{false};
  std::atomic<uint64_t> key_filter_bytes_{0};
  std::atomic<uint64_t> key_filter_capacity_{0};  // key_filter_'s, for Stats
  std::thread key_filter_builder_;

  // Writer -> indexer thread. The streams and types families hold every record up to
  // indexed_position_; index_mu_ is held by whoever writes them (the indexer thread, or the
  // writer's role at open and in recovery, deriving entries from the records).
  // The indexer writes every kIndexIntervalMs, or at once when kIndexEagerEvents are queued or
  // a reader waits (index_wanted_).
  mutable std::mutex index_queue_mu_;
  mutable std::condition_variable index_queue_cv_;
  std::deque<IndexWork> index_queue_;  // guarded by index_queue_mu_
  size_t index_queued_events_ = 0;     // guarded by index_queue_mu_
  mutable bool index_wanted_ = false;  // guarded by index_queue_mu_
  bool index_stop_ = false;            // guarded by index_queue_mu_
  std::mutex index_mu_;
  std::atomic<uint64_t> indexed_position_{0};
  mutable std::mutex indexed_mu_;  // for waiters on indexed_position_
  mutable std::condition_variable indexed_cv_;
  std::thread indexer_;

  // Writer -> sync thread.
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::vector<WrittenGroup> sync_queue_;
  bool sync_stop_ = false;
  bool sync_busy_ = false;  // a sync is under way (sync thread or writer)
  // Groups written and not yet answered: while any is, appends are under way and a blocking
  // caller queues rather than writes on its own thread (the writer groups better).
  std::atomic<uint64_t> groups_unanswered_{0};
  // Held around every DB::Write and DB::SyncWAL. RocksDB (as built by Debian, with assertions)
  // aborts when SyncWAL reaches a WAL file whose append has just failed; a failed write and a
  // sync must never overlap, and no sync may follow a failed write until recovery.
  std::mutex wal_mu_;
  // A Write or SyncWAL failed and TryRecover has not succeeded since. Set under wal_mu_ by the
  // failing call itself: the health flag is set only after the lock is released, too late for
  // the other thread, which may take the lock in between.
  bool wal_failed_ = false;  // guarded by wal_mu_

  // Health, shared by the threads.
  std::atomic<bool> healthy_{true};
  mutable std::mutex health_mu_;
  std::string unhealthy_reason_;

  // The durable head, published by the sync thread (or writer in inline mode).
  std::atomic<uint64_t> durable_position_{0};
  mutable std::mutex head_mu_;
  mutable std::condition_variable head_cv_;
  Head durable_head_;  // guarded by head_mu_
  bool closed_ = false;  // guarded by head_mu_

  std::thread writer_;
  std::thread syncer_;
  // The helper that prepares large batches beside their callers (null when read-only).
  std::unique_ptr<WorkSharing> prepare_sharing_;
  std::once_flag close_once_;
};

// ---------------------------------------------------------------- opening

Status Ledger::Impl::OpenDb() {
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // A torn tail of the WAL (a crash mid-write) is dropped; everything before it is kept. Only
  // unacknowledged groups can be in that tail.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.bytes_per_sync = 1 << 20;
  if (options_.env != nullptr) db_options.env = options_.env;

  // One writer thread inserts: the hash-based memtable of the dedup index needs this off.
  db_options.allow_concurrent_memtable_write = false;

  auto cache = rocksdb::NewLRUCache(options_.block_cache_bytes);
  auto table = [&](bool bloom, size_t block_bytes = 4096) {
    rocksdb::BlockBasedTableOptions t;
    t.block_cache = cache;
    t.block_size = block_bytes;
    // Point lookups (dedup, stream heads) that miss should not touch a data block.
    if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    return std::shared_ptr<rocksdb::TableFactory>(rocksdb::NewBlockBasedTableFactory(t));
  };
  rocksdb::ColumnFamilyOptions plain;
  plain.write_buffer_size = 64 << 20;
  plain.table_factory = table(false);
  // The dedup index is only ever read by whole key: a hash-bucketed memtable (a short list per
  // bucket) makes each insert and lookup O(1) instead of a skiplist search over random SHA-256
  // keys (measured: 1.3 us against 5.2 us per lookup + insert at 256k keys), and ours sorts its
  // entries once for the flush (internal/memtables.h, HashSortRep).
  rocksdb::ColumnFamilyOptions idem = plain;
  idem.table_factory = table(true);
  idem.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kFixed64Size));
  idem.memtable_factory = std::make_shared<internal::HashSortRepFactory>(kIdemMemtableBuckets);
  // Stream and type index keys are NameHash || be64(n), read by name: within one name they
  // arrive in order, so the memtable keeps a run per name and each insert is an append to it
  // (internal/memtables.h, PrefixRunRep). Reads are by prefix (a name) with the prefix's bloom
  // filter in each SST file.
  rocksdb::ColumnFamilyOptions index = plain;
  index.table_factory = table(true);
  index.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(internal::kNameHashSize));
  index.memtable_factory = std::make_shared<internal::PrefixRunRepFactory>(kIndexMemtableBuckets);
  // Records are read mostly in order (replay, audit pages, export): 16 KiB blocks with LZ4
  // read about twice as fast as 4 KiB ones with Snappy (docs/BENCHMARKS.md, read-all).
  rocksdb::ColumnFamilyOptions records = plain;
  records.compression = rocksdb::kLZ4Compression;
  records.table_factory = table(false, 16 << 10);
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, plain},
      {internal::kRecordsFamily, records},
      {internal::kIdemFamily, idem},
      {internal::kStreamsFamily, index},
      {internal::kTypesFamily, index},
  };
  rocksdb::Status s;
  if (options_.read_only) {
    db_options.create_if_missing = false;
    s = rocksdb::DB::OpenForReadOnly(db_options, options_.path, families, &handles_, &db_);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options_.path, ec);
    if (ec) return Status::IOError("creating " + options_.path + ": " + ec.message());
    s = rocksdb::DB::Open(db_options, options_.path, families, &handles_, &db_);
  }
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status::Unavailable("the ledger at " + options_.path +
                                 " is in use by another process: " + s.ToString());
    }
    return FromRocks(s, "opening the ledger at " + options_.path);
  }
  meta_cf_ = handles_[0];
  records_cf_ = handles_[1];
  idem_cf_ = handles_[2];
  streams_cf_ = handles_[3];
  types_cf_ = handles_[4];
  return Status::Ok();
}

Status Ledger::Impl::LoadOrInitMeta() {
  std::string format;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, internal::kMetaFormat, &format);
  if (s.IsNotFound()) {
    if (options_.read_only) return Status::FailedPrecondition("not a ledger: " + options_.path);
    registry_name_ = options_.registry_name.empty() ? "local" : options_.registry_name;
    if (!IsValidName(registry_name_, kOriginBytesMax)) {
      return Status::InvalidArgument("invalid registry name '" + registry_name_ + "'");
    }
    created_at_ns_ = options_.clock_ns ? options_.clock_ns() : SystemClockNs();
    rocksdb::WriteBatch batch;
    batch.Put(meta_cf_, internal::kMetaFormat, internal::kFormatVersion);
    batch.Put(meta_cf_, internal::kMetaRegistry, registry_name_);
    batch.Put(meta_cf_, internal::kMetaCreatedAt, std::to_string(created_at_ns_));
    batch.Put(meta_cf_, internal::kMetaIndexedThrough, "0");
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return FromRocks(db_->Write(wo, &batch), "initializing the ledger");
  }
  ANNALS_RETURN_IF_ERROR(FromRocks(s, "reading the ledger format"));
  if (format != internal::kFormatVersion) {
    return Status::FailedPrecondition("ledger format '" + format + "' is not supported (want " +
                                      internal::kFormatVersion + ")");
  }
  std::string created;
  ANNALS_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), meta_cf_, internal::kMetaRegistry, &registry_name_),
      "reading the registry name"));
  ANNALS_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), meta_cf_, internal::kMetaCreatedAt, &created),
      "reading the creation time"));
  created_at_ns_ = std::strtoll(created.c_str(), nullptr, 10);
  if (!options_.registry_name.empty() && options_.registry_name != registry_name_) {
    return Status::FailedPrecondition("the ledger at " + options_.path + " belongs to registry '" +
                                      registry_name_ + "', not '" + options_.registry_name + "'");
  }
  return Status::Ok();
}

// Reads the last record (checking it) into `tip`.
Status Ledger::Impl::LoadTip(Tip* tip) {
  tip->next_position = 1;
  tip->head_hash = GenesisHash();
  tip->last_recorded_at_ns = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), records_cf_));
  it->SeekToLast();
  ANNALS_RETURN_IF_ERROR(FromRocks(it->status(), "reading the ledger head"));
  if (!it->Valid()) return Status::Ok();
  if (it->key().size() != kFixed64Size) return Status::Corruption("bad record key at the head");
  const uint64_t position = DecodeBigEndian64(it->key().ToStringView());
  ANNALS_ASSIGN_OR_RETURN(Record head, DecodeAt(position, it->value().ToStringView()));
  Sha256Hasher hasher;
  ANNALS_RETURN_IF_ERROR(CheckRecordHash(it->value().ToStringView(), head, &hasher)
                             .WithContext("head record at position " + std::to_string(position)));
  tip->next_position = position + 1;
  tip->head_hash = head.hash();
  tip->last_recorded_at_ns = head.recorded_at_ns();
  return Status::Ok();
}

Status Ledger::Impl::Open() {
  if (options_.path.empty()) return Status::InvalidArgument("the ledger path is empty");
  ANNALS_RETURN_IF_ERROR(OpenDb());
  ANNALS_RETURN_IF_ERROR(LoadOrInitMeta());
  ANNALS_RETURN_IF_ERROR(LoadTip(&tip_));
  if (!options_.read_only) {
    // What recovery replayed from the WAL may so far be only in the OS's cache: make it durable
    // before anyone can read it.
    ANNALS_RETURN_IF_ERROR(FromRocks(db_->SyncWAL(), "syncing the recovered WAL"));
  }
  written_position_ = tip_.next_position - 1;
  PublishDurable(written_position_, tip_.head_hash, tip_.last_recorded_at_ns);
  ANNALS_RETURN_IF_ERROR(LoadIndexedThrough());
  if (!options_.read_only) {
    {
      // What a crash took from the index (written behind the records, without an fsync of its
      // own) is derived again from the records, before any append can look a stream up.
      std::lock_guard index_lock(index_mu_);
      ANNALS_RETURN_IF_ERROR(IndexFromRecordsLocked(written_position_));
    }
    prepare_sharing_ = std::make_unique<WorkSharing>("annals-prepare");
    // Threads are named here rather than by themselves, so that the names are there when Open
    // returns.
    indexer_ = std::thread([this] { IndexerLoop(); });
    pthread_setname_np(indexer_.native_handle(), "annals-indexer");
    StartKeyFilterBuild(std::max(options_.key_filter_keys_min, 2 * written_position_));
    writer_ = std::thread([this] { WriterLoop(); });
    pthread_setname_np(writer_.native_handle(), "annals-writer");
    if (options_.sync_mode == LedgerOptions::SyncMode::kPipelined) {
      syncer_ = std::thread([this] { SyncLoop(); });
      pthread_setname_np(syncer_.native_handle(), "annals-sync");
    }
  }
  return Status::Ok();
}

void Ledger::Impl::Close() {
  std::call_once(close_once_, [this] {
    {
      std::lock_guard lock(queue_mu_);
      closing_ = true;
    }
    queue_cv_.notify_all();
    room_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    StopIndexer();
    StopKeyFilterBuilder();
    {
      std::lock_guard lock(sync_mu_);
      sync_stop_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();
    {
      std::lock_guard lock(head_mu_);
      closed_ = true;
    }
    head_cv_.notify_all();
  });
}

void Ledger::Impl::CloseDb() {
  if (db_ == nullptr) return;
  for (auto* h : handles_) {
    // Destroying a handle fails only for a handle of another DB: a programmer error.
    ANNALS_ASSERT(db_->DestroyColumnFamilyHandle(h).ok());
  }
  handles_.clear();
  delete db_;
  db_ = nullptr;
}

// ---------------------------------------------------------------- submitting

void Ledger::Impl::Submit(std::vector<ProposedEvent> events, Completion done,
                          bool may_write_here) {
  const size_t count = events.size();
  auto refuse_all = [&](AppendCode code, std::string attribute, std::string reason) {
    std::vector<AppendOutcome> out(count, Refusal(code, attribute, reason));
    done(std::move(out));
  };
  if (count == 0) return done({});
  if (count > kBatchEventsMax) {
    return refuse_all(AppendCode::kTooLarge, "batch",
                      "a batch holds at most " + std::to_string(kBatchEventsMax) + " events");
  }
  if (options_.read_only) {
    return refuse_all(AppendCode::kUnavailable, "ledger", "the ledger is open read-only");
  }
  auto* request = new Request{{}, std::move(done), {}, 0};
  if (!PrepareBatch(events, &request->events, &request->outcomes, prepare_sharing_.get())) {
    Completion d = std::move(request->done);
    std::vector<AppendOutcome> outcomes = std::move(request->outcomes);
    delete request;
    return d(std::move(outcomes));
  }
  std::unique_lock lock(queue_mu_);
  if (may_write_here && !closing_ && queue_.empty() && !writer_busy_ &&
      groups_unanswered_.load(std::memory_order_relaxed) == 0) {
    // The ledger is idle: nothing queued, written or syncing. Write this request here: a
    // hand-off would cost two thread wake-ups (to the writer, and back to the caller) for the
    // same work.
    writer_busy_ = true;
    lock.unlock();
    std::vector<Request*> group{request};
    ProcessGroup(group);
    return ReleaseWriter();
  }
  const bool room = room_cv_.wait_for(lock, std::chrono::milliseconds(kEnqueueWaitMsMax), [&] {
    return closing_ || queue_.size() < kQueueRequestsMax;
  });
  if (closing_ || !room) {
    lock.unlock();
    Completion d = std::move(request->done);
    delete request;
    done = std::move(d);
    return refuse_all(AppendCode::kUnavailable, "ledger",
                      closing_ ? "the ledger is closing" : "the append queue is full");
  }
  queue_.push_back(request);
  lock.unlock();
  queue_cv_.notify_one();
}

// ---------------------------------------------------------------- the writer thread

bool Ledger::Impl::TakeGroup(std::vector<Request*>* group) {
  std::unique_lock lock(queue_mu_);
  queue_cv_.wait(lock, [&] { return !writer_busy_ && (closing_ || !queue_.empty()); });
  if (queue_.empty()) return false;  // closing, and everything queued is done
  writer_busy_ = true;
  size_t events = 0;
  while (!queue_.empty() && events + queue_.front()->events.size() <= kGroupEventsMax) {
    events += queue_.front()->events.size();
    group->push_back(queue_.front());
    queue_.pop_front();
  }
  lock.unlock();
  room_cv_.notify_all();
  return true;
}

void Ledger::Impl::WriterLoop() {
  std::vector<Request*> group;
  while (TakeGroup(&group)) {
    ProcessGroup(group);
    group.clear();
    ReleaseWriter();
  }
}

void Ledger::Impl::ReleaseWriter() {
  bool wake_writer = false;
  {
    std::lock_guard lock(queue_mu_);
    writer_busy_ = false;
    wake_writer = closing_ || !queue_.empty();
  }
  // The writer thread waits for the role only when there is work for it (queued meanwhile, or
  // closing); a wake-up with nothing to do would cost every append on an idle ledger a thread
  // switch.
  if (wake_writer) queue_cv_.notify_one();
}

void Ledger::Impl::MarkUnhealthy(const Status& s) {
  std::lock_guard lock(health_mu_);
  if (healthy_.exchange(false, std::memory_order_acq_rel)) unhealthy_reason_ = s.ToString();
}

// Brings failed storage back: DB::Resume, a WAL sync, and the tip reloaded from what RocksDB
// holds (a failed group may or may not be there). The holder of the writer's role only.
bool Ledger::Impl::TryRecover() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_recover_attempt_ < kRecoverIntervalMs) return false;
  last_recover_attempt_ = now;
  if (!db_->Resume().ok()) return false;
  {
    std::lock_guard wal(wal_mu_);
    if (!db_->SyncWAL().ok()) return false;
    wal_failed_ = false;
  }
  Tip tip;
  if (!LoadTip(&tip).ok()) return false;
  {
    // The indexer dropped what it could not write: the records give it back. Only then may
    // the stream heads go (a miss reads the index).
    std::lock_guard index_lock(index_mu_);
    if (!IndexFromRecordsLocked(tip.next_position - 1).ok()) return false;
  }
  tip_ = tip;
  stream_cache_.clear();
  written_position_ = tip_.next_position - 1;
  PublishDurable(written_position_, tip_.head_hash, tip_.last_recorded_at_ns);
  std::lock_guard lock(health_mu_);
  unhealthy_reason_.clear();
  healthy_.store(true, std::memory_order_release);
  return true;
}

void Ledger::Impl::ProcessGroup(std::vector<Request*>& group) {
  if (!healthy() && !TryRecover()) {
    std::string reason;
    {
      std::lock_guard lock(health_mu_);
      reason = "storage is failing: " + unhealthy_reason_;
    }
    for (Request* r : group) {
      r->outcomes.assign(r->events.size(), Refusal(AppendCode::kUnavailable, "ledger", reason));
      r->covers_position = 0;
    }
    return Finish(group, durable_position_.load());
  }
  MaintainKeyFilter();
  const Tip before = tip_;
  rocksdb::WriteBatch batch;
  group_keys_.clear();
  index_entries_.clear();
  for (Request* r : group) StageRequest(r, &batch);
  group_keys_.clear();
  if (batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync_mode == LedgerOptions::SyncMode::kInline;
    Status s;
    {
      std::lock_guard wal(wal_mu_);
      s = wal_failed_ ? Status::Unavailable("the WAL failed: waiting for recovery")
                      : FromRocks(db_->Write(wo, &batch), "writing a group");
      wal_failed_ = !s.ok();
    }
    if (!s.ok()) {
      // Nothing of the group is acknowledged; in-group duplicates depended on it too.
      MarkUnhealthy(s);
      tip_ = before;
      stream_cache_.clear();
      for (Request* r : group) {
        r->outcomes.assign(r->events.size(),
                           Refusal(AppendCode::kUnavailable, "ledger", s.ToString()));
        r->covers_position = 0;
      }
      return Finish(group, durable_position_.load());
    }
    if (tip_.next_position > before.next_position) {
      QueueIndexWork({before.next_position, tip_.next_position - 1, std::move(index_entries_)});
      index_entries_ = {};
    }
    written_position_ = tip_.next_position - 1;
  }
  for (Request* r : group) r->covers_position = written_position_;
  if (options_.sync_mode == LedgerOptions::SyncMode::kInline) {
    PublishDurable(written_position_, tip_.head_hash, tip_.last_recorded_at_ns);
    return Finish(group, written_position_);
  }
  groups_unanswered_.fetch_add(1, std::memory_order_relaxed);
  WrittenGroup written{std::move(group), written_position_, tip_.head_hash,
                       tip_.last_recorded_at_ns};
  group = {};
  bool sync_here = false;
  {
    std::lock_guard lock(sync_mu_);
    // With nothing else waiting, a hand-off to the sync thread only adds a wake-up: sync here.
    // Under load the writer goes on staging while the sync thread syncs (pipelining).
    if (sync_queue_.empty() && !sync_busy_ && QueueEmpty()) {
      sync_busy_ = true;
      sync_here = true;
    } else {
      sync_queue_.push_back(std::move(written));
    }
  }
  bool wake_syncer = true;
  if (sync_here) {
    std::vector<WrittenGroup> one;
    one.push_back(std::move(written));
    SyncAndFinish(one);
    std::lock_guard lock(sync_mu_);
    sync_busy_ = false;
    wake_syncer = !sync_queue_.empty();  // only what was queued meanwhile needs the sync thread
  }
  if (wake_syncer) sync_cv_.notify_one();
}

// ---------------------------------------------------------------- the key filter

// Between groups, in the writer's role: trusts a finished build, and starts a larger one when
// the ledger has outgrown the newest filter (unless that one is at kKeyFilterBytesMax).
void Ledger::Impl::MaintainKeyFilter() {
  if (key_filter_next_ != nullptr && key_filter_next_ready_.load(std::memory_order_acquire)) {
    // The builder's last act was the ready flag: the join returns at once.
    if (key_filter_builder_.joinable()) key_filter_builder_.join();
    key_filter_ = std::move(key_filter_next_);
    key_filter_capacity_.store(key_filter_->capacity(), std::memory_order_relaxed);
    key_filter_bytes_.store(key_filter_->bytes(), std::memory_order_relaxed);
  }
  if (key_filter_next_ != nullptr || key_filter_ == nullptr) return;  // a build is under way
  const uint64_t keys = tip_.next_position - 1;
  if (keys > key_filter_->capacity() && key_filter_->bytes() < kKeyFilterBytesMax) {
    StartKeyFilterBuild(2 * keys);
  }
}

// Installs a new filter for the writer to add to, then scans the idem family into it on a
// thread of its own. Every key is covered: those written before the scan's iterator exists are
// in it, those staged after the install are added by the writer. Open, or the writer's role.
void Ledger::Impl::StartKeyFilterBuild(uint64_t capacity) {
  if (key_filter_builder_.joinable()) key_filter_builder_.join();
  key_filter_next_ = std::make_unique<internal::KeyFilter>(capacity);
  key_filter_next_ready_.store(false, std::memory_order_relaxed);
  key_filter_bytes_.store(
      (key_filter_ ? key_filter_->bytes() : 0) + key_filter_next_->bytes(),
      std::memory_order_relaxed);
  // Every record has one idem entry: the scan must see at least this many keys.
  const uint64_t keys_written = tip_.next_position - 1;
  key_filter_builder_ = std::thread([this, filter = key_filter_next_.get(), keys_written] {
    pthread_setname_np(pthread_self(), "annals-keyfilter");
    BuildKeyFilter(filter, keys_written);
  });
}

// The builder thread. A failed, stopped or short scan (fewer keys than records written before
// it began) leaves the filter untrusted: the writer goes on reading RocksDB for every key
// (slower, never wrong).
void Ledger::Impl::BuildKeyFilter(internal::KeyFilter* filter, uint64_t keys_written) {
  rocksdb::ReadOptions ro;
  // The family's memtable is hashed by key prefix: without a total-order iterator it would
  // show only part of its keys (and the filter would miss them).
  ro.total_order_seek = true;
  ro.fill_cache = false;  // one pass over the whole family: keep the cache for the lookups
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, idem_cf_));
  uint64_t keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++keys) {
    if (key_filter_stop_.load(std::memory_order_relaxed)) return;
    const rocksdb::Slice key = it->key();
    if (key.size() != kSha256Size) return;  // not an idem key: verify reports the corruption
    filter->Add(std::string_view(key.data(), key.size()));
  }
  if (!it->status().ok() || keys < keys_written) return;
  key_filter_next_ready_.store(true, std::memory_order_release);
}

void Ledger::Impl::AddToKeyFilters(std::string_view idem_key) {
  if (key_filter_ != nullptr) key_filter_->Add(idem_key);
  if (key_filter_next_ != nullptr) key_filter_next_->Add(idem_key);
}

void Ledger::Impl::PrefetchFromKeyFilters(std::string_view idem_key) const {
  if (key_filter_ != nullptr) key_filter_->Prefetch(idem_key);
  if (key_filter_next_ != nullptr) key_filter_next_->Prefetch(idem_key);
}

void Ledger::Impl::StopKeyFilterBuilder() {
  key_filter_stop_.store(true, std::memory_order_relaxed);
  if (key_filter_builder_.joinable()) key_filter_builder_.join();
}

bool Ledger::Impl::QueueEmpty() {
  std::lock_guard lock(queue_mu_);
  return queue_.empty();
}

// Stages one request's events; on any refusal the whole request is refused and nothing of it
// reaches `batch`.
void Ledger::Impl::StageRequest(Request* request, rocksdb::WriteBatch* batch) {
  Staging staging;
  staging.tip = tip_;
  std::vector<AppendOutcome>& outcomes = request->outcomes;
  outcomes.clear();
  outcomes.reserve(request->events.size());
  bool refused = false;
  std::vector<PreparedEvent>& events = request->events;
  // The key filter's lines for the next events load while this one is staged.
  for (size_t i = 0; i < std::min(events.size(), kKeyFilterPrefetchAhead); ++i) {
    PrefetchFromKeyFilters(events[i].idem_key);
  }
  for (size_t i = 0; i < events.size(); ++i) {
    if (i + kKeyFilterPrefetchAhead < events.size()) {
      PrefetchFromKeyFilters(events[i + kKeyFilterPrefetchAhead].idem_key);
    }
    PreparedEvent& event = events[i];
    outcomes.push_back(StageEvent(event, &staging));
    if (!IsRecorded(outcomes.back().code)) {
      refused = true;
      break;
    }
  }
  if (refused) return AbortBatch(&outcomes, request->events.size());

  for (auto& [key, stored] : staging.records) batch->Put(records_cf_, key, stored);
  for (auto& [key, staged] : staging.keys) {
    batch->Put(idem_cf_, staged.idem_key, IdemValue(staged.position, staged.digest));
    AddToKeyFilters(staged.idem_key);
    group_keys_[key] = std::move(staged);
  }
  // The index entries go to the indexer thread once the group is written.
  index_entries_.insert(index_entries_.end(), staging.index_entries.begin(),
                        staging.index_entries.end());
  for (auto& [stream, head] : staging.stream_next) stream_cache_[stream] = head;
  tip_ = std::move(staging.tip);
}

AppendOutcome Ledger::Impl::StageEvent(PreparedEvent& event, Staging* staging) {
  const std::string& key = event.key;
  const std::string& stream = event.stream;
  const std::string& digest = event.digest;
  // Dedup first: the retry of an append whose revision check passed must answer Duplicate.
  auto known = LookupKey(event, staging->keys);
  if (!known.ok()) return Refusal(AppendCode::kUnavailable, "ledger", known.status().ToString());
  if (known->has_value()) return AnswerKnownKey(key, digest, **known);

  uint64_t next_revision = 0;
  if (!stream.empty()) {
    auto next = StreamNextRevision(event, staging->stream_next);
    if (!next.ok()) return Refusal(AppendCode::kUnavailable, "ledger", next.status().ToString());
    next_revision = *next;
  }
  if (auto wrong = CheckExpected(event.expected, stream, next_revision)) return *wrong;

  const int64_t now = options_.clock_ns ? options_.clock_ns() : SystemClockNs();
  RecordFields record;
  record.position = staging->tip.next_position;
  record.stream = stream;
  record.revision = next_revision;
  record.idempotency_key = key;
  record.content_digest = digest;
  record.recorded_at_ns = std::max(now, staging->tip.last_recorded_at_ns);
  record.origin = event.origin.empty() ? registry_name_ : event.origin;
  record.prev_hash = staging->tip.head_hash;
  staging->index_entries.emplace_back(event.type_hash, event.stream_hash, next_revision,
                                      record.position);
  AppendOutcome o;
  std::string stored = EncodeRecordFields(record, event.event_bytes, &hasher_, &o.hash);
  ANNALS_ASSERT(stored.size() <= kEventBytesMax);
  staging->bytes += stored.size();

  o.code = AppendCode::kAppended;
  o.position = record.position;
  o.revision = next_revision;
  o.stream = stream;
  staging->keys[key] = StagedKey{o.position, digest, stream, next_revision, o.hash, event.idem_key};
  if (!stream.empty()) staging->stream_next[stream] = {next_revision + 1, o.position};
  staging->tip.next_position += 1;
  staging->tip.head_hash = o.hash;
  staging->tip.last_recorded_at_ns = record.recorded_at_ns;
  staging->records.emplace_back(RecordKey(o.position), std::move(stored));
  return o;
}

AppendOutcome Ledger::Impl::AnswerKnownKey(const std::string& key, const std::string& digest,
                                           const StagedKey& original) {
  AppendOutcome o;
  o.position = original.position;
  if (original.digest != digest) {
    o.code = AppendCode::kKeyReuse;
    o.error = {"idempotency_key", "the key '" + key + "' was used for other content at position " +
                                      std::to_string(original.position)};
    return o;
  }
  o.code = AppendCode::kDuplicate;
  o.stream = original.stream;
  o.revision = original.revision;
  o.hash = original.hash;
  return o;
}

// `next_revision` is the revision the event would get (0: the stream has no event yet).
std::optional<AppendOutcome> Ledger::Impl::CheckExpected(const ExpectedRevision& expected,
                                                         const std::string& stream,
                                                         uint64_t next_revision) {
  const bool exists = !stream.empty() && next_revision > 0;
  bool matches = true;
  switch (expected.kind) {
    case ExpectedRevision::Kind::kAny: break;
    case ExpectedRevision::Kind::kNoStream: matches = !exists; break;
    case ExpectedRevision::Kind::kStreamExists: matches = exists; break;
    case ExpectedRevision::Kind::kExact:
      matches = exists && next_revision - 1 == expected.revision;
      break;
  }
  if (matches) return std::nullopt;
  AppendOutcome o;
  o.code = AppendCode::kWrongRevision;
  if (exists) o.actual_revision = next_revision - 1;
  o.error = {"expected_revision",
             "the stream '" + stream + "' is at " +
                 (exists ? "revision " + std::to_string(next_revision - 1)
                         : std::string("no event"))};
  return o;
}

// A key in this request, else in an earlier request of the group (already in tip_'s past but
// maybe not in RocksDB yet: the group's batch is written after staging), else in RocksDB.
Result<std::optional<StagedKey>> Ledger::Impl::LookupKey(
    const PreparedEvent& event, const std::unordered_map<std::string, StagedKey>& local) {
  const std::string& key = event.key;
  if (auto it = local.find(key); it != local.end()) return std::optional<StagedKey>(it->second);
  if (auto it = group_keys_.find(key); it != group_keys_.end()) {
    return std::optional<StagedKey>(it->second);
  }
  if (key_filter_ != nullptr && !key_filter_->MayContain(event.idem_key)) {
    return std::optional<StagedKey>();  // certainly new: every written key is in the filter
  }
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), idem_cf_, event.idem_key, &value);
  if (s.IsNotFound()) return std::optional<StagedKey>();
  ANNALS_RETURN_IF_ERROR(FromRocks(s, "looking up an idempotency key"));
  if (value.size() != internal::kIdemValueSize) {
    return Status::Corruption("idempotency index entry of the wrong size");
  }
  StagedKey found;
  found.position = DecodeBigEndian64(value);
  found.digest = value.substr(kFixed64Size);
  std::string stored;
  ANNALS_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), records_cf_, RecordKey(found.position), &stored),
      "reading the original of a duplicate"));
  ANNALS_ASSIGN_OR_RETURN(Record original, DecodeAt(found.position, stored));
  if (original.idempotency_key() != key) {
    return Status::Corruption("the idempotency index entry of '" + key + "' points at position " +
                              std::to_string(found.position) + ", which has another key");
  }
  found.stream = original.stream();
  found.revision = original.revision();
  found.hash = original.hash();
  return std::optional<StagedKey>(std::move(found));
}

// The stream's next revision: in this request, else the writer's cache (which holds what
// earlier requests of the group staged), else the stream index.
Result<uint64_t> Ledger::Impl::StreamNextRevision(
    const PreparedEvent& event, const std::unordered_map<std::string, StreamHead>& local) {
  const std::string& stream = event.stream;
  if (auto it = local.find(stream); it != local.end()) return it->second.next_revision;
  if (auto it = stream_cache_.find(stream); it != stream_cache_.end()) {
    return it->second.next_revision;
  }
  // Not in the cache: the index holds every event of the stream.
  ANNALS_RETURN_IF_ERROR(MakeRoomInStreamCache());
  const std::string& prefix = event.stream_hash;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), streams_cf_));
  it->SeekForPrev(internal::IndexKey(prefix, UINT64_MAX));
  ANNALS_RETURN_IF_ERROR(FromRocks(it->status(), "reading a stream head"));
  uint64_t next = 0;
  if (it->Valid() && it->key().starts_with(prefix)) {
    if (it->key().size() != internal::kIndexKeySize) {
      return Status::Corruption("stream index key of the wrong size");
    }
    next = DecodeBigEndian64(it->key().ToStringView().substr(prefix.size())) + 1;
  }
  stream_cache_[stream] = {next, 0};
  return next;
}

// Keeps the cache under its limit (kStreamCacheEntriesMax): drops the heads whose last event
// the index holds, waiting for the indexer to reach what is written if need be. The heads of
// the open group stay (at most kGroupEventsMax).
Status Ledger::Impl::MakeRoomInStreamCache() {
  if (stream_cache_.size() < options_.stream_cache_entries_max) return Status::Ok();
  const uint64_t indexed = WaitIndexed(written_position_, kIndexWaitMs);
  std::erase_if(stream_cache_, [&](const auto& entry) {
    return entry.second.last_position <= indexed;
  });
  if (indexed < written_position_ && stream_cache_.size() >= options_.stream_cache_entries_max) {
    return Status::Unavailable("the stream index is behind the records (indexed through " +
                               std::to_string(indexed) + ")");
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- the indexer thread
//
// The streams and types families are derived from the records: the writer stages each group's
// entries apart and, once the group is written, hands them to the indexer thread, which writes
// them with the meta key indexed_through in one WriteBatch (no fsync of its own: a WriteBatch
// follows the records it indexes in the WAL, so a crash can take the index back, never ahead of
// the records). Open and recovery derive whatever is missing from the records themselves.
// Readers read the index up to indexed_position_ and the records after it.

Status Ledger::Impl::LoadIndexedThrough() {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, internal::kMetaIndexedThrough,
                               &value);
  uint64_t indexed = written_position_;  // absent: a ledger indexed with its records
  if (!s.IsNotFound()) {
    ANNALS_RETURN_IF_ERROR(FromRocks(s, "reading indexed_through"));
    const std::optional<uint64_t> parsed = ParseDecimal(value);
    if (!parsed) return Status::Corruption("indexed_through holds \"" + value + "\"");
    indexed = *parsed;
  }
  if (indexed > written_position_) {
    return Status::Corruption("the stream index reaches position " + std::to_string(indexed) +
                              ", past the last record " + std::to_string(written_position_));
  }
  indexed_position_.store(indexed, std::memory_order_release);
  return Status::Ok();
}

void Ledger::Impl::QueueIndexWork(IndexWork work) {
  bool wake = false;
  {
    std::lock_guard lock(index_queue_mu_);
    index_queued_events_ += work.entries.size();
    index_queue_.push_back(std::move(work));
    wake = index_queued_events_ >= kIndexEagerEvents;
  }
  if (wake) index_queue_cv_.notify_one();
}

void Ledger::Impl::IndexerLoop() {
  std::deque<IndexWork> work;
  for (;;) {
    {
      std::unique_lock lock(index_queue_mu_);
      index_queue_cv_.wait_for(lock, kIndexIntervalMs, [&] {
        return index_stop_ || index_wanted_ || index_queued_events_ >= kIndexEagerEvents;
      });
      if (index_stop_ && index_queue_.empty()) return;  // everything written is indexed
      index_wanted_ = false;
      index_queued_events_ = 0;
      work.swap(index_queue_);
    }
    if (work.empty()) continue;
    std::lock_guard index_lock(index_mu_);
    // What fails here stays in the records; recovery derives it from them.
    if (Status s = IndexLocked(work); !s.ok()) MarkUnhealthy(s);
    work.clear();
  }
}

// Under index_mu_: writes the entries of `work` (groups in write order) in one WriteBatch,
// skipping what recovery indexed already; after a dropped group (a failed write), derives the
// entries from the records instead.
Status Ledger::Impl::IndexLocked(std::deque<IndexWork>& work) {
  const uint64_t indexed = indexed_position_.load(std::memory_order_relaxed);
  uint64_t last = indexed;
  rocksdb::WriteBatch batch;
  size_t events = 0;
  for (const IndexWork& group : work) {
    if (group.last <= last) continue;
    if (group.first != last + 1) {
      if (last > indexed_position_.load(std::memory_order_relaxed)) {
        ANNALS_RETURN_IF_ERROR(WriteIndexBatch(&batch, last));
        batch.Clear();
        events = 0;
      }
      ANNALS_RETURN_IF_ERROR(IndexFromRecordsLocked(group.last));
      last = group.last;
      continue;
    }
    for (const IndexEntry& entry : group.entries) PutIndexEntry(entry, &batch);
    last = group.last;
    events += group.entries.size();
    if (events >= kIndexEagerEvents) {
      // Written in parts: the writer's next group waits for at most one (both hold wal_mu_).
      ANNALS_RETURN_IF_ERROR(WriteIndexBatch(&batch, last));
      batch.Clear();
      events = 0;
    }
  }
  if (last <= indexed_position_.load(std::memory_order_relaxed)) return Status::Ok();
  return WriteIndexBatch(&batch, last);
}

void Ledger::Impl::PutIndexEntry(const IndexEntry& entry, rocksdb::WriteBatch* batch) {
  const std::string_view type_hash(entry.type_hash, internal::kNameHashSize);
  batch->Put(types_cf_, internal::IndexKeyBytes(type_hash, entry.position).view(), "");
  if (entry.has_stream) {
    const std::string_view stream_hash(entry.stream_hash, internal::kNameHashSize);
    char position[kFixed64Size];
    EncodeBigEndian64(position, entry.position);
    batch->Put(streams_cf_, internal::IndexKeyBytes(stream_hash, entry.revision).view(),
               rocksdb::Slice(position, kFixed64Size));
  }
}

// Under index_mu_: indexes the records (indexed_position_, to] from their stored bytes.
Status Ledger::Impl::IndexFromRecordsLocked(uint64_t to) {
  uint64_t next = indexed_position_.load(std::memory_order_relaxed) + 1;
  if (next > to) return Status::Ok();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), records_cf_));
  rocksdb::WriteBatch batch;
  size_t events = 0;
  for (it->Seek(RecordKey(next)); it->Valid() && next <= to; it->Next()) {
    ANNALS_ASSIGN_OR_RETURN(Record record,
                            DecodeAt(DecodeBigEndian64(it->key().ToStringView()),
                                     it->value().ToStringView()));
    if (record.position() != next) {
      return GapAt(next);
    }
    const std::string stream_hash =
        record.stream().empty() ? "" : internal::NameHash(record.stream());
    PutIndexEntry(IndexEntry(internal::NameHash(record.event().type()), stream_hash,
                             record.revision(), next),
                  &batch);
    if (++events == kIndexRebuildBatchEvents || next == to) {
      ANNALS_RETURN_IF_ERROR(WriteIndexBatch(&batch, next));
      batch.Clear();
      events = 0;
    }
    ++next;
  }
  ANNALS_RETURN_IF_ERROR(FromRocks(it->status(), "reading records to index"));
  if (next <= to) {
    return GapAt(next);
  }
  return Status::Ok();
}

// Under index_mu_: writes `batch` (index entries) with indexed_through, then publishes it.
Status Ledger::Impl::WriteIndexBatch(rocksdb::WriteBatch* batch, uint64_t indexed_through) {
  batch->Put(meta_cf_, internal::kMetaIndexedThrough, std::to_string(indexed_through));
  rocksdb::WriteOptions wo;  // no fsync: see above
  Status s;
  {
    std::lock_guard wal(wal_mu_);
    s = wal_failed_ ? Status::Unavailable("the WAL failed: waiting for recovery")
                    : FromRocks(db_->Write(wo, batch), "writing the stream and type index");
    wal_failed_ = !s.ok();
  }
  if (s.ok()) PublishIndexed(indexed_through);
  return s;
}

void Ledger::Impl::PublishIndexed(uint64_t position) {
  {
    std::lock_guard lock(indexed_mu_);
    indexed_position_.store(position, std::memory_order_release);
  }
  indexed_cv_.notify_all();
}

// The indexed position once it reaches `position`, or after `timeout`; at once when no indexer
// runs (read-only) or storage is failing.
uint64_t Ledger::Impl::WaitIndexed(uint64_t position, std::chrono::milliseconds timeout) const {
  uint64_t indexed = indexed_position_.load(std::memory_order_acquire);
  if (indexed >= position || options_.read_only || !healthy()) return indexed;
  {
    std::lock_guard lock(index_queue_mu_);
    index_wanted_ = true;  // now, not at the next interval
  }
  index_queue_cv_.notify_one();
  std::unique_lock lock(indexed_mu_);
  indexed_cv_.wait_for(lock, timeout, [&] {
    return indexed_position_.load(std::memory_order_acquire) >= position;
  });
  return indexed_position_.load(std::memory_order_acquire);
}

// After the writer has stopped: indexes everything queued, then stops the thread.
void Ledger::Impl::StopIndexer() {
  {
    std::lock_guard lock(index_queue_mu_);
    index_stop_ = true;
  }
  index_queue_cv_.notify_all();
  if (indexer_.joinable()) indexer_.join();
}

// ---------------------------------------------------------------- the sync thread

void Ledger::Impl::SyncLoop() {
  std::vector<WrittenGroup> groups;
  for (;;) {
    {
      std::unique_lock lock(sync_mu_);
      sync_cv_.wait(lock, [&] { return sync_stop_ || (!sync_queue_.empty() && !sync_busy_); });
      if (sync_queue_.empty()) return;  // stopping, and every group is answered
      groups.swap(sync_queue_);
      sync_busy_ = true;
    }
    SyncAndFinish(groups);
    groups.clear();
    std::lock_guard lock(sync_mu_);
    sync_busy_ = false;
  }
}

// Syncs the WAL over `groups` (in write order) and answers their requests. Runs on the sync
// thread, or on the writer when it found nothing else to do; sync_busy_ keeps it on one at a
// time, so groups are answered in order.
void Ledger::Impl::SyncAndFinish(std::vector<WrittenGroup>& groups) {
  // Groups arrive in write order: the last one is the furthest written.
  const WrittenGroup& last = groups.back();
  uint64_t durable = durable_position_.load(std::memory_order_acquire);
  if (last.written_position > durable) {
    // Every group here was written before this call: SyncWAL covers them all.
    Status s;
    {
      std::lock_guard wal(wal_mu_);
      s = wal_failed_ ? Status::Unavailable("the WAL failed: not syncing")
                      : FromRocks(db_->SyncWAL(), "syncing the WAL");
      wal_failed_ = !s.ok();
    }
    if (s.ok()) {
      PublishDurable(last.written_position, last.head_hash, last.recorded_at_ns);
      durable = last.written_position;
    } else {
      MarkUnhealthy(s);
    }
  }
  for (auto& g : groups) Finish(g.requests, durable);
  groups_unanswered_.fetch_sub(groups.size(), std::memory_order_relaxed);
}

// Completes each request of `group`: an answer that depends on a position past `durable` was
// not made durable, so it becomes kUnavailable.
void Ledger::Impl::Finish(std::vector<Request*>& group, uint64_t durable) {
  for (Request* r : group) {
    if (r->covers_position > durable) {
      for (AppendOutcome& o : r->outcomes) {
        if (o.code == AppendCode::kUnavailable) continue;
        o = Refusal(AppendCode::kUnavailable, "ledger",
                    "the sync that would make this durable failed; retry with the same key");
      }
    }
    ANNALS_ASSERT(r->outcomes.size() == r->events.size());
    r->done(std::move(r->outcomes));
    delete r;
  }
}

void Ledger::Impl::PublishDurable(uint64_t position, const std::string& hash,
                                  int64_t recorded_at_ns) {
  {
    std::lock_guard lock(head_mu_);
    if (position < durable_head_.position) return;  // never backwards
    durable_head_ = Head{position, hash, recorded_at_ns};
    durable_position_.store(position, std::memory_order_release);
  }
  head_cv_.notify_all();
}

// ---------------------------------------------------------------- reads

Head Ledger::Impl::GetHead() const {
  std::lock_guard lock(head_mu_);
  return durable_head_;
}

uint64_t Ledger::Impl::WaitForHead(uint64_t position, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(head_mu_);
  head_cv_.wait_for(lock, timeout, [&] { return closed_ || durable_head_.position > position; });
  return durable_head_.position;
}

// Decodes the record stored under `position` and checks it names the same position.
Result<Record> Ledger::Impl::DecodeAt(uint64_t position, std::string_view stored) const {
  Record record;
  ANNALS_RETURN_IF_ERROR(DecodeRecordAt(position, stored, &record));
  return record;
}

Result<Record> Ledger::Impl::ReadAt(uint64_t position) const {
  const uint64_t durable = durable_position_.load(std::memory_order_acquire);
  if (position == 0 || position > durable) {
    return Status::NotFound("no event at position " + std::to_string(position) + " (head is " +
                            std::to_string(durable) + ")");
  }
  std::string stored;
  ANNALS_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), records_cf_, RecordKey(position), &stored),
      "reading position " + std::to_string(position)));
  return DecodeAt(position, stored);
}

Status Ledger::Impl::Scan(uint64_t from,
                          const std::function<bool(uint64_t, std::string_view)>& visit) const {
  const uint64_t durable = durable_position_.load(std::memory_order_acquire);
  rocksdb::ReadOptions ro;
  ro.readahead_size = 2 << 20;
  const std::string upper = RecordKey(durable + 1);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, records_cf_));
  uint64_t expected = std::max<uint64_t>(from, 1);
  for (it->Seek(RecordKey(expected)); it->Valid(); it->Next()) {
    const uint64_t position = DecodeBigEndian64(it->key().ToStringView());
    if (position != expected) {
      return GapAt(expected);
    }
    const std::string_view stored = it->value().ToStringView();
    if (stored.size() < kHashSuffixSize) {
      return Status::Corruption("position " + std::to_string(position) +
                                ": record shorter than its hash suffix");
    }
    if (!visit(position, stored)) return Status::Ok();
    ++expected;
  }
  ANNALS_RETURN_IF_ERROR(FromRocks(it->status(), "scanning the ledger"));
  if (expected <= durable) {
    return GapAt(expected);
  }
  return Status::Ok();
}

Result<ReadPage> Ledger::Impl::ReadAll(const ReadAllOptions& options) const {
  const size_t limit = std::min(options.limit, kReadPageEventsMax);
  const uint64_t from = std::max<uint64_t>(options.from_position, 1);
  if (!options.stream.empty()) {
    // The stream index is in revision order, which is position order; skip to `from`.
    return ReadIndexed(streams_cf_, options.stream, from, limit, options.type, false);
  }
  if (!options.type.empty()) {
    return ReadIndexed(types_cf_, options.type, from, limit, "", false);
  }
  ReadPage page;
  page.next = from;
  Status failed;
  ANNALS_RETURN_IF_ERROR(Scan(from, [&](uint64_t position, std::string_view stored) {
    if (page.records.size() >= limit) return false;
    auto record = DecodeAt(position, stored);
    if (!record.ok()) {
      failed = record.status();
      return false;
    }
    page.records.push_back(std::move(record).value());
    page.next = position + 1;
    return true;
  }));
  ANNALS_RETURN_IF_ERROR(failed);
  page.end = page.next > durable_position_.load(std::memory_order_acquire);
  return page;
}

Result<ReadPage> Ledger::Impl::ReadStream(std::string_view stream, uint64_t from_revision,
                                          size_t limit) const {
  return ReadIndexed(streams_cf_, stream, from_revision, std::min(limit, kReadPageEventsMax), "",
                     true);
}

// Reads through an index of NameHash(name) || be64(n) keys (streams: n = revision, value = the
// position; types: n = position). `from` is a revision when `by_revision`, else a position.
// Each record read is checked to carry `name`. The index is read up to the indexed position;
// the durable records after it (the indexer's lag, or what a read-only open finds unindexed)
// are scanned.
Result<ReadPage> Ledger::Impl::ReadIndexed(rocksdb::ColumnFamilyHandle* cf, std::string_view name,
                                           uint64_t from, size_t limit,
                                           std::string_view type_filter, bool by_revision) const {
  const uint64_t durable = durable_position_.load(std::memory_order_acquire);
  const uint64_t indexed = std::min(WaitIndexed(durable, kIndexWaitMs), durable);
  const bool is_stream_index = cf == streams_cf_;
  const std::string prefix = internal::NameHash(name);
  ReadPage page;
  page.next = from;
  page.end = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->Seek(internal::IndexKey(prefix, by_revision || !is_stream_index ? from : 0));
       it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const uint64_t n = DecodeBigEndian64(it->key().ToStringView().substr(prefix.size()));
    const uint64_t position = is_stream_index ? DecodeBigEndian64(it->value().ToStringView()) : n;
    if (position > indexed) break;
    if (!by_revision && position < from) continue;
    if (page.records.size() >= limit) {
      page.end = false;
      break;
    }
    ANNALS_ASSIGN_OR_RETURN(Record record, ReadAt(position));
    if ((is_stream_index ? record.stream() : record.event().type()) != name) {
      return Status::Corruption("index entry for '" + std::string(name) + "' points at position " +
                                std::to_string(position) + ", which is not one of its events");
    }
    page.next = (by_revision ? n : position) + 1;
    if (!type_filter.empty() && record.event().type() != type_filter) continue;
    page.records.push_back(std::move(record));
  }
  ANNALS_RETURN_IF_ERROR(FromRocks(it->status(), "reading an index"));
  if (page.end && indexed < durable) {
    Status failed;
    ANNALS_RETURN_IF_ERROR(Scan(indexed + 1, [&](uint64_t position, std::string_view stored) {
      if (position > durable) return false;
      Result<Record> record = DecodeAt(position, stored);
      if (!record.ok()) {
        failed = record.status();
        return false;
      }
      if ((is_stream_index ? record->stream() : record->event().type()) != name) return true;
      const uint64_t n = by_revision ? record->revision() : position;
      if (n < from) return true;
      if (page.records.size() >= limit) {
        page.end = false;
        return false;
      }
      page.next = n + 1;
      if (type_filter.empty() || record->event().type() == type_filter) {
        page.records.push_back(std::move(record).value());
      }
      return true;
    }));
    ANNALS_RETURN_IF_ERROR(failed);
  }
  if (!by_revision && page.end) page.next = std::max(page.next, durable + 1);
  return page;
}

// ---------------------------------------------------------------- verify and stats

namespace {

// Checks one decoded record against its predecessor; returns the problem, or "" when sound.
std::string CheckLink(const Record& record, std::string_view stored, const std::string& prev_hash,
                      int64_t prev_recorded_at_ns, Sha256Hasher* hasher) {
  if (record.prev_hash() != prev_hash) return "prev_hash does not match the previous record";
  if (!CheckRecordHash(stored, record, hasher).ok()) return "hash does not match the record bytes";
  if (hasher->Digest(CanonicalBytes(record.event())) != record.content_digest()) {
    return "content digest does not match the event";
  }
  if (record.recorded_at_ns() < prev_recorded_at_ns) return "recorded_at goes backwards";
  return "";
}

}  // namespace

Result<VerifyReport> Ledger::Impl::Verify(
    const std::function<void(uint64_t, uint64_t)>& progress) const {
  VerifyReport report;
  const uint64_t total = durable_position_.load(std::memory_order_acquire);
  // Records past the indexed position have no index entries yet (read-only, after a crash).
  const uint64_t indexed = WaitIndexed(total, kIndexWaitMs);
  std::string prev_hash = GenesisHash();
  int64_t prev_recorded_at_ns = 0;
  Sha256Hasher hasher;
  auto fail = [&](uint64_t position, std::string problem) {
    report.intact = false;
    report.first_bad_position = position;
    report.problem = std::move(problem);
    return false;
  };
  Status scan = Scan(1, [&](uint64_t position, std::string_view stored) {
    auto record = DecodeAt(position, stored);
    if (!record.ok()) return fail(position, record.status().message());
    std::string problem = CheckLink(*record, stored, prev_hash, prev_recorded_at_ns, &hasher);
    if (problem.empty() && position <= indexed) problem = CheckIndexes(*record);
    if (!problem.empty()) return fail(position, std::move(problem));
    prev_hash = record->hash();
    prev_recorded_at_ns = record->recorded_at_ns();
    ++report.records_checked;
    if (progress && report.records_checked % 65536 == 0) progress(report.records_checked, total);
    return true;
  });
  if (scan.code() == StatusCode::kCorruption && report.intact) {
    fail(report.records_checked + 1, scan.message());
  } else {
    ANNALS_RETURN_IF_ERROR(scan);
  }
  if (report.intact && report.records_checked != total) {
    fail(report.records_checked + 1, "the ledger ends before its head");
  }
  if (progress) progress(report.records_checked, total);
  return report;
}

// The idempotency and stream index entries of `record` point back at it.
std::string Ledger::Impl::CheckIndexes(const Record& record) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions(), idem_cf_, internal::IdemKey(record.idempotency_key()),
                &value)
           .ok() ||
      value != IdemValue(record.position(), record.content_digest())) {
    return "the idempotency index does not point at this record";
  }
  if (!record.stream().empty()) {
    if (!db_->Get(rocksdb::ReadOptions(), streams_cf_,
                  StreamKey(record.stream(), record.revision()), &value)
             .ok() ||
        value != RecordKey(record.position())) {
      return "the stream index does not point at this record";
    }
  }
  return "";
}

Result<LedgerStats> Ledger::Impl::Stats() const {
  LedgerStats stats;
  stats.registry_name = registry_name_;
  stats.head = GetHead();
  stats.events = stats.head.position;
  stats.created_at_ns = created_at_ns_;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.path, ec)) {
    if (entry.is_regular_file(ec)) stats.size_bytes += entry.file_size(ec);
  }
  if (ec) return Status::IOError("listing " + options_.path + ": " + ec.message());
  uint64_t value = 0;
  for (const char* jobs : {"rocksdb.num-running-flushes", "rocksdb.num-running-compactions",
                           "rocksdb.mem-table-flush-pending", "rocksdb.compaction-pending"}) {
    if (db_->GetAggregatedIntProperty(jobs, &value)) stats.background_jobs += value;
  }
  if (db_->GetAggregatedIntProperty("rocksdb.estimate-pending-compaction-bytes", &value)) {
    stats.pending_compaction_bytes = value;
  }
  stats.key_filter_capacity = key_filter_capacity_.load(std::memory_order_relaxed);
  stats.key_filter_bytes = key_filter_bytes_.load(std::memory_order_relaxed);
  stats.indexed_position = indexed_position_.load(std::memory_order_acquire);
  stats.healthy = healthy();
  std::lock_guard lock(health_mu_);
  stats.unhealthy_reason = unhealthy_reason_;
  return stats;
}

namespace {

std::string CheckpointKey(std::string_view name) {
  return std::string(internal::kMetaCheckpointPrefix).append(name);
}

Status CheckCheckpointName(std::string_view name) {
  if (!IsValidName(name, kCheckpointNameBytesMax)) {
    return Status::InvalidArgument("a checkpoint name is 1 to " +
                                   std::to_string(kCheckpointNameBytesMax) +
                                   " bytes of UTF-8 without control characters");
  }
  return Status::Ok();
}

}  // namespace

Status Ledger::Impl::SaveCheckpoint(std::string_view name, uint64_t position) {
  ANNALS_RETURN_IF_ERROR(CheckCheckpointName(name));
  if (options_.read_only) return Status::Unavailable("the ledger is open read-only");
  if (!healthy()) return Status::Unavailable("storage is failing: checkpoint not saved");
  rocksdb::WriteOptions wo;  // no fsync: the next append group's fsync covers the WAL
  std::lock_guard wal(wal_mu_);
  if (wal_failed_) return Status::Unavailable("the WAL failed: waiting for recovery");
  return FromRocks(db_->Put(wo, meta_cf_, CheckpointKey(name), std::to_string(position)),
                   "saving checkpoint " + std::string(name));
}

Result<uint64_t> Ledger::Impl::LoadCheckpoint(std::string_view name) const {
  ANNALS_RETURN_IF_ERROR(CheckCheckpointName(name));
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, CheckpointKey(name), &value);
  if (s.IsNotFound()) return uint64_t{0};
  ANNALS_RETURN_IF_ERROR(FromRocks(s, "reading checkpoint " + std::string(name)));
  const std::optional<uint64_t> position = ParseDecimal(value);
  if (!position) {
    return Status::Corruption("checkpoint " + std::string(name) + " holds \"" + value + "\"");
  }
  return *position;
}

// ---------------------------------------------------------------- Ledger

std::optional<ExpectedRevision> ParseExpectedRevision(std::string_view text) {
  if (text == "any") return ExpectedRevision::Any();
  if (text == "no_stream") return ExpectedRevision::NoStream();
  if (text == "exists") return ExpectedRevision::StreamExists();
  const std::optional<uint64_t> revision = ParseDecimal(text);
  if (!revision) return std::nullopt;
  return ExpectedRevision::Exact(*revision);
}

std::string_view AppendCodeName(AppendCode code) {
  switch (code) {
    case AppendCode::kAppended: return "appended";
    case AppendCode::kDuplicate: return "duplicate";
    case AppendCode::kKeyReuse: return "key_reuse";
    case AppendCode::kWrongRevision: return "wrong_revision";
    case AppendCode::kInvalidEvent: return "invalid";
    case AppendCode::kTooLarge: return "too_large";
    case AppendCode::kUnavailable: return "unavailable";
    case AppendCode::kBatchAborted: return "batch_aborted";
  }
  ANNALS_UNREACHABLE();
}

Result<std::unique_ptr<Ledger>> Ledger::Open(LedgerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  ANNALS_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;
void Ledger::Close() { impl_->Close(); }

void Ledger::Submit(std::vector<ProposedEvent> events, Completion done) {
  impl_->Submit(std::move(events), std::move(done));
}

std::vector<AppendOutcome> Ledger::AppendBatch(std::vector<ProposedEvent> events) {
  std::binary_semaphore ready(0);
  std::vector<AppendOutcome> result;
  const std::thread::id caller = std::this_thread::get_id();
  bool answered_here = false;
  impl_->Submit(std::move(events), [&](std::vector<AppendOutcome> outcomes) {
    result = std::move(outcomes);
    // Answered on the caller's own thread (it wrote and synced the request itself, or the
    // request was refused at once): a release would be a system call to wake nobody.
    if (std::this_thread::get_id() == caller) {
      answered_here = true;
    } else {
      ready.release();
    }
  }, /*may_write_here=*/true);
  if (!answered_here) ready.acquire();
  return result;
}

AppendOutcome Ledger::Append(ProposedEvent event) {
  std::vector<ProposedEvent> events;
  events.push_back(std::move(event));
  return std::move(AppendBatch(std::move(events)).front());
}

Head Ledger::GetHead() const { return impl_->GetHead(); }
uint64_t Ledger::WaitForHead(uint64_t position, std::chrono::milliseconds timeout) const {
  return impl_->WaitForHead(position, timeout);
}
Result<Record> Ledger::ReadAt(uint64_t position) const { return impl_->ReadAt(position); }
Result<ReadPage> Ledger::ReadAll(const ReadAllOptions& options) const {
  return impl_->ReadAll(options);
}
Result<ReadPage> Ledger::ReadStream(std::string_view stream, uint64_t from_revision,
                                    size_t limit) const {
  return impl_->ReadStream(stream, from_revision, limit);
}
Status Ledger::Scan(uint64_t from_position,
                    const std::function<bool(uint64_t, std::string_view)>& visit) const {
  return impl_->Scan(from_position, visit);
}
Result<VerifyReport> Ledger::Verify(
    const std::function<void(uint64_t, uint64_t)>& progress) const {
  return impl_->Verify(progress);
}
Result<LedgerStats> Ledger::Stats() const { return impl_->Stats(); }
Status Ledger::SaveCheckpoint(std::string_view name, uint64_t position) {
  return impl_->SaveCheckpoint(name, position);
}
Result<uint64_t> Ledger::LoadCheckpoint(std::string_view name) const {
  return impl_->LoadCheckpoint(name);
}
bool Ledger::healthy() const { return impl_->healthy(); }
const std::string& Ledger::registry_name() const { return impl_->registry_name(); }

}  // namespace annals::eventstore
