// Runner (runner.h): the fold loop, the fold threads, rebuild into a shadow, check.
#include "annals/projections/runner.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "annals/base/assert.h"
#include "annals/projections/limits.h"

namespace annals::projections {

namespace {

using Clock = std::chrono::steady_clock;

// How long a fold thread waits on the ledger's tail before it looks at the stop flag again.
constexpr auto kTailWaitMs = std::chrono::milliseconds(200);
// How often long folds report progress, in events.
constexpr uint64_t kProgressEveryEvents = 16 * kFoldBatchEventsMax;

// One view the runner keeps.
struct Slot {
  ViewSpec spec;
  uint32_t version = 0;
  // Held while a batch folds into the live generation, and across a swap: one folder at a time.
  std::mutex fold_mu;
  // Held by Rebuild and Check: one shadow at a time.
  std::mutex shadow_mu;
  // Guards the fields below; `advanced` is signalled when `position` moves.
  mutable std::mutex mu;
  std::condition_variable advanced;
  std::shared_ptr<Projection> live;
  // The live generation's fold batch, reused batch after batch (under fold_mu).
  std::unique_ptr<FoldBatch> batch;
  uint32_t batch_generation = 0;
  bool built = false;  // false: read-only, never built
  uint32_t generation = 0;
  uint64_t position = 0;
  bool failed = false;
  std::string error;
  std::thread thread;
};

}  // namespace

class Runner::Impl {
 public:
  Impl(const RunnerOptions& options, std::vector<ViewSpec> specs)
      : ledger_(options.ledger), db_(options.db), registry_name_(options.registry_name) {
    if (registry_name_.empty()) registry_name_ = ledger_->registry_name();
    for (auto& spec : specs) {
      auto slot = std::make_unique<Slot>();
      slot->spec = std::move(spec);
      slots_.push_back(std::move(slot));
    }
  }

  ~Impl() { Stop(); }

  Status Open() {
    for (auto& slot : slots_) ANNALS_RETURN_IF_ERROR(OpenSlot(*slot));
    return Status::Ok();
  }

  void Start() {
    std::lock_guard lock(start_mu_);
    if (started_ || db_->read_only()) return;
    started_ = true;
    stopping_ = false;
    for (auto& slot : slots_) {
      Slot* s = slot.get();
      s->thread = std::thread([this, s] { FoldLoop(*s); });
    }
  }

  void Stop() {
    std::lock_guard lock(start_mu_);
    if (!started_) return;
    stopping_ = true;
    stop_cv_.notify_all();
    for (auto& slot : slots_) {
      if (slot->thread.joinable()) slot->thread.join();
    }
    started_ = false;
  }

  Status CatchUp(std::string_view view, uint64_t to, const FoldProgress& progress) {
    if (db_->read_only()) return Status::FailedPrecondition("the views are open read-only");
    for (auto& slot : slots_) {
      if (!view.empty() && slot->spec.name != view) continue;
      ANNALS_RETURN_IF_ERROR(CatchUpSlot(*slot, to, progress));
    }
    if (!view.empty() && !Find(view)) return UnknownView(view);
    return Status::Ok();
  }

  Result<RebuildReport> Rebuild(std::string_view view, uint64_t to, const FoldProgress& progress) {
    if (db_->read_only()) return Status::FailedPrecondition("the views are open read-only");
    Slot* slot = Find(view);
    if (!slot) return UnknownView(view);
    std::lock_guard shadow_lock(slot->shadow_mu);
    auto started = Clock::now();
    ShadowFold shadow;
    ANNALS_RETURN_IF_ERROR(BeginShadow(*slot, &shadow));
    uint64_t target = to != 0 ? std::min(to, ledger_->GetHead().position) : LivePosition(*slot);
    ANNALS_RETURN_IF_ERROR(FoldShadow(*slot, &shadow, target, progress));
    {
      std::lock_guard fold_lock(slot->fold_mu);
      if (to == 0) target = LivePosition(*slot);  // the live view cannot move now
      ANNALS_RETURN_IF_ERROR(FoldShadow(*slot, &shadow, target, progress));
      shadow.projection->EndBulk();
      std::lock_guard lock(slot->mu);
      ANNALS_RETURN_IF_ERROR(db_->Swap(slot->spec.name, slot->version, shadow.generation));
      slot->live = std::move(shadow.projection);
      slot->generation = shadow.generation;
      slot->position = shadow.checkpoint;
      slot->built = true;
      slot->failed = false;
      slot->error.clear();
      slot->advanced.notify_all();
    }
    RebuildReport report;
    report.view = slot->spec.name;
    report.position = shadow.checkpoint;
    report.events = shadow.checkpoint;
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return report;
  }

  Result<CheckReport> Check(std::string_view view, const FoldProgress& progress) {
    if (db_->read_only()) return Status::FailedPrecondition("the views are open read-only");
    Slot* slot = Find(view);
    if (!slot) return UnknownView(view);
    std::lock_guard shadow_lock(slot->shadow_mu);
    ShadowFold shadow;
    ANNALS_RETURN_IF_ERROR(BeginShadow(*slot, &shadow));
    ANNALS_RETURN_IF_ERROR(FoldShadow(*slot, &shadow, LivePosition(*slot), progress));
    std::optional<ViewReader> live_rows;
    std::optional<ViewReader> shadow_rows;
    {
      std::lock_guard fold_lock(slot->fold_mu);
      ANNALS_RETURN_IF_ERROR(FoldShadow(*slot, &shadow, LivePosition(*slot), progress));
      shadow.projection->EndBulk();
      ANNALS_ASSIGN_OR_RETURN(live_rows, db_->Reader(slot->spec.name));
      ANNALS_ASSIGN_OR_RETURN(shadow_rows, db_->Reader(slot->spec.name, shadow.generation));
    }
    ANNALS_ASSERT(live_rows->position() == shadow_rows->position());
    Result<CheckReport> report = CompareRows(*live_rows, *shadow_rows);
    live_rows.reset();
    shadow_rows.reset();
    ANNALS_RETURN_IF_ERROR(db_->DropGeneration(slot->spec.name, shadow.generation));
    if (report.ok()) report->view = slot->spec.name;
    return report;
  }

  uint64_t WaitFor(std::string_view view, uint64_t position, std::chrono::milliseconds timeout) {
    Slot* slot = Find(view);
    if (!slot) return 0;
    timeout = std::min(timeout, std::chrono::milliseconds(kWaitForMsMax));
    std::unique_lock lock(slot->mu);
    slot->advanced.wait_for(lock, timeout, [&] { return slot->position >= position; });
    return slot->position;
  }

  Result<std::shared_ptr<Projection>> Live(std::string_view view) const {
    const Slot* slot = Find(view);
    if (!slot) return UnknownView(view);
    std::lock_guard lock(slot->mu);
    if (!slot->built) return Status::NotFound("view " + slot->spec.name + " is not built");
    return slot->live;
  }

  Result<ViewReader> Reader(std::string_view view) const {
    if (!Find(view)) return UnknownView(view);
    return db_->Reader(view);
  }

  std::vector<ViewStatus> Statuses() const {
    uint64_t head = ledger_->GetHead().position;
    std::vector<ViewStatus> out;
    for (const auto& slot : slots_) {
      std::lock_guard lock(slot->mu);
      ViewStatus status;
      status.name = slot->spec.name;
      status.version = slot->version;
      status.generation = slot->generation;
      status.position = slot->position;
      status.lag = head > slot->position ? head - slot->position : 0;
      status.state = slot->failed ? "failed" : status.lag == 0 ? "caught-up" : "folding";
      if (!slot->built) status.state = "not-built";
      status.error = slot->error;
      out.push_back(std::move(status));
    }
    return out;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& slot : slots_) out.push_back(slot->spec.name);
    return out;
  }

 private:
  // A generation being filled apart from the live one.
  struct ShadowFold {
    std::unique_ptr<Projection> projection;
    std::unique_ptr<FoldBatch> batch;
    uint32_t generation = 0;
    uint64_t checkpoint = 0;
  };

  static Status UnknownView(std::string_view view) {
    return Status::NotFound("no view named " + std::string(view));
  }

  Slot* Find(std::string_view view) const {
    for (const auto& slot : slots_) {
      if (slot->spec.name == view) return slot.get();
    }
    return nullptr;
  }

  static uint64_t LivePosition(const Slot& slot) {
    std::lock_guard lock(slot.mu);
    return slot.position;
  }

  Status OpenSlot(Slot& slot) {
    std::unique_ptr<Projection> live = slot.spec.make();
    ANNALS_ASSERT(live->name() == slot.spec.name);
    slot.version = live->version();
    ANNALS_ASSIGN_OR_RETURN(ViewMeta meta, db_->Meta(slot.spec.name));
    if (db_->read_only()) {
      // Serve what is stored; a server holding the database keeps it folded.
      slot.built = meta.exists;
      slot.generation = meta.live_generation;
    } else if (!meta.exists || meta.version != slot.version) {
      // Never built, or built by another version: a fresh generation folds from position 1.
      uint32_t generation = meta.exists ? meta.live_generation + 1 : 1;
      ANNALS_RETURN_IF_ERROR(db_->DropGeneration(slot.spec.name, generation));
      ANNALS_RETURN_IF_ERROR(db_->Swap(slot.spec.name, slot.version, generation));
      slot.built = true;
      slot.generation = generation;
    } else {
      slot.built = true;
      slot.generation = meta.live_generation;
    }
    if (slot.built) {
      ANNALS_ASSIGN_OR_RETURN(ViewReader reader, db_->Reader(slot.spec.name, slot.generation));
      slot.position = reader.position();
      ANNALS_RETURN_IF_ERROR(live->Load(reader));
    }
    slot.live = std::move(live);
    return Status::Ok();
  }

  // Folds at most one batch of (checkpoint, to] into `generation` through `projection`.
  // Returns the new checkpoint. Refuses a gap: the record after `checkpoint` must be next.
  Result<uint64_t> FoldBatchOf(Projection& projection, FoldBatch* batch, std::string_view view,
                               uint32_t generation, uint64_t checkpoint, uint64_t to) {
    if (to <= checkpoint) return checkpoint;
    FoldContext context{registry_name_};
    uint64_t expected = checkpoint + 1;
    size_t events = 0;
    Status inner;
    eventstore::Record record;
    Status scan = ledger_->Scan(expected, [&](uint64_t position, std::string_view stored) {
      if (position > to) return false;
      if (position != expected) {
        inner = Status::Corruption("view " + std::string(view) + " expected position " +
                                   std::to_string(expected) + " and the ledger gave " +
                                   std::to_string(position) + ": a projection never skips");
        return false;
      }
      // A record of a type the view ignores is passed without being decoded.
      const auto type = eventstore::PeekEventType(stored);
      if (!type || projection.Wants(*type)) {
        inner = eventstore::DecodeRecordAt(position, stored, &record);
        if (inner.ok()) inner = projection.Apply(context, record, batch->txn());
        if (!inner.ok()) return false;
      }
      ++expected;
      ++events;
      return events < kFoldBatchEventsMax && batch->data_bytes() < kFoldBatchBytesMax;
    });
    if (scan.ok()) scan = inner;
    if (scan.ok() && events == 0) {
      scan = Status::Corruption("view " + std::string(view) + " expected position " +
                                std::to_string(expected) + " below the ledger head " +
                                std::to_string(to) + " and the ledger has no such record");
    }
    if (scan.ok()) {
      scan = batch->Commit(expected - 1);
    } else {
      batch->Clear();
    }
    if (!scan.ok()) {
      projection.Abort();
      return scan;
    }
    ANNALS_ASSIGN_OR_RETURN(ViewReader reader, db_->Reader(view, generation));
    ANNALS_ASSERT(reader.position() == expected - 1);
    projection.Commit(reader);
    return expected - 1;
  }

  // Folds one batch into the live generation of `slot`, under its fold lock.
  Status FoldLiveBatch(Slot& slot, uint64_t to) {
    std::lock_guard fold_lock(slot.fold_mu);
    std::shared_ptr<Projection> live;
    uint32_t generation = 0;
    uint64_t position = 0;
    {
      std::lock_guard lock(slot.mu);
      if (slot.failed) return Status::FailedPrecondition(slot.error);
      live = slot.live;
      generation = slot.generation;
      position = slot.position;
    }
    if (!slot.batch || slot.batch_generation != generation) {
      slot.batch = db_->BeginBatch(slot.spec.name, generation);
      slot.batch_generation = generation;
    }
    Result<uint64_t> folded =
        FoldBatchOf(*live, slot.batch.get(), slot.spec.name, generation, position, to);
    std::lock_guard lock(slot.mu);
    if (!folded.ok()) {
      slot.error = folded.status().ToString();
      if (folded.status().code() == StatusCode::kCorruption) slot.failed = true;
      return folded.status();
    }
    slot.error.clear();
    slot.position = *folded;
    slot.advanced.notify_all();
    return Status::Ok();
  }

  Status CatchUpSlot(Slot& slot, uint64_t to, const FoldProgress& progress) {
    uint64_t head = ledger_->GetHead().position;
    uint64_t target = to == 0 ? head : std::min(to, head);
    uint64_t reported = 0;
    while (LivePosition(slot) < target) {
      ANNALS_RETURN_IF_ERROR(FoldLiveBatch(slot, target));
      uint64_t position = LivePosition(slot);
      if (progress && (position - reported >= kProgressEveryEvents || position == target)) {
        progress(position, target);
        reported = position;
      }
    }
    return Status::Ok();
  }

  void FoldLoop(Slot& slot) {
    while (!stopping_) {
      uint64_t position = LivePosition(slot);
      uint64_t head = ledger_->WaitForHead(position, kTailWaitMs);
      if (stopping_ || head <= position) continue;
      Status s = FoldLiveBatch(slot, head);
      if (s.ok()) continue;
      if (s.code() == StatusCode::kCorruption || s.code() == StatusCode::kFailedPrecondition) {
        return;  // refuses to skip: the view stays where it is, Statuses() says why
      }
      std::unique_lock lock(start_mu_wait_);
      stop_cv_.wait_for(lock, std::chrono::milliseconds(kFoldRetryMs), [&] { return stopping_.load(); });
    }
  }

  Status BeginShadow(Slot& slot, ShadowFold* shadow) {
    shadow->projection = slot.spec.make();
    shadow->projection->BeginBulk();  // nobody reads it before EndBulk (swap, compare)
    {
      std::lock_guard lock(slot.mu);
      shadow->generation = slot.generation + 1;
    }
    shadow->batch = db_->BeginBatch(slot.spec.name, shadow->generation);
    // A shadow left by a crashed rebuild or check is dropped first.
    return db_->DropGeneration(slot.spec.name, shadow->generation);
  }

  Status FoldShadow(Slot& slot, ShadowFold* shadow, uint64_t target, const FoldProgress& progress) {
    uint64_t reported = shadow->checkpoint;
    while (shadow->checkpoint < target) {
      ANNALS_ASSIGN_OR_RETURN(shadow->checkpoint,
                              FoldBatchOf(*shadow->projection, shadow->batch.get(),
                                          slot.spec.name, shadow->generation,
                                          shadow->checkpoint, target));
      if (progress && (shadow->checkpoint - reported >= kProgressEveryEvents ||
                       shadow->checkpoint == target)) {
        progress(shadow->checkpoint, target);
        reported = shadow->checkpoint;
      }
    }
    return Status::Ok();
  }

  static Result<CheckReport> CompareRows(const ViewReader& live, const ViewReader& rebuilt) {
    CheckReport report;
    report.position = live.position();
    // Both sides in key order: a merge of two sorted lists.
    std::vector<std::pair<std::string, std::string>> rebuilt_rows;
    ANNALS_RETURN_IF_ERROR(rebuilt.Scan("", "", [&](std::string_view k, std::string_view v) {
      rebuilt_rows.emplace_back(k, v);
      return true;
    }));
    size_t next = 0;
    auto differ = [&](std::string_view key, std::optional<std::string> l,
                      std::optional<std::string> r) {
      ++report.differences;
      if (report.first_differences.size() < kCheckDifferencesMax) {
        report.first_differences.push_back({std::string(key), std::move(l), std::move(r)});
      }
    };
    ANNALS_RETURN_IF_ERROR(live.Scan("", "", [&](std::string_view k, std::string_view v) {
      while (next < rebuilt_rows.size() && rebuilt_rows[next].first < k) {
        differ(rebuilt_rows[next].first, std::nullopt, rebuilt_rows[next].second);
        ++next;
      }
      ++report.rows_compared;
      if (next < rebuilt_rows.size() && rebuilt_rows[next].first == k) {
        if (rebuilt_rows[next].second != v) differ(k, std::string(v), rebuilt_rows[next].second);
        ++next;
      } else {
        differ(k, std::string(v), std::nullopt);
      }
      return true;
    }));
    for (; next < rebuilt_rows.size(); ++next) {
      differ(rebuilt_rows[next].first, std::nullopt, rebuilt_rows[next].second);
    }
    return report;
  }

  eventstore::Ledger* ledger_;
  ViewsDb* db_;
  std::string registry_name_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex start_mu_;
  std::mutex start_mu_wait_;
  std::condition_variable stop_cv_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
};

Result<std::unique_ptr<Runner>> Runner::Open(const RunnerOptions& options,
                                             std::vector<ViewSpec> views) {
  ANNALS_ASSERT(options.ledger != nullptr && options.db != nullptr);
  auto impl = std::make_unique<Impl>(options, std::move(views));
  ANNALS_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<Runner>(new Runner(std::move(impl)));
}

Runner::Runner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runner::~Runner() = default;
void Runner::Start() { impl_->Start(); }
void Runner::Stop() { impl_->Stop(); }
Status Runner::CatchUp(std::string_view view, uint64_t to, const FoldProgress& progress) {
  return impl_->CatchUp(view, to, progress);
}
Result<RebuildReport> Runner::Rebuild(std::string_view view, uint64_t to,
                                      const FoldProgress& progress) {
  return impl_->Rebuild(view, to, progress);
}
Result<CheckReport> Runner::Check(std::string_view view, const FoldProgress& progress) {
  return impl_->Check(view, progress);
}
uint64_t Runner::WaitFor(std::string_view view, uint64_t position,
                         std::chrono::milliseconds timeout) {
  return impl_->WaitFor(view, position, timeout);
}
Result<std::shared_ptr<Projection>> Runner::Live(std::string_view view) const {
  return impl_->Live(view);
}
Result<ViewReader> Runner::Reader(std::string_view view) const { return impl_->Reader(view); }
std::vector<ViewStatus> Runner::Statuses() const { return impl_->Statuses(); }
std::vector<std::string> Runner::names() const { return impl_->names(); }

}  // namespace annals::projections
