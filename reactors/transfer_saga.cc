// The transfer-saga reactor (reactor.h, RegistryReactors): a prepared cross-registry transfer
// that nothing settles by its deadline is rolled back.
//
// It tracks the open transfers of this registry's own origin: a registry.transfer.prepared.v1
// opens one, with its stream and revision; any later transfer event of the same transfer_id
// (committed, rolled_back, tokens.transferred) settles it. The deadline is the earlier of the
// prepared event's expires_at and kTransferCommitWindow after it was recorded. What is due
// becomes a registry.transfer.rolled_back.v1 in the transfer's stream, expected at the prepared
// event's revision: a commit appended first wins, and the rollback is dropped. The rollback's
// content depends only on the prepared record (its time is the deadline), so a replay that
// decides it again writes the same event under the same key: a Duplicate.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/base/time_format.h"
#include "annals/reactors/limits.h"
#include "annals/reactors/reactor.h"
#include "annals/schemas/event_types.h"
#include "internal/reaction_event.h"
#include "internal/record_data.h"
#include "internal/transfer_saga.h"

namespace annals::reactors {
namespace es = annals::eventstore;
namespace types = annals::schemas::event_types;

namespace {

constexpr std::string_view kName = "transfer-saga";

bool IsTransferType(std::string_view type) {
  return type == types::kTransferPrepared || type == types::kTransferCommitted ||
         type == types::kTransferRolledBack || type == types::kTokensTransferred;
}

class TransferSagaReactor final : public Reactor {
 public:
  explicit TransferSagaReactor(const es::Ledger* ledger) : ledger_(ledger) {}

  std::string_view name() const override { return kName; }
  bool Wants(std::string_view type) const override { return IsTransferType(type); }

  // The prepared transfers up to `checkpoint` whose streams hold nothing after them up to it.
  Status Resume(uint64_t checkpoint) override {
    open_.clear();
    by_deadline_.clear();
    uint64_t from = 1;
    while (from <= checkpoint) {
      ANNALS_ASSIGN_OR_RETURN(
          es::ReadPage page,
          ledger_->ReadAll({.from_position = from,
                            .limit = 1000,
                            .type = std::string(types::kTransferPrepared)}));
      for (const es::Record& prepared : page.records) {
        if (prepared.position() > checkpoint) return Status::Ok();
        ANNALS_RETURN_IF_ERROR(Track(prepared));
        if (prepared.stream().empty()) continue;
        ANNALS_ASSIGN_OR_RETURN(es::ReadPage next,
                                ledger_->ReadStream(prepared.stream(), prepared.revision() + 1, 1));
        if (!next.records.empty() && next.records.front().position() <= checkpoint) {
          Settle(TransferId(prepared));
        }
      }
      if (page.end || page.records.empty()) break;
      from = page.next;
    }
    return Status::Ok();
  }

  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    const std::string& type = record.event().type();
    if (type == types::kTransferPrepared) {
      ANNALS_RETURN_IF_ERROR(Track(record));
    } else if (IsTransferType(type) && internal::IsOwn(*ledger_, record)) {
      simdjson::dom::parser parser;
      ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, internal::ParseData(parser, record));
      Settle(internal::StringMember(data, "transfer_id"));
    }
    return std::vector<es::ProposedEvent>{};
  }

  std::vector<DueEvent> Due(int64_t now_ns) override {
    std::vector<DueEvent> due;
    while (!by_deadline_.empty() && by_deadline_.begin()->first <= now_ns) {
      const std::string id = by_deadline_.begin()->second;
      const Open& open = open_.at(id);
      due.push_back({open.position, Rollback(id, open)});
      Settle(id);
    }
    return due;
  }

 private:
  struct Open {
    uint64_t position = 0;  // of the prepared event
    std::string stream;
    uint64_t revision = 0;
    int64_t deadline_ns = 0;
  };

  std::string TransferId(const es::Record& prepared) const {
    simdjson::dom::parser parser;
    auto data = internal::ParseData(parser, prepared);
    return data.ok() ? internal::StringMember(*data, "transfer_id") : "";
  }

  // Opens the transfer `prepared` starts (when it is this registry's, with a stream).
  Status Track(const es::Record& prepared) {
    if (!internal::IsOwn(*ledger_, prepared) || prepared.stream().empty()) return Status::Ok();
    simdjson::dom::parser parser;
    ANNALS_ASSIGN_OR_RETURN(simdjson::dom::element data, internal::ParseData(parser, prepared));
    const std::string id = internal::StringMember(data, "transfer_id");
    int64_t seconds = 0;
    int32_t nanos = 0;
    if (id.empty() ||
        ParseRfc3339(internal::StringMember(data, "expires_at"), &seconds, &nanos).has_value()) {
      return Status::Corruption("position " + std::to_string(prepared.position()) +
                                ": a prepared transfer without transfer_id or expires_at");
    }
    Settle(id);  // prepared again under the same id: the later one counts
    Open open{prepared.position(), prepared.stream(), prepared.revision(),
              TransferDeadlineNs(prepared.recorded_at_ns(), seconds, nanos)};
    by_deadline_.emplace(open.deadline_ns, id);
    open_.emplace(id, std::move(open));
    return Status::Ok();
  }

  void Settle(const std::string& id) {
    auto it = open_.find(id);
    if (it == open_.end()) return;
    by_deadline_.erase({it->second.deadline_ns, id});
    open_.erase(it);
  }

  static es::ProposedEvent Rollback(const std::string& id, const Open& open) {
    JsonWriter data;
    data.BeginObject()
        .Member("transfer_id", id)
        .Member("reason", "not committed by " + FormatRfc3339Nanos(open.deadline_ns))
        .EndObject();
    // At the deadline, not at the prepared event's time: replays agree either way.
    es::ProposedEvent proposed =
        internal::ReactionEvent(kName, types::kTransferRolledBack, open.position, open.stream,
                                data.Release(), open.deadline_ns);
    proposed.stream = open.stream;
    proposed.expected = es::ExpectedRevision::Exact(open.revision);
    return proposed;
  }

  const es::Ledger* const ledger_;
  std::unordered_map<std::string, Open> open_;         // by transfer_id
  std::set<std::pair<int64_t, std::string>> by_deadline_;  // (deadline_ns, transfer_id)
};

}  // namespace

int64_t TransferDeadlineNs(int64_t recorded_at_ns, int64_t expires_seconds, int32_t expires_nanos) {
  constexpr int64_t kNsPerSecond = 1'000'000'000;
  const int64_t window_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(kTransferCommitWindow).count();
  const int64_t latest = recorded_at_ns + window_ns;
  // Nanoseconds since the epoch hold 1677 to 2262; RFC 3339 times run from year 1 to 9999. One
  // later than the window's end is past it; one before 1677 is long due.
  if (expires_seconds > latest / kNsPerSecond) return latest;
  if (expires_seconds <= std::numeric_limits<int64_t>::min() / kNsPerSecond) {
    return std::numeric_limits<int64_t>::min();
  }
  return std::min(latest, expires_seconds * kNsPerSecond + expires_nanos);
}

std::unique_ptr<Reactor> MakeTransferSaga(const es::Ledger* ledger) {
  return std::make_unique<TransferSagaReactor>(ledger);
}

}  // namespace annals::reactors
