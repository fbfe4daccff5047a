// A fault-injecting RocksDB file system for tests: the default file system, except that while
// the disk is "full" every write to a writable file fails with IOStatus::NoSpace, as a real
// ENOSPC would. Reads, renames, deletes and directory operations are never touched.
//
// What fails while full, with NoSpace("injected: no space left on device"):
//   - Append and PositionedAppend (nothing of the data reaches the file: no torn write),
//     Flush, Sync, Fsync, RangeSync and Allocate of every writable file, including files opened
//     before the disk became full;
//   - Close of a file holding data appended since its last successful sync (the data may not
//     be on the disk; the file is still closed underneath);
//   - opening a writable file (NewWritableFile, ReopenWritableFile, ReuseWritableFile), only
//     when FaultOptions::fail_open_when_full is set.
// And GetFreeSpace reports 0 bytes while full, as on a full disk: RocksDB's SstFileManager polls
// it to decide when to start its own recovery from a NoSpace error (a recovery started on a
// disk that is still full fails, and RocksDB 7.8 then gives up on the database for good).
// Random read-write files (NewRandomRWFile: not used by a plain RocksDB database) pass through.
//
// Counters tell a test that its database really writes through this file system (an Env that
// silently is not used would make a fault test unable to fail).
//
// Thread-safety: every method is thread-safe; the flag and counters are atomics, so SetFull may
// be called while the database writes. Ownership: hold it in a std::shared_ptr and build the Env
// with NewFaultEnv; the Env keeps the file system alive and must outlive the database.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace annals::testing {

struct FaultOptions {
  // Also refuse to open writable files while full. Default: false (creating an empty file needs
  // no data block, so a real full disk usually allows it).
  bool fail_open_when_full = false;
};

// How many writable-file operations went through or were refused.
struct FaultCounts {
  uint64_t files_opened = 0;     // writable files opened (through the wrapper)
  uint64_t appends_passed = 0;   // Append/PositionedAppend handed to the real file
  uint64_t syncs_passed = 0;     // Sync/Fsync handed to the real file
  uint64_t faults_injected = 0;  // operations answered NoSpace
};

class FaultFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // Wraps rocksdb::FileSystem::Default().
  explicit FaultFileSystem(FaultOptions options = {});

  static const char* kClassName() { return "AnnalsFaultFileSystem"; }
  const char* Name() const override { return kClassName(); }

  // Sets or clears the full disk (and disarms FillAt). Takes effect for the next operation of
  // every file.
  void SetFull(bool full);
  bool full() const { return full_.load(std::memory_order_seq_cst); }

  // Arms a trigger: the disk becomes full just before the `nth` next operation `op` (1: the next
  // one) on a file whose name ends with `name_suffix` (".log": RocksDB's WAL files; "": any
  // file), so that this operation and every write after it fails. kSync fills the disk between
  // a write and its sync; kAppend makes a write fail while an earlier one awaits its sync.
  enum class FillOp : uint8_t { kAppend, kSync };
  void FillAt(FillOp op, uint64_t nth, std::string name_suffix);

  FaultCounts counts() const;

  // The status of a refused operation.
  static rocksdb::IOStatus NoSpace();

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus GetFreeSpace(const std::string& path, const rocksdb::IOOptions& options,
                                 uint64_t* free_bytes, rocksdb::IODebugContext* dbg) override;

  // -- for the file wrappers (fault_fs.cc)
  // True when the operation must fail: counts the fault.
  bool Inject();
  // Before operation `op` on file `fname`: may fill the disk (FillAt).
  void Before(FillOp op, const std::string& fname);
  void CountAppend() { appends_passed_.fetch_add(1, std::memory_order_relaxed); }
  void CountSync() { syncs_passed_.fetch_add(1, std::memory_order_relaxed); }

 private:
  // Refuses an open while full (when configured); else counts it.
  bool RefuseOpen();
  rocksdb::IOStatus Wrap(rocksdb::IOStatus opened, const std::string& fname,
                         std::unique_ptr<rocksdb::FSWritableFile>* result);

  const FaultOptions options_;
  std::atomic<bool> full_{false};
  std::atomic<uint64_t> files_opened_{0};
  std::atomic<uint64_t> appends_passed_{0};
  std::atomic<uint64_t> syncs_passed_{0};
  std::atomic<uint64_t> faults_injected_{0};
  // The FillAt trigger.
  std::mutex fill_mu_;
  FillOp fill_op_ = FillOp::kAppend;  // guarded by fill_mu_
  uint64_t fill_countdown_ = 0;       // operations to go; 0: disarmed. Guarded by fill_mu_
  std::string fill_name_suffix_;      // guarded by fill_mu_
};

// An Env that uses `fs` for every file and rocksdb::Env::Default() for the rest (threads,
// clock). It holds a reference to `fs`.
std::unique_ptr<rocksdb::Env> NewFaultEnv(const std::shared_ptr<FaultFileSystem>& fs);

}  // namespace annals::testing
