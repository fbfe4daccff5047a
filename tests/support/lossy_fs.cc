// LossyFileSystem (lossy_fs.h): writable files that keep unsynced bytes in memory, and readers
// that see them.
#include "annals/testing/lossy_fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace annals::testing {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// One file as this process sees it: the real file (what a power loss keeps) overlaid with the
// extents written since the last sync (what it takes).
struct LossyFileState {
  mutable std::mutex mu;
  uint64_t size = 0;             // what the process sees
  uint64_t real_size = 0;        // the real file's size
  uint64_t real_valid_size = 0;  // real bytes past this were truncated away (not yet synced)
  std::map<uint64_t, std::string> dirty;  // offset -> unsynced bytes; disjoint, not touching
  int writers = 0;                        // writable files open on it

  void Write(uint64_t offset, std::string_view data);
  void Truncate(uint64_t new_size);
  // Nothing a sync would change.
  bool Clean() const { return dirty.empty() && real_size == size && real_valid_size == size; }
  uint64_t UnsyncedBytes() const {
    uint64_t bytes = 0;
    for (const auto& [offset, extent] : dirty) bytes += extent.size();
    return bytes;
  }
};

void LossyFileState::Write(uint64_t offset, std::string_view data) {
  if (data.empty()) return;
  const uint64_t end = offset + data.size();
  size = std::max(size, end);
  if (!dirty.empty()) {
    auto& [last_offset, last] = *dirty.rbegin();
    if (last_offset + last.size() == offset) {  // the common case: an append
      last.append(data);
      return;
    }
  }
  // The extents that overlap or touch [offset, end) become one.
  auto first = dirty.upper_bound(offset);
  if (first != dirty.begin()) {
    auto before = std::prev(first);
    if (before->first + before->second.size() >= offset) first = before;
  }
  uint64_t start = offset;
  uint64_t stop = end;
  auto last = first;
  for (; last != dirty.end() && last->first <= end; ++last) {
    start = std::min(start, last->first);
    stop = std::max(stop, last->first + last->second.size());
  }
  std::string merged(stop - start, '\0');
  for (auto it = first; it != last; ++it) {
    std::memcpy(merged.data() + (it->first - start), it->second.data(), it->second.size());
  }
  std::memcpy(merged.data() + (offset - start), data.data(), data.size());
  dirty.erase(first, last);
  dirty.emplace(start, std::move(merged));
}

void LossyFileState::Truncate(uint64_t new_size) {
  dirty.erase(dirty.lower_bound(new_size), dirty.end());
  if (!dirty.empty()) {
    auto& [offset, extent] = *dirty.rbegin();
    if (offset + extent.size() > new_size) extent.resize(new_size - offset);
  }
  size = new_size;
  real_valid_size = std::min(real_valid_size, new_size);
}

namespace {

IOStatus Errno(std::string_view what, const std::string& fname, int err) {
  std::string m(what);
  m += " ";
  m += fname;
  m += ": ";
  m += std::strerror(err);
  if (err == ENOSPC) return IOStatus::NoSpace(m);
  return IOStatus::IOError(m);
}

IOStatus PwriteAll(int fd, std::string_view bytes, uint64_t offset, const std::string& fname) {
  while (!bytes.empty()) {
    const ssize_t n = pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("writing back", fname, n < 0 ? errno : EIO);
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return IOStatus::OK();
}

// Writes the unsynced bytes before `limit` to the real file (not yet durable: the caller
// syncs); with limit >= state.size, makes the real file what the process sees. A limit below
// the size is honoured only while no truncation waits (for LossyOptions::WalSync::kOneBehind,
// on append-only WAL files). Caller holds state.mu.
IOStatus WriteBack(LossyFileState& state, int fd, const std::string& fname, uint64_t limit,
                   uint64_t* written) {
  if (state.real_valid_size < state.real_size) {
    limit = state.size;
    if (ftruncate(fd, static_cast<off_t>(state.real_valid_size)) != 0) {
      return Errno("truncating", fname, errno);
    }
    state.real_size = state.real_valid_size;
  }
  const bool whole = limit >= state.size;
  for (const auto& [offset, extent] : state.dirty) {
    if (offset >= limit) break;
    const auto n = static_cast<size_t>(std::min<uint64_t>(extent.size(), limit - offset));
    IOStatus s = PwriteAll(fd, std::string_view(extent).substr(0, n), offset, fname);
    if (!s.ok()) return s;  // `dirty` is untouched: a later sync writes it all again
    state.real_size = std::max(state.real_size, offset + n);
    *written += n;
  }
  std::map<uint64_t, std::string> kept;  // what is still unsynced
  for (auto& [offset, extent] : state.dirty) {
    if (offset >= limit) {
      kept.emplace(offset, std::move(extent));
    } else if (offset + extent.size() > limit) {
      kept.emplace(limit, extent.substr(limit - offset));
    }
  }
  if (whole && state.real_size != state.size) {
    if (ftruncate(fd, static_cast<off_t>(state.size)) != 0) return Errno("resizing", fname, errno);
    state.real_size = state.size;
  }
  state.real_valid_size = state.real_size;
  state.dirty = std::move(kept);
  return IOStatus::OK();
}

// Reads [offset, offset + n) of the file as the process sees it into `scratch`: the real file up
// to real_valid_size, zeros past it, and the unsynced extents over both. Caller holds state.mu.
IOStatus ReadOverlaid(const LossyFileState& state, const rocksdb::FSRandomAccessFile& real,
                      uint64_t offset, size_t n, const IOOptions& options, Slice* result,
                      char* scratch, IODebugContext* dbg) {
  if (offset >= state.size) {
    *result = Slice(scratch, 0);
    return IOStatus::OK();
  }
  n = static_cast<size_t>(std::min<uint64_t>(n, state.size - offset));
  size_t got = 0;
  if (offset < state.real_valid_size) {
    const auto want = static_cast<size_t>(std::min<uint64_t>(n, state.real_valid_size - offset));
    Slice part;
    IOStatus s = real.Read(offset, want, options, &part, scratch, dbg);
    if (!s.ok()) return s;
    if (part.data() != scratch) std::memmove(scratch, part.data(), part.size());
    got = part.size();
  }
  std::memset(scratch + got, 0, n - got);
  const uint64_t end = offset + n;
  auto it = state.dirty.upper_bound(offset);
  if (it != state.dirty.begin()) --it;
  for (; it != state.dirty.end() && it->first < end; ++it) {
    const uint64_t from = std::max(offset, it->first);
    const uint64_t to = std::min(end, it->first + it->second.size());
    if (from < to) {
      std::memcpy(scratch + (from - offset), it->second.data() + (from - it->first), to - from);
    }
  }
  *result = Slice(scratch, n);
  return IOStatus::OK();
}

class LossyWritableFile : public rocksdb::FSWritableFile {
 public:
  LossyWritableFile(LossyFileSystem* fs, std::string fname, int fd,
                    std::shared_ptr<LossyFileState> state)
      : fs_(fs),
        fname_(std::move(fname)),
        policy_(fs->SyncPolicy(fname_)),
        fd_(fd),
        state_(std::move(state)) {}
  ~LossyWritableFile() override {
    if (fd_ >= 0) Close(IOOptions(), nullptr).PermitUncheckedError();
  }

  IOStatus Append(const Slice& data, const IOOptions& /*options*/,
                  IODebugContext* /*dbg*/) override {
    std::lock_guard lock(state_->mu);
    state_->Write(state_->size, data.ToStringView());
    fs_->CountAppend(data.size());
    return IOStatus::OK();
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const DataVerificationInfo& /*verification_info*/, IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& /*options*/,
                            IODebugContext* /*dbg*/) override {
    std::lock_guard lock(state_->mu);
    state_->Write(offset, data.ToStringView());
    fs_->CountAppend(data.size());
    return IOStatus::OK();
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const DataVerificationInfo& /*verification_info*/,
                            IODebugContext* dbg) override {
    return PositionedAppend(data, offset, options, dbg);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    std::lock_guard lock(state_->mu);
    state_->Truncate(size);
    return IOStatus::OK();
  }
  // The bytes reach the OS, not the disk: nothing to do.
  IOStatus Flush(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    return IOStatus::OK();
  }
  IOStatus Sync(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    return Persist(false);
  }
  IOStatus Fsync(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    return Persist(true);
  }
  // sync_file_range(SYNC_FILE_RANGE_WRITE) starts write-back and promises nothing: persists
  // nothing here (lossy_fs.h).
  IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*nbytes*/, const IOOptions& /*options*/,
                     IODebugContext* /*dbg*/) override {
    return IOStatus::OK();
  }
  IOStatus Allocate(uint64_t /*offset*/, uint64_t /*len*/, const IOOptions& /*options*/,
                    IODebugContext* /*dbg*/) override {
    return IOStatus::OK();
  }
  // Close persists nothing: unsynced bytes stay with the file system's table (lossy_fs.h).
  IOStatus Close(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    if (fd_ < 0) return IOStatus::OK();
    bool unsynced = false;
    {
      std::lock_guard lock(state_->mu);
      unsynced = !state_->Clean();
      --state_->writers;
    }
    const int rc = close(fd_);
    const int err = errno;
    fd_ = -1;
    if (unsynced) fs_->CountCloseUnsynced();
    fs_->ForgetIfSynced(state_);
    if (rc != 0) return Errno("closing", fname_, err);
    return IOStatus::OK();
  }
  // Sync may run on another thread than Append (DB::SyncWAL): the state's mutex orders them.
  bool IsSyncThreadSafe() const override { return true; }
  uint64_t GetFileSize(const IOOptions& /*options*/, IODebugContext* /*dbg*/) override {
    std::lock_guard lock(state_->mu);
    return state_->size;
  }

 private:
  // Writes the unsynced bytes back under the lock, then syncs outside it, so that appends go on
  // during the sync (they are not covered by it, and stay unsynced).
  IOStatus Persist(bool metadata) {
    using WalSync = LossyOptions::WalSync;
    if (policy_ == WalSync::kNothing) {
      fs_->CountShortSync();
      return IOStatus::OK();
    }
    uint64_t written = 0;
    {
      std::lock_guard lock(state_->mu);
      uint64_t limit = state_->size;
      if (policy_ == WalSync::kOneBehind) {
        std::swap(limit, previous_sync_size_);
        if (limit < state_->size) fs_->CountShortSync();
      }
      IOStatus s = WriteBack(*state_, fd_, fname_, limit, &written);
      if (!s.ok()) return s;
    }
    int rc;
    do {
      rc = metadata ? fsync(fd_) : fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) return Errno("syncing", fname_, errno);
    fs_->CountSync(written);
    return IOStatus::OK();
  }

  LossyFileSystem* const fs_;  // outlives the file: the Env holds the file system
  const std::string fname_;
  const LossyOptions::WalSync policy_;
  int fd_;
  uint64_t previous_sync_size_ = 0;  // kOneBehind: the size the previous sync was given
  const std::shared_ptr<LossyFileState> state_;
};

// Reads through the state over a reader of the real file.
class LossyRandomAccessFile : public rocksdb::FSRandomAccessFile {
 public:
  LossyRandomAccessFile(std::shared_ptr<LossyFileState> state,
                        std::unique_ptr<rocksdb::FSRandomAccessFile> real)
      : state_(std::move(state)), real_(std::move(real)) {}

  IOStatus Read(uint64_t offset, size_t n, const IOOptions& options, Slice* result, char* scratch,
                IODebugContext* dbg) const override {
    std::lock_guard lock(state_->mu);
    return ReadOverlaid(*state_, *real_, offset, n, options, result, scratch, dbg);
  }

 private:
  const std::shared_ptr<LossyFileState> state_;
  const std::unique_ptr<rocksdb::FSRandomAccessFile> real_;
};

class LossySequentialFile : public rocksdb::FSSequentialFile {
 public:
  LossySequentialFile(std::shared_ptr<LossyFileState> state,
                      std::unique_ptr<rocksdb::FSRandomAccessFile> real)
      : state_(std::move(state)), real_(std::move(real)) {}

  IOStatus Read(size_t n, const IOOptions& options, Slice* result, char* scratch,
                IODebugContext* dbg) override {
    std::lock_guard lock(state_->mu);
    IOStatus s = ReadOverlaid(*state_, *real_, position_, n, options, result, scratch, dbg);
    if (s.ok()) position_ += result->size();
    return s;
  }
  IOStatus Skip(uint64_t n) override {
    position_ += n;
    return IOStatus::OK();
  }

 private:
  const std::shared_ptr<LossyFileState> state_;
  const std::unique_ptr<rocksdb::FSRandomAccessFile> real_;
  uint64_t position_ = 0;
};

// Options for a reader of the real file under an overlay: plain reads (the overlay copies).
FileOptions PlainReads(const FileOptions& options) {
  FileOptions plain = options;
  plain.use_direct_reads = false;
  plain.use_mmap_reads = false;
  return plain;
}

}  // namespace

LossyFileSystem::LossyFileSystem(LossyOptions options)
    : FileSystemWrapper(rocksdb::FileSystem::Default()), options_(options) {}

LossyFileSystem::~LossyFileSystem() = default;

LossyCounts LossyFileSystem::counts() const {
  LossyCounts c;
  c.files_opened = files_opened_.load(std::memory_order_relaxed);
  c.bytes_appended = bytes_appended_.load(std::memory_order_relaxed);
  c.bytes_persisted = bytes_persisted_.load(std::memory_order_relaxed);
  c.syncs = syncs_.load(std::memory_order_relaxed);
  c.syncs_short = syncs_short_.load(std::memory_order_relaxed);
  c.closes_unsynced = closes_unsynced_.load(std::memory_order_relaxed);
  return c;
}

uint64_t LossyFileSystem::UnsyncedBytes(const std::string& fname) const {
  auto state = Find(fname);
  if (state == nullptr) return 0;
  std::lock_guard lock(state->mu);
  return state->UnsyncedBytes();
}

LossyOptions::WalSync LossyFileSystem::SyncPolicy(const std::string& fname) const {
  return fname.ends_with(".log") ? options_.wal_sync : LossyOptions::WalSync::kAll;
}

void LossyFileSystem::CountSync(uint64_t bytes_persisted) {
  syncs_.fetch_add(1, std::memory_order_relaxed);
  bytes_persisted_.fetch_add(bytes_persisted, std::memory_order_relaxed);
}

std::shared_ptr<LossyFileState> LossyFileSystem::Find(const std::string& fname) const {
  std::lock_guard lock(files_mu_);
  auto it = files_.find(fname);
  return it == files_.end() ? nullptr : it->second;
}

void LossyFileSystem::ForgetIfSynced(const std::shared_ptr<LossyFileState>& state) {
  std::lock_guard files_lock(files_mu_);
  {
    std::lock_guard state_lock(state->mu);
    if (state->writers > 0 || !state->Clean()) return;
  }
  std::erase_if(files_, [&](const auto& entry) { return entry.second == state; });
}

IOStatus LossyFileSystem::OpenWritable(const std::string& fname, bool truncate,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result) {
  const int fd =
      open(fname.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  if (fd < 0) return Errno("opening", fname, errno);
  std::shared_ptr<LossyFileState> state;
  {
    std::lock_guard lock(files_mu_);
    auto it = files_.find(fname);
    if (!truncate && it != files_.end()) {
      state = it->second;  // reopened: a sync through this handle persists the earlier bytes too
    } else {
      state = std::make_shared<LossyFileState>();
      if (!truncate) {
        struct stat st {};
        if (fstat(fd, &st) != 0) {
          const int err = errno;
          close(fd);
          return Errno("sizing", fname, err);
        }
        state->size = state->real_size = state->real_valid_size = static_cast<uint64_t>(st.st_size);
      }
      files_[fname] = state;
    }
    std::lock_guard state_lock(state->mu);
    ++state->writers;
  }
  files_opened_.fetch_add(1, std::memory_order_relaxed);
  *result = std::make_unique<LossyWritableFile>(this, fname, fd, std::move(state));
  return IOStatus::OK();
}

IOStatus LossyFileSystem::NewWritableFile(const std::string& fname, const FileOptions& /*options*/,
                                          std::unique_ptr<rocksdb::FSWritableFile>* result,
                                          IODebugContext* /*dbg*/) {
  return OpenWritable(fname, true, result);
}

IOStatus LossyFileSystem::ReopenWritableFile(const std::string& fname,
                                             const FileOptions& /*options*/,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                                             IODebugContext* /*dbg*/) {
  return OpenWritable(fname, false, result);
}

IOStatus LossyFileSystem::ReuseWritableFile(const std::string& fname,
                                            const std::string& /*old_fname*/,
                                            const FileOptions& /*options*/,
                                            std::unique_ptr<rocksdb::FSWritableFile>* /*result*/,
                                            IODebugContext* /*dbg*/) {
  return IOStatus::NotSupported("LossyFileSystem does not recycle files", fname);
}

IOStatus LossyFileSystem::NewRandomRWFile(const std::string& fname, const FileOptions& /*options*/,
                                          std::unique_ptr<rocksdb::FSRandomRWFile>* /*result*/,
                                          IODebugContext* /*dbg*/) {
  return IOStatus::NotSupported("LossyFileSystem has no random read-write files", fname);
}

IOStatus LossyFileSystem::NewSequentialFile(const std::string& fname, const FileOptions& options,
                                            std::unique_ptr<rocksdb::FSSequentialFile>* result,
                                            IODebugContext* dbg) {
  auto state = Find(fname);
  if (state == nullptr) return target()->NewSequentialFile(fname, options, result, dbg);
  std::unique_ptr<rocksdb::FSRandomAccessFile> real;
  IOStatus s = target()->NewRandomAccessFile(fname, PlainReads(options), &real, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<LossySequentialFile>(std::move(state), std::move(real));
  return IOStatus::OK();
}

IOStatus LossyFileSystem::NewRandomAccessFile(const std::string& fname, const FileOptions& options,
                                              std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
                                              IODebugContext* dbg) {
  auto state = Find(fname);
  if (state == nullptr) return target()->NewRandomAccessFile(fname, options, result, dbg);
  std::unique_ptr<rocksdb::FSRandomAccessFile> real;
  IOStatus s = target()->NewRandomAccessFile(fname, PlainReads(options), &real, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<LossyRandomAccessFile>(std::move(state), std::move(real));
  return IOStatus::OK();
}

IOStatus LossyFileSystem::GetFileSize(const std::string& fname, const IOOptions& options,
                                      uint64_t* size, IODebugContext* dbg) {
  auto state = Find(fname);
  if (state == nullptr) return target()->GetFileSize(fname, options, size, dbg);
  std::lock_guard lock(state->mu);
  *size = state->size;
  return IOStatus::OK();
}

IOStatus LossyFileSystem::GetChildrenFileAttributes(const std::string& dir,
                                                    const IOOptions& options,
                                                    std::vector<rocksdb::FileAttributes>* result,
                                                    IODebugContext* dbg) {
  IOStatus s = target()->GetChildrenFileAttributes(dir, options, result, dbg);
  if (!s.ok()) return s;
  for (auto& attributes : *result) {
    auto state = Find(dir + "/" + attributes.name);
    if (state == nullptr) continue;
    std::lock_guard lock(state->mu);
    attributes.size_bytes = state->size;
  }
  return s;
}

IOStatus LossyFileSystem::DeleteFile(const std::string& fname, const IOOptions& options,
                                     IODebugContext* dbg) {
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(files_mu_);
    files_.erase(fname);
  }
  return s;
}

IOStatus LossyFileSystem::RenameFile(const std::string& src, const std::string& target_name,
                                     const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = target()->RenameFile(src, target_name, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(files_mu_);
    auto it = files_.find(src);
    if (it == files_.end()) {
      files_.erase(target_name);  // replaced by a file with nothing unsynced
    } else {
      std::shared_ptr<LossyFileState> moved = std::move(it->second);
      files_.erase(it);
      files_[target_name] = std::move(moved);
    }
  }
  return s;
}

IOStatus LossyFileSystem::LinkFile(const std::string& src, const std::string& target_name,
                                   const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = target()->LinkFile(src, target_name, options, dbg);
  if (s.ok()) {
    std::lock_guard lock(files_mu_);
    auto it = files_.find(src);
    if (it != files_.end()) files_[target_name] = it->second;  // one inode, two names
  }
  return s;
}

IOStatus LossyFileSystem::Truncate(const std::string& fname, size_t size, const IOOptions& options,
                                   IODebugContext* dbg) {
  auto state = Find(fname);
  if (state == nullptr) return target()->Truncate(fname, size, options, dbg);
  std::lock_guard lock(state->mu);
  state->Truncate(size);
  return IOStatus::OK();
}

std::unique_ptr<rocksdb::Env> NewLossyEnv(const std::shared_ptr<LossyFileSystem>& fs) {
  return rocksdb::NewCompositeEnv(fs);
}

}  // namespace annals::testing
