// FaultFileSystem (fault_fs.h): the writable-file wrapper that refuses writes while full.
#include "annals/testing/fault_fs.h"

#include <utility>

namespace annals::testing {

namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// Forwards to the real file unless the disk is full. RocksDB may call Sync from another thread
// than Append (IsSyncThreadSafe), hence the atomic.
class FaultWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target, FaultFileSystem* fs,
                    std::string fname)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), fname_(std::move(fname)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    if (RefuseAppend()) return FaultFileSystem::NoSpace();
    return target()->Append(data, options, dbg);
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const DataVerificationInfo& verification_info, IODebugContext* dbg) override {
    if (RefuseAppend()) return FaultFileSystem::NoSpace();
    return target()->Append(data, options, verification_info, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    if (RefuseAppend()) return FaultFileSystem::NoSpace();
    return target()->PositionedAppend(data, offset, options, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const DataVerificationInfo& verification_info,
                            IODebugContext* dbg) override {
    if (RefuseAppend()) return FaultFileSystem::NoSpace();
    return target()->PositionedAppend(data, offset, options, verification_info, dbg);
  }
  IOStatus Flush(const IOOptions& options, IODebugContext* dbg) override {
    if (fs_->Inject()) return FaultFileSystem::NoSpace();
    return target()->Flush(options, dbg);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    if (RefuseSync()) return FaultFileSystem::NoSpace();
    return NoteSynced(target()->Sync(options, dbg));
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    if (RefuseSync()) return FaultFileSystem::NoSpace();
    return NoteSynced(target()->Fsync(options, dbg));
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    if (fs_->Inject()) return FaultFileSystem::NoSpace();
    return target()->RangeSync(offset, nbytes, options, dbg);
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& options,
                    IODebugContext* dbg) override {
    if (fs_->Inject()) return FaultFileSystem::NoSpace();
    return target()->Allocate(offset, len, options, dbg);
  }
  // Data not yet synced may not fit on a full disk: the close reports it, but the descriptor
  // is released all the same (as close(2) does).
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    if (unsynced_.load(std::memory_order_acquire) && fs_->Inject()) {
      target()->Close(options, dbg).PermitUncheckedError();
      return FaultFileSystem::NoSpace();
    }
    return target()->Close(options, dbg);
  }

 private:
  // True when the append must fail (the disk is full, or fills now); else counts it.
  bool RefuseAppend() {
    fs_->Before(FaultFileSystem::FillOp::kAppend, fname_);
    if (fs_->Inject()) return true;
    fs_->CountAppend();
    unsynced_.store(true, std::memory_order_release);
    return false;
  }
  bool RefuseSync() {
    fs_->Before(FaultFileSystem::FillOp::kSync, fname_);
    return fs_->Inject();
  }
  IOStatus NoteSynced(IOStatus s) {
    if (s.ok()) {
      fs_->CountSync();
      unsynced_.store(false, std::memory_order_release);
    }
    return s;
  }

  FaultFileSystem* const fs_;  // outlives the file: the Env holds the file system
  const std::string fname_;
  std::atomic<bool> unsynced_{false};
};

}  // namespace

FaultFileSystem::FaultFileSystem(FaultOptions options)
    : FileSystemWrapper(rocksdb::FileSystem::Default()), options_(options) {}

void FaultFileSystem::SetFull(bool full) {
  {
    std::lock_guard lock(fill_mu_);
    fill_countdown_ = 0;
  }
  full_.store(full, std::memory_order_seq_cst);
}

void FaultFileSystem::FillAt(FillOp op, uint64_t nth, std::string name_suffix) {
  std::lock_guard lock(fill_mu_);
  fill_op_ = op;
  fill_countdown_ = nth;
  fill_name_suffix_ = std::move(name_suffix);
}

void FaultFileSystem::Before(FillOp op, const std::string& fname) {
  std::lock_guard lock(fill_mu_);
  if (fill_countdown_ == 0 || op != fill_op_ || !fname.ends_with(fill_name_suffix_)) return;
  if (--fill_countdown_ == 0) full_.store(true, std::memory_order_seq_cst);
}

FaultCounts FaultFileSystem::counts() const {
  FaultCounts c;
  c.files_opened = files_opened_.load(std::memory_order_relaxed);
  c.appends_passed = appends_passed_.load(std::memory_order_relaxed);
  c.syncs_passed = syncs_passed_.load(std::memory_order_relaxed);
  c.faults_injected = faults_injected_.load(std::memory_order_relaxed);
  return c;
}

IOStatus FaultFileSystem::NoSpace() {
  return IOStatus::NoSpace("injected: no space left on device");
}

bool FaultFileSystem::Inject() {
  if (!full()) return false;
  faults_injected_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool FaultFileSystem::RefuseOpen() {
  if (options_.fail_open_when_full && Inject()) return true;
  files_opened_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

IOStatus FaultFileSystem::Wrap(IOStatus opened, const std::string& fname,
                               std::unique_ptr<rocksdb::FSWritableFile>* result) {
  if (opened.ok()) {
    *result = std::make_unique<FaultWritableFile>(std::move(*result), this, fname);
  }
  return opened;
}

IOStatus FaultFileSystem::NewWritableFile(const std::string& fname,
                                          const rocksdb::FileOptions& options,
                                          std::unique_ptr<rocksdb::FSWritableFile>* result,
                                          IODebugContext* dbg) {
  if (RefuseOpen()) return NoSpace();
  return Wrap(target()->NewWritableFile(fname, options, result, dbg), fname, result);
}

IOStatus FaultFileSystem::ReopenWritableFile(const std::string& fname,
                                             const rocksdb::FileOptions& options,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                                             IODebugContext* dbg) {
  if (RefuseOpen()) return NoSpace();
  return Wrap(target()->ReopenWritableFile(fname, options, result, dbg), fname, result);
}

IOStatus FaultFileSystem::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                            const rocksdb::FileOptions& options,
                                            std::unique_ptr<rocksdb::FSWritableFile>* result,
                                            IODebugContext* dbg) {
  if (RefuseOpen()) return NoSpace();
  return Wrap(target()->ReuseWritableFile(fname, old_fname, options, result, dbg), fname, result);
}

IOStatus FaultFileSystem::GetFreeSpace(const std::string& path, const IOOptions& options,
                                       uint64_t* free_bytes, IODebugContext* dbg) {
  if (full()) {
    *free_bytes = 0;
    return IOStatus::OK();
  }
  return target()->GetFreeSpace(path, options, free_bytes, dbg);
}

std::unique_ptr<rocksdb::Env> NewFaultEnv(const std::shared_ptr<FaultFileSystem>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace annals::testing
