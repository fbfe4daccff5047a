// Runner: keeps the views folded from the ledger.
//
// Open() reads each view's meta: a view never built, or built by another version of its
// projection, gets a fresh generation that folds from position 1 (a version bump rebuilds at
// start); otherwise the live generation resumes from its checkpoint. Start() gives each view a
// fold thread woken by the ledger's tail (Ledger::WaitForHead); CatchUp() folds on the caller's
// thread instead (annalsctl, with no server).
//
// A fold refuses to skip: every record must carry the position after the checkpoint; a gap
// stops the view with a Corruption error (Statuses() shows it) and nothing past it is folded.
// A storage error aborts the batch (nothing of it is written) and the thread retries after
// kFoldRetryMs.
//
// Rebuild() fills a shadow generation on the caller's thread while the live one keeps serving
// and folding, then, holding the view's fold lock, brings the shadow to the live position (or
// to `to`) and swaps in one write. Check() folds a shadow to the live position and compares
// every row.
//
// Thread-safety: every method is thread-safe. The Ledger and the ViewsDb must outlive the Runner.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"
#include "annals/projections/projection.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// A view the runner keeps: its name and how to make a fresh instance of its projection (one for
// the live generation, one per rebuild or check).
struct ViewSpec {
  std::string name;
  std::function<std::unique_ptr<Projection>()> make;
};

struct RunnerOptions {
  eventstore::Ledger* ledger = nullptr;  // not owned
  ViewsDb* db = nullptr;                 // not owned
  // The origin the views treat as their own (FoldContext). Default: the ledger's registry name.
  std::string registry_name;
};

struct ViewStatus {
  std::string name;
  uint32_t version = 0;
  uint32_t generation = 0;
  uint64_t position = 0;  // the last position folded
  uint64_t lag = 0;       // ledger head - position
  std::string state;      // "folding", "caught-up", "failed"
  std::string error;      // when failed, or the last retried error
};

// Called now and then during long folds: positions folded so far and the target.
using FoldProgress = std::function<void(uint64_t done, uint64_t total)>;

struct RebuildReport {
  std::string view;
  uint64_t position = 0;  // the position the new live generation reflects
  uint64_t events = 0;    // events folded
  double seconds = 0;
};

struct RowDifference {
  std::string key;
  std::optional<std::string> live;     // nullopt: missing in the live view
  std::optional<std::string> rebuilt;  // nullopt: missing in the rebuild
};

struct CheckReport {
  std::string view;
  uint64_t position = 0;      // the position both were compared at
  uint64_t rows_compared = 0;
  uint64_t differences = 0;   // all of them
  std::vector<RowDifference> first_differences;  // at most kCheckDifferencesMax
};

class Runner {
 public:
  static Result<std::unique_ptr<Runner>> Open(const RunnerOptions& options,
                                              std::vector<ViewSpec> views);
  ~Runner();  // Stop()
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Starts one fold thread per view. Idempotent.
  void Start();
  // Stops the fold threads after their current batch. Idempotent.
  void Stop();

  // Folds `view` ("" : every view) up to `to_position` (0: the ledger's head) on this thread.
  Status CatchUp(std::string_view view, uint64_t to_position, const FoldProgress& progress = {});

  // Rebuilds `view` into a shadow up to `to_position` (0: the live position, which keeps moving
  // while the rebuild runs) and swaps it in. With `to_position` below the live position the
  // view is left reflecting `to_position` (the runner folds onward from there).
  Result<RebuildReport> Rebuild(std::string_view view, uint64_t to_position,
                                const FoldProgress& progress = {});

  // Rebuilds `view` into a shadow at the live position and compares every row; drops the shadow.
  Result<CheckReport> Check(std::string_view view, const FoldProgress& progress = {});

  // Waits until `view` has folded `position` (bounded by kWaitForMsMax, no polling) and returns
  // the position it reflects then.
  uint64_t WaitFor(std::string_view view, uint64_t position, std::chrono::milliseconds timeout);

  // The live projection (for its query methods) and a snapshot of its rows. NotFound for an
  // unknown view.
  Result<std::shared_ptr<Projection>> Live(std::string_view view) const;
  Result<ViewReader> Reader(std::string_view view) const;

  std::vector<ViewStatus> Statuses() const;
  std::vector<std::string> names() const;

 private:
  class Impl;
  explicit Runner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::projections
