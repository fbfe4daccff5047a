// ViewsDb (views_db.h): the views' RocksDB, its key layout (docs/views_format.md), snapshots and
// fold batches.
#include "annals/projections/views_db.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <vector>

#include "annals/base/coding.h"
#include "annals/eventstore/rocks_status.h"
#include "internal/views_options.h"

namespace annals::projections {

namespace {

using eventstore::FromRocks;

// Key kinds (docs/views_format.md). One byte each; never reused.
constexpr char kMetaKind = 'm';        // 'm' view -> be32 version, be32 live generation
constexpr char kCheckpointKind = 'c';  // 'c' view 0x00 be32 generation -> be64 position
constexpr char kRowKind = 'r';         // 'r' view 0x00 be32 generation key -> row

void PutBigEndian32(std::string* dst, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) dst->push_back(static_cast<char>((v >> shift) & 0xff));
}

uint32_t DecodeBigEndian32(std::string_view src) {
  ANNALS_ASSERT(src.size() >= 4);
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

std::string MetaKey(std::string_view view) {
  std::string key(1, kMetaKind);
  key.append(view);
  return key;
}

std::string GenerationKey(char kind, std::string_view view, uint32_t generation) {
  ANNALS_ASSERT(view.find('\0') == std::string_view::npos);
  std::string key(1, kind);
  key.append(view);
  key.push_back('\0');
  PutBigEndian32(&key, generation);
  return key;
}

// The first key after every key that starts with `prefix` (prefix is never all 0xff here: it
// starts with a kind byte).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<uint8_t>(prefix.back()) == 0xff) prefix.pop_back();
  ANNALS_ASSERT(!prefix.empty());
  prefix.back() = static_cast<char>(static_cast<uint8_t>(prefix.back()) + 1);
  return prefix;
}

Result<std::optional<std::string>> GetOptional(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                               const std::string& key) {
  std::string value;
  rocksdb::Status s = db->Get(ro, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading a view row");
  return std::optional<std::string>(std::move(value));
}

Result<ViewMeta> ReadMeta(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view view) {
  ANNALS_ASSIGN_OR_RETURN(auto value, GetOptional(db, ro, MetaKey(view)));
  ViewMeta meta;
  if (!value) return meta;
  if (value->size() != 8) return Status::Corruption("view meta of " + std::string(view) + " has a bad size");
  meta.exists = true;
  meta.version = DecodeBigEndian32(*value);
  meta.live_generation = DecodeBigEndian32(std::string_view(*value).substr(4));
  return meta;
}

Result<uint64_t> ReadCheckpoint(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                std::string_view view, uint32_t generation) {
  ANNALS_ASSIGN_OR_RETURN(auto value,
                          GetOptional(db, ro, GenerationKey(kCheckpointKind, view, generation)));
  if (!value) return uint64_t{0};
  if (value->size() != kFixed64Size) {
    return Status::Corruption("checkpoint of view " + std::string(view) + " has a bad size");
  }
  return DecodeBigEndian64(*value);
}

// Visits keys of `it` starting with `prefix` from `start`; `visit` gets the key after
// `strip` bytes.
Status ScanIterator(rocksdb::Iterator* it, const std::string& prefix, const std::string& start,
                    size_t strip,
                    const std::function<bool(std::string_view, std::string_view)>& visit) {
  for (it->Seek(start); it->Valid(); it->Next()) {
    rocksdb::Slice key = it->key();
    if (!key.starts_with(prefix)) break;
    std::string_view k(key.data() + strip, key.size() - strip);
    if (!visit(k, std::string_view(it->value().data(), it->value().size()))) break;
  }
  return FromRocks(it->status(), "scanning a view");
}

}  // namespace

// ViewReader

Result<std::optional<std::string>> ViewReader::Get(std::string_view key) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot_.get();
  std::string full = row_prefix_;
  full.append(key);
  return GetOptional(db_, ro, full);
}

Status ViewReader::Scan(
    std::string_view prefix, std::string_view from,
    const std::function<bool(std::string_view key, std::string_view value)>& visit) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot_.get();
  std::string full_prefix = row_prefix_;
  full_prefix.append(prefix);
  std::string upper = PrefixEnd(full_prefix);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::string start = full_prefix;
  start.append(from);
  return ScanIterator(it.get(), full_prefix, start, row_prefix_.size(), visit);
}

// ViewTxn

std::string ViewTxn::Key(std::string_view key) const {
  std::string full = row_prefix_;
  full.append(key);
  return full;
}

Result<std::optional<std::string>> ViewTxn::Get(std::string_view key) {
  std::string full = Key(key);
  if (auto it = pending_.find(full); it != pending_.end()) return it->second;
  return GetOptional(db_, rocksdb::ReadOptions(), full);
}

void ViewTxn::Write(std::string_view key, std::optional<std::string_view> value) {
  std::string full = Key(key);
  const size_t size = value ? value->size() : 0;
  auto [it, inserted] = pending_.try_emplace(std::move(full));
  if (inserted) {
    pending_bytes_ += it->first.size();
  } else if (it->second) {
    pending_bytes_ -= it->second->size();
  }
  pending_bytes_ += size;
  if (value) {
    it->second.emplace(*value);
  } else {
    it->second.reset();
  }
}

std::vector<const ViewTxn::PendingWrite*> ViewTxn::SortedWrites(std::string_view prefix) const {
  std::vector<const PendingWrite*> writes;
  for (const PendingWrite& entry : pending_) {
    if (std::string_view(entry.first).starts_with(prefix)) writes.push_back(&entry);
  }
  std::sort(writes.begin(), writes.end(),
            [](const PendingWrite* a, const PendingWrite* b) { return a->first < b->first; });
  return writes;
}

void ViewTxn::Put(std::string_view key, std::string_view value) { Write(key, value); }

void ViewTxn::Delete(std::string_view key) { Write(key, std::nullopt); }

Status ViewTxn::Scan(std::string_view prefix,
                     const std::function<bool(std::string_view key, std::string_view value)>& visit) {
  std::string full_prefix = Key(prefix);
  // The batch's writes under the prefix, in key order, merged with the committed rows.
  const std::vector<const PendingWrite*> writes = SortedWrites(full_prefix);
  std::string upper = PrefixEnd(full_prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  const size_t strip = row_prefix_.size();
  auto strip_key = [&](std::string_view k) { return k.substr(strip); };
  size_t w = 0;
  it->Seek(full_prefix);
  for (;;) {
    const bool db_valid = it->Valid();
    if (!db_valid && w == writes.size()) break;
    std::string_view db_key = db_valid ? std::string_view(it->key().data(), it->key().size()) : "";
    if (w < writes.size() && (!db_valid || writes[w]->first <= db_key)) {
      const auto& [key, value] = *writes[w++];
      if (db_valid && key == db_key) it->Next();  // the batch's write replaces the stored row
      if (value && !visit(strip_key(key), *value)) break;
      continue;
    }
    if (!visit(strip_key(db_key), std::string_view(it->value().data(), it->value().size()))) break;
    it->Next();
  }
  return FromRocks(it->status(), "scanning a view");
}

// FoldBatch

FoldBatch::~FoldBatch() = default;

size_t FoldBatch::data_bytes() const { return txn_.pending_bytes_; }

void FoldBatch::Clear() {
  txn_.pending_.clear();
  txn_.pending_bytes_ = 0;
}

Status FoldBatch::Commit(uint64_t position) {
  // Rows in key order: each memtable insert then starts near the previous one.
  const std::vector<const ViewTxn::PendingWrite*> writes = txn_.SortedWrites("");
  rocksdb::WriteBatch batch(txn_.pending_bytes_ + 32 * (writes.size() + 1));
  Status s;
  for (const auto* entry : writes) {
    const auto& [key, value] = *entry;
    s = FromRocks(value ? batch.Put(key, *value) : batch.Delete(key), "building a fold batch");
    if (!s.ok()) break;
  }
  if (s.ok()) s = FromRocks(batch.Put(checkpoint_key_, BigEndian64(position)), "building a fold batch");
  if (s.ok()) {
    s = FromRocks(txn_.db_->Write(internal::ViewsWriteOptions(), &batch), "writing a fold batch");
  }
  Clear();
  return s;
}

namespace internal {

rocksdb::Options ViewsRocksOptions(size_t block_cache_bytes) {
  rocksdb::Options ro;
  ro.create_if_missing = true;
  ro.max_background_jobs = 2;
  ro.compression = rocksdb::kLZ4Compression;
  ro.write_buffer_size = 64 << 20;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  ro.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return ro;
}

rocksdb::WriteOptions ViewsWriteOptions() {
  rocksdb::WriteOptions options;
  options.disableWAL = true;  // views are derived: see the header on durability
  return options;
}

}  // namespace internal

// ViewsDb

Result<std::unique_ptr<ViewsDb>> ViewsDb::Open(const ViewsDbOptions& options) {
  rocksdb::Options ro = internal::ViewsRocksOptions(options.block_cache_bytes);

  std::unique_ptr<ViewsDb> views(new ViewsDb());
  views->read_only_ = options.read_only;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = options.read_only ? rocksdb::DB::OpenForReadOnly(ro, options.path, &db)
                                        : rocksdb::DB::Open(ro, options.path, &db);
  if (!s.ok()) return FromRocks(s, "opening the views at " + options.path);
  views->db_.reset(db);
  return views;
}

ViewsDb::~ViewsDb() { (void)Close(); }

Status ViewsDb::Close() {
  if (closed_ || !db_) return Status::Ok();
  closed_ = true;
  Status s;
  if (!read_only_) {
    s = FromRocks(db_->Flush(rocksdb::FlushOptions()), "flushing the views");
  }
  Status c = FromRocks(db_->Close(), "closing the views");
  db_.reset();
  return s.ok() ? c : s;
}

Result<ViewMeta> ViewsDb::Meta(std::string_view view) const {
  return ReadMeta(db_.get(), rocksdb::ReadOptions(), view);
}

Result<uint64_t> ViewsDb::Checkpoint(std::string_view view, uint32_t generation) const {
  return ReadCheckpoint(db_.get(), rocksdb::ReadOptions(), view, generation);
}

Result<ViewReader> ViewsDb::Reader(std::string_view view, std::optional<uint32_t> generation) const {
  rocksdb::DB* db = db_.get();
  ViewReader reader;
  reader.db_ = db;
  if (!read_only_) {
    reader.snapshot_ = std::shared_ptr<const rocksdb::Snapshot>(
        db->GetSnapshot(), [db](const rocksdb::Snapshot* s) { db->ReleaseSnapshot(s); });
  }
  rocksdb::ReadOptions ro;
  ro.snapshot = reader.snapshot_.get();
  if (!generation) {
    ANNALS_ASSIGN_OR_RETURN(ViewMeta meta, ReadMeta(db, ro, view));
    if (!meta.exists) return Status::NotFound("view " + std::string(view) + " is not built");
    generation = meta.live_generation;
  }
  reader.generation_ = *generation;
  reader.row_prefix_ = GenerationKey(kRowKind, view, *generation);
  ANNALS_ASSIGN_OR_RETURN(reader.position_, ReadCheckpoint(db, ro, view, *generation));
  return reader;
}

std::unique_ptr<FoldBatch> ViewsDb::BeginBatch(std::string_view view, uint32_t generation) const {
  ANNALS_ASSERT(!read_only_);
  std::unique_ptr<FoldBatch> batch(new FoldBatch());
  batch->txn_.db_ = db_.get();
  batch->txn_.row_prefix_ = GenerationKey(kRowKind, view, generation);
  batch->checkpoint_key_ = GenerationKey(kCheckpointKind, view, generation);
  return batch;
}

namespace {

void AddDropGeneration(rocksdb::WriteBatch* batch, std::string_view view, uint32_t generation) {
  std::string rows = GenerationKey(kRowKind, view, generation);
  rocksdb::Status s = batch->DeleteRange(rows, PrefixEnd(rows));
  ANNALS_ASSERT(s.ok());
  s = batch->Delete(GenerationKey(kCheckpointKind, view, generation));
  ANNALS_ASSERT(s.ok());
}

}  // namespace

Status ViewsDb::Swap(std::string_view view, uint32_t version, uint32_t generation) {
  ANNALS_ASSERT(!read_only_);
  ANNALS_ASSIGN_OR_RETURN(ViewMeta meta, Meta(view));
  rocksdb::WriteBatch batch;
  std::string value;
  PutBigEndian32(&value, version);
  PutBigEndian32(&value, generation);
  ANNALS_RETURN_IF_ERROR(FromRocks(batch.Put(MetaKey(view), value), "building a view swap"));
  if (meta.exists && meta.live_generation != generation) {
    AddDropGeneration(&batch, view, meta.live_generation);
  }
  return FromRocks(db_->Write(internal::ViewsWriteOptions(), &batch), "swapping a view");
}

Status ViewsDb::DropGeneration(std::string_view view, uint32_t generation) {
  ANNALS_ASSERT(!read_only_);
  ANNALS_ASSIGN_OR_RETURN(ViewMeta meta, Meta(view));
  ANNALS_ASSERT(!meta.exists || meta.live_generation != generation);
  rocksdb::WriteBatch batch;
  AddDropGeneration(&batch, view, generation);
  return FromRocks(db_->Write(internal::ViewsWriteOptions(), &batch), "dropping a view generation");
}

Status ViewsDb::PutRowForTesting(std::string_view view, std::string_view key, std::string_view value) {
  ANNALS_ASSIGN_OR_RETURN(ViewMeta meta, Meta(view));
  if (!meta.exists) return Status::NotFound("view " + std::string(view) + " is not built");
  std::string full = GenerationKey(kRowKind, view, meta.live_generation);
  full.append(key);
  return FromRocks(db_->Put(internal::ViewsWriteOptions(), full,
                            rocksdb::Slice(value.data(), value.size())),
                   "writing a view row");
}

}  // namespace annals::projections
