#include "annals/reactors/reactor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "annals/reactors/limits.h"
#include "internal/stop_flag.h"

namespace annals::reactors {
namespace es = annals::eventstore;

namespace {

bool IsValidReactorName(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
         });
}

std::string Truncated(std::string text) {
  if (text.size() > kStatusErrorBytesMax) text.resize(kStatusErrorBytesMax);
  return text;
}

}  // namespace

std::string ReactionKey(std::string_view reactor, uint64_t position, size_t index) {
  return "reactor/" + std::string(reactor) + "/" + std::to_string(position) + "/" +
         std::to_string(index);
}

// One reactor's thread: the tail of the ledger, each record reacted to, the checkpoint.
class ReactorRunner::Worker {
 public:
  Worker(es::Ledger* ledger, std::unique_ptr<Reactor> reactor, uint64_t checkpoint)
      : ledger_(ledger), reactor_(std::move(reactor)) {
    status_.name = std::string(reactor_->name());
    status_.state = "running";
    status_.position = checkpoint;
  }

  void Start() { thread_ = std::thread([this] { Run(); }); }

  void Stop() {
    stop_.Stop();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mu_);
    if (status_.state != "failed") status_.state = "stopped";
  }

  ReactorStatus status() const {
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  void Run() {
    uint64_t position = status().position;
    const std::string checkpoint = "reactor/" + status_.name;
    uint64_t saved_position = position;
    auto saved_at = std::chrono::steady_clock::now();
    std::vector<es::Record> wanted;
    if (!ResumeReactor(position)) return;
    while (!stop_.stopped()) {
      const uint64_t head = ledger_->WaitForHead(position, kTailWaitMs);
      if (head > position) {
        uint64_t read_to = position;
        Status scan = ReadPage(position, &wanted, &read_to);
        if (!scan.ok()) {
          Fail(scan.ToString(), /*final=*/false);
          if (!stop_.Pause(kRetryBackoffMax)) return;
          continue;
        }
        for (const es::Record& record : wanted) {
          if (!Handle(record)) return;
          std::lock_guard lock(mu_);
          status_.position = record.position();
        }
        std::lock_guard lock(mu_);
        status_.position = read_to;
        status_.handled += read_to - position;
        position = read_to;
      }
      if (!HandleDue(position)) return;
      // A hint only: a lost checkpoint replays causes whose events are then Duplicates.
      const auto now = std::chrono::steady_clock::now();
      const bool read_wanted = !wanted.empty();
      if (position > saved_position && (read_wanted || now - saved_at >= kIdleCheckpointIntervalMs)) {
        Status saved = ledger_->SaveCheckpoint(checkpoint, position);
        if (!saved.ok()) spdlog::warn("reactor {}: checkpoint: {}", status_.name, saved.ToString());
        saved_position = position;
        saved_at = now;
      }
      wanted.clear();
    }
  }

  // Reactor::Resume, retried with backoff until it succeeds; false when stopping.
  bool ResumeReactor(uint64_t checkpoint) {
    std::chrono::milliseconds backoff = kRetryBackoffMin;
    for (;;) {
      Status s = reactor_->Resume(checkpoint);
      if (s.ok()) return true;
      Fail("resuming from position " + std::to_string(checkpoint) + ": " + s.ToString(),
           /*final=*/false);
      if (!stop_.Pause(backoff)) return false;
      backoff = std::min(backoff * 2, kRetryBackoffMax);
    }
  }

  // Once every record up to the head has been read (`position`), appends what is due now
  // (Reactor::Due); false when stopping or failed.
  bool HandleDue(uint64_t position) {
    const es::Head head = ledger_->GetHead();
    if (position < head.position) return true;
    const int64_t wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    for (Reactor::DueEvent& due : reactor_->Due(std::max(wall_ns, head.recorded_at_ns))) {
      std::vector<es::ProposedEvent> events;
      events.push_back(std::move(due.event));
      const uint64_t cause = due.cause;
      if (!Handle(cause, [&]() -> Result<std::vector<es::ProposedEvent>> { return events; })) {
        return false;
      }
    }
    return true;
  }

  // The records after `position` (at most kReactorPageEventsMax), the ones the reactor wants
  // decoded into `wanted`; `read_to`: the last position read.
  Status ReadPage(uint64_t position, std::vector<es::Record>* wanted, uint64_t* read_to) {
    wanted->clear();  // a failed read may have left part of a page
    Status inner;
    Status scan = ledger_->Scan(position + 1, [&](uint64_t at, std::string_view stored) {
      if (const auto type = es::PeekEventType(stored); !type || reactor_->Wants(*type)) {
        es::Record record;
        inner = es::DecodeRecordAt(at, stored, &record);
        if (!inner.ok()) return false;
        wanted->push_back(std::move(record));
      }
      *read_to = at;
      return at - position < kReactorPageEventsMax;
    });
    return scan.ok() ? inner : scan;
  }

  void Fail(std::string error, bool final) {
    spdlog::log(final ? spdlog::level::err : spdlog::level::warn, "reactor {}: {}", status_.name,
                error);
    std::lock_guard lock(mu_);
    status_.last_error = Truncated(std::move(error));
    status_.state = final ? "failed" : "retrying";
    if (!final) ++status_.retries;
  }

  // Reacts to one record until its events are recorded; false when stopping or failed.
  bool Handle(const es::Record& record) {
    return Handle(record.position(), [&] { return reactor_->React(record); });
  }

  // Appends the events `react` gives for the record at `cause` until they are recorded (or
  // dropped: an expected revision no longer met); false when stopping or failed.
  bool Handle(uint64_t cause,
              const std::function<Result<std::vector<es::ProposedEvent>>()>& react) {
    std::chrono::milliseconds backoff = kRetryBackoffMin;
    int attempts = 0;
    while (true) {
      bool transient = false;
      std::string error = Attempt(cause, react, &transient);
      if (error.empty()) {
        std::lock_guard lock(mu_);
        if (status_.state == "retrying") status_.state = "running";
        return true;
      }
      if (!transient && ++attempts >= kReactorAttemptsMax) {
        Fail(fmt::format("position {}: {} (gave up after {} attempts; the reactor stops here)",
                         cause, error, attempts),
             /*final=*/true);
        return false;
      }
      Fail(fmt::format("position {}: {}", cause, error), /*final=*/false);
      if (!stop_.Pause(backoff)) return false;
      backoff = std::min(backoff * 2, kRetryBackoffMax);
    }
  }

  // One try: `react`, then append its events. "" when done; else why not.
  std::string Attempt(uint64_t cause,
                      const std::function<Result<std::vector<es::ProposedEvent>>()>& react,
                      bool* transient) {
    auto events = react();
    if (!events.ok()) {
      *transient = events.status().code() == StatusCode::kUnavailable;
      return events.status().ToString();
    }
    if (events->empty()) return "";
    for (size_t i = 0; i < events->size(); ++i) {
      (*events)[i].idempotency_key = ReactionKey(reactor_->name(), cause, i);
      (*events)[i].origin.clear();  // this registry
    }
    const std::vector<es::AppendOutcome> outcomes = ledger_->AppendBatch(std::move(*events));
    uint64_t appended = 0;
    uint64_t duplicates = 0;
    for (const es::AppendOutcome& outcome : outcomes) {
      if (outcome.code == es::AppendCode::kAppended) ++appended;
      if (outcome.code == es::AppendCode::kDuplicate) ++duplicates;
      if (outcome.code == es::AppendCode::kKeyReuse) {
        // Recorded before under this key with other content (the reactor changed since):
        // this cause has its reaction already.
        spdlog::warn("reactor {}: position {} was reacted to before with other events; kept",
                     status_.name, cause);
        ++duplicates;
        appended = 0;
        break;
      }
    }
    if (appended + duplicates == 0) {
      for (const es::AppendOutcome& outcome : outcomes) {
        if (outcome.code == es::AppendCode::kWrongRevision) {
          // The reactor asked for a stream state that no longer holds: nothing is written, and
          // the record that moved the stream comes next.
          spdlog::info("reactor {}: position {}'s reaction dropped: {}", status_.name, cause,
                       outcome.error.reason);
          return "";
        }
      }
      for (const es::AppendOutcome& outcome : outcomes) {
        if (outcome.recorded() || outcome.code == es::AppendCode::kBatchAborted) continue;
        *transient = outcome.code == es::AppendCode::kUnavailable;
        return fmt::format("appending its events: {} ({}: {})", es::AppendCodeName(outcome.code),
                           outcome.error.attribute, outcome.error.reason);
      }
    }
    std::lock_guard lock(mu_);
    status_.emitted += appended;
    status_.duplicates += duplicates;
    return "";
  }

  es::Ledger* const ledger_;
  const std::unique_ptr<Reactor> reactor_;
  internal::StopFlag stop_;
  mutable std::mutex mu_;
  ReactorStatus status_;    // guarded by mu_ (name: constant)
  std::thread thread_;
};

Result<std::unique_ptr<ReactorRunner>> ReactorRunner::Start(
    es::Ledger* ledger, std::vector<std::unique_ptr<Reactor>> reactors) {
  std::unique_ptr<ReactorRunner> runner(new ReactorRunner());
  std::set<std::string, std::less<>> names;
  for (auto& reactor : reactors) {
    const std::string name(reactor->name());
    if (!IsValidReactorName(name) || !names.insert(name).second) {
      return Status::InvalidArgument("reactor name '" + name + "' is invalid or repeated");
    }
    ANNALS_ASSIGN_OR_RETURN(uint64_t checkpoint, ledger->LoadCheckpoint("reactor/" + name));
    runner->workers_.push_back(std::make_unique<Worker>(ledger, std::move(reactor), checkpoint));
  }
  for (auto& worker : runner->workers_) worker->Start();
  return runner;
}

ReactorRunner::~ReactorRunner() { Stop(); }

void ReactorRunner::Stop() {
  for (auto& worker : workers_) worker->Stop();
}

std::vector<ReactorStatus> ReactorRunner::Statuses() const {
  std::vector<ReactorStatus> statuses;
  for (const auto& worker : workers_) statuses.push_back(worker->status());
  return statuses;
}

}  // namespace annals::reactors
