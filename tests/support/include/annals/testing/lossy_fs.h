// A RocksDB file system for power-loss tests: the default file system, except that what a
// process writes to a file reaches the real file only when the file is synced. Until then the
// bytes live in this process's memory, standing for the OS page cache: the process reads them
// back as usual, and a SIGKILL throws them away. So after a process using this file system is
// killed, the real files hold exactly what a power loss at that instant could be trusted to
// keep, and a database opened on them (with the default file system) shows what survived.
//
// The model, for every writable file opened through this file system:
//   - Append and PositionedAppend keep the bytes in memory. Flush does nothing more: a flush
//     reaches the OS, not the disk.
//   - Sync and Fsync write every unsynced byte of the file to the real file (pwrite) and then
//     fdatasync / fsync it: from their return on, those bytes survive a kill. A sync covers the
//     whole file (as fsync(2) covers the whole inode), whichever handle calls it.
//   - RangeSync persists nothing. RocksDB uses it for bytes_per_sync; it is sync_file_range(2)
//     with SYNC_FILE_RANGE_WRITE, which only starts write-back and promises nothing after a
//     crash, so no durability may rest on it.
//   - Close persists nothing. Bytes unsynced at close stay in memory (the process still reads
//     them) until a later sync of the same file through ReopenWritableFile, or the process dies.
//     RocksDB syncs the files it relies on (SST, MANIFEST, CURRENT, OPTIONS, IDENTITY) before
//     closing them, so for those only bytes appended after the last sync are at risk; a WAL is
//     durable only as far as a sync reached.
//   - Truncate changes what the process sees at once and the real file at the next sync.
//   - Allocate (fallocate) is a no-op: preallocation changes no content.
//   - Readers (NewSequentialFile, NewRandomAccessFile), GetFileSize and
//     GetChildrenFileAttributes of a file with unsynced bytes see the file as this process wrote
//     it: the real file overlaid with the bytes in memory. RocksDB reads some files back in the
//     process that wrote them (OPTIONS is parsed again right after it is written, a new SST is
//     opened by the table cache right after its flush), but only after syncing and closing
//     them: with RocksDB 7.8 under the Ledger, no read or size query was seen to reach a file
//     with unsynced bytes or an open writer. The overlay keeps readers right should one do so.
//
// Limits (what this does not simulate):
//   - Directory entries: creating, renaming, linking and deleting a file take effect on the real
//     directory at once and survive a kill, as if every directory were synced after each change.
//     A power loss can undo a file creation or rename whose directory was not synced; this file
//     system cannot show that.
//   - Torn writes: a power loss here loses every unsynced byte; a real one may also keep some
//     of them (a prefix or random pages written back early). A database that survives losing
//     all of them should survive losing some, but stale or torn pages are not exercised.
//   - A kill in the middle of Sync may leave some of the bytes being synced in the real file
//     (they were written, not yet fsynced): a legal outcome of a power loss then as well.
//   - Only the writable files opened here are buffered: the info LOG (written by RocksDB's own
//     logger) and files written through NewRandomRWFile (refused: a plain RocksDB database does
//     not use it) are outside the model. ReuseWritableFile (WAL recycling, off by default) is
//     refused too. Direct I/O and mmap write options are ignored: every write is buffered here.
//   - Every kill is a power loss. A plain crash (the page cache survives) followed later by a
//     power loss is not modelled: bytes already in a real file count as durable.
//
// Thread-safety: every method is thread-safe; RocksDB may sync a file (SyncWAL) while another
// thread appends to it, and read a file while it is written. Ownership: hold it in a
// std::shared_ptr and build the Env with NewLossyEnv; the Env keeps the file system alive and
// must outlive the database.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace annals::testing {

struct LossyOptions {
  // What Sync and Fsync of a file whose name ends with ".log" (a RocksDB WAL) persist. Anything
  // but kAll answers OK for less than was asked, as a database acknowledging before its fsync
  // would: only for proving that a durability test can fail. Default: kAll.
  enum class WalSync : uint8_t {
    kAll,        // every byte written so far (the model above)
    kNothing,    // nothing: a disk that lies about fsync
    kOneBehind,  // only the bytes the previous sync of the file was given: every sync answers
                 // one sync early, the bytes written since that previous sync stay unsynced
  };
  WalSync wal_sync = WalSync::kAll;
};

// What went through the file system, so that a test can tell its database really used it.
struct LossyCounts {
  uint64_t files_opened = 0;     // writable files opened
  uint64_t bytes_appended = 0;   // by Append and PositionedAppend
  uint64_t bytes_persisted = 0;  // written to real files by syncs
  uint64_t syncs = 0;            // Sync/Fsync calls that persisted (even 0 bytes)
  uint64_t syncs_short = 0;      // Sync/Fsync calls that persisted less than asked (wal_sync)
  uint64_t closes_unsynced = 0;  // files closed with unsynced bytes
};

// One file as this process sees it (defined in lossy_fs.cc); shared by the file's writers and
// readers and by the file system's table of files.
struct LossyFileState;

class LossyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  // Wraps rocksdb::FileSystem::Default().
  explicit LossyFileSystem(LossyOptions options = {});
  ~LossyFileSystem() override;

  static const char* kClassName() { return "AnnalsLossyFileSystem"; }
  const char* Name() const override { return kClassName(); }

  LossyCounts counts() const;
  // The bytes of `fname` a power loss now would lose (0 for a file not written here).
  uint64_t UnsyncedBytes(const std::string& fname) const;

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  // These two are refused (NotSupported): see the limits above.
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  rocksdb::IOStatus NewSequentialFile(const std::string& fname, const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(const std::string& fname,
                                        const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                        rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus GetFileSize(const std::string& fname, const rocksdb::IOOptions& options,
                                uint64_t* size, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus GetChildrenFileAttributes(const std::string& dir,
                                              const rocksdb::IOOptions& options,
                                              std::vector<rocksdb::FileAttributes>* result,
                                              rocksdb::IODebugContext* dbg) override;

  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;

  // -- for the file classes (lossy_fs.cc)
  // How syncs of `fname` behave.
  LossyOptions::WalSync SyncPolicy(const std::string& fname) const;
  // Forgets `state` when it holds nothing unsynced (its writer closed): readers opened later go
  // straight to the real file.
  void ForgetIfSynced(const std::shared_ptr<LossyFileState>& state);
  void CountAppend(uint64_t bytes) { bytes_appended_.fetch_add(bytes, std::memory_order_relaxed); }
  void CountSync(uint64_t bytes_persisted);
  void CountShortSync() { syncs_short_.fetch_add(1, std::memory_order_relaxed); }
  void CountCloseUnsynced() { closes_unsynced_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::shared_ptr<LossyFileState> Find(const std::string& fname) const;
  rocksdb::IOStatus OpenWritable(const std::string& fname, bool truncate,
                                 std::unique_ptr<rocksdb::FSWritableFile>* result);

  const LossyOptions options_;
  // Every file with a writer open or with unsynced bytes, by name.
  mutable std::mutex files_mu_;
  std::map<std::string, std::shared_ptr<LossyFileState>> files_;  // guarded by files_mu_
  std::atomic<uint64_t> files_opened_{0};
  std::atomic<uint64_t> bytes_appended_{0};
  std::atomic<uint64_t> bytes_persisted_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> syncs_short_{0};
  std::atomic<uint64_t> closes_unsynced_{0};
};

// An Env that uses `fs` for every file and rocksdb::Env::Default() for the rest (threads,
// clock). It holds a reference to `fs`.
std::unique_ptr<rocksdb::Env> NewLossyEnv(const std::shared_ptr<LossyFileSystem>& fs);

}  // namespace annals::testing
