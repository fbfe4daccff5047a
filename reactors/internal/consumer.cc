#include "internal/consumer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <latch>
#include <vector>

#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/reactors/limits.h"
#include "internal/nats_event.h"

namespace annals::reactors::internal {
namespace es = annals::eventstore;
namespace pj = annals::projections;

namespace {

constexpr int64_t kNsPerMs = 1'000'000;
// A message the ledger could not take now (Unavailable) comes back after this.
constexpr int64_t kRedeliverDelayMs = 1000;

Headers HeadersOf(natsMsg* message) {
  Headers headers;
  const char** keys = nullptr;
  int count = 0;
  if (natsMsgHeader_Keys(message, &keys, &count) != NATS_OK) return headers;
  for (int i = 0; i < count; ++i) {
    const char** values = nullptr;
    int value_count = 0;
    if (natsMsgHeader_Values(message, keys[i], &values, &value_count) == NATS_OK) {
      for (int j = 0; j < value_count; ++j) headers.emplace_back(keys[i], values[j]);
      free(values);
    }
  }
  free(keys);
  return headers;
}

uint64_t StreamSequence(natsMsg* message) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, message) != NATS_OK) return 0;
  const uint64_t sequence = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return sequence;
}

}  // namespace

Consumer::Consumer(natsConnection* connection, es::Ledger* ledger, pj::Runner* views,
                   std::string registry, std::string peer)
    : connection_(connection),
      ledger_(ledger),
      views_(views),
      registry_(std::move(registry)),
      peer_(std::move(peer)),
      stream_(StreamName(peer_)),
      durable_("annals-" + registry_) {
  status_.peer = peer_;
  status_.stream = stream_;
  status_.consumer = durable_;
}

Consumer::~Consumer() { Stop(); }

void Consumer::Start() { thread_ = std::thread([this] { Run(); }); }

void Consumer::Stop() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(status_mu_);
  status_.state = "stopped";
}

ConsumerStatus Consumer::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

void Consumer::Failed(const Status& status) {
  spdlog::warn("replication from {}: {}", peer_, status.ToString());
  std::lock_guard lock(status_mu_);
  status_.state = "backing_off";
  ++status_.errors;
  status_.last_error = status.ToString().substr(0, kStatusErrorBytesMax);
}

void Consumer::Refuse(natsMsg* message, bool peer_not_active, const std::string& why) {
  natsMsg_Term(message, nullptr);
  const uint64_t sequence = StreamSequence(message);
  spdlog::warn("replication from {}: refused stream sequence {}: {}", peer_, sequence, why);
  std::lock_guard lock(status_mu_);
  ++(peer_not_active ? status_.refused_peer_not_active : status_.refused_malformed);
  status_.last_refusal = fmt::format("sequence {}: {}", sequence, why).substr(0, kStatusErrorBytesMax);
  status_.last_stream_sequence = std::max(status_.last_stream_sequence, sequence);
}

void Consumer::Run() {
  jsCtx* js = nullptr;
  if (natsStatus s = natsConnection_JetStream(&js, connection_, nullptr); s != NATS_OK) {
    Failed(Status::Unavailable("JetStream context: " + NatsError(s)));
    return;
  }
  js_.reset(js);
  std::chrono::milliseconds backoff = kRetryBackoffMin;
  while (!stop_.stopped()) {
    Status s = subscription_ ? Status::Ok() : Subscribe();
    while (s.ok() && !stop_.stopped()) {
      {
        std::lock_guard lock(status_mu_);
        status_.state = "consuming";
      }
      backoff = kRetryBackoffMin;
      s = ConsumeBatch();
    }
    if (stop_.stopped()) break;
    Failed(s);
    if (!stop_.Pause(backoff)) break;
    backoff = std::min(backoff * 2, kRetryBackoffMax);
  }
  subscription_.reset();  // the durable consumer stays on the server
}

Status Consumer::Subscribe() {
  const std::string subjects = StreamSubjects(peer_);
  jsSubOptions options;
  jsSubOptions_Init(&options);
  options.Stream = stream_.c_str();
  options.Config.Durable = durable_.c_str();
  options.Config.AckPolicy = js_AckExplicit;
  options.Config.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(kAckWait).count();
  options.Config.MaxAckPending = kAckPendingMax;
  options.Config.DeliverPolicy = js_DeliverAll;
  natsSubscription* subscription = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus s = js_PullSubscribe(&subscription, js_.get(), subjects.c_str(), durable_.c_str(),
                                  nullptr, &options, &js_error);
  if (s != NATS_OK) {
    return Status::Unavailable(fmt::format("subscribing to {} as {}: {}", stream_, durable_,
                                           NatsError(s, js_error)));
  }
  subscription_.reset(subscription);
  return Status::Ok();
}

Result<std::string> Consumer::PeerStatus() {
  const uint64_t head = ledger_->GetHead().position;
  const uint64_t reached = views_->WaitFor(pj::kPeersView, head, kPeerStatusWaitMs);
  if (reached < head) {
    return Status::Unavailable(fmt::format("the peers view is at {}, behind the ledger's head "
                                           "{}: the peer's status is not known yet",
                                           reached, head));
  }
  ANNALS_ASSIGN_OR_RETURN(pj::ViewReader reader, views_->Reader(pj::kPeersView));
  Result<std::string> status = pj::PeerStatus(reader, peer_);
  if (status.status().code() == StatusCode::kNotFound) return std::string("NOT_A_PEER");
  return status;
}

void Consumer::RefreshLag() {
  const auto now = std::chrono::steady_clock::now();
  if (now - lag_refreshed_ < kLagRefreshMs) return;
  lag_refreshed_ = now;
  jsConsumerInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  if (natsSubscription_GetConsumerInfo(&info, subscription_.get(), nullptr, &js_error) != NATS_OK) {
    return;
  }
  NatsPtr<jsConsumerInfo> owned(info);
  std::lock_guard lock(status_mu_);
  status_.lag = info->NumPending + static_cast<uint64_t>(info->NumAckPending);
}

Status Consumer::ConsumeBatch() {
  natsMsgList list{};
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus s = natsSubscription_Fetch(&list, subscription_.get(), kFetchBatchMax,
                                        kFetchWaitMs.count(), &js_error);
  if (s == NATS_TIMEOUT) {
    RefreshLag();
    return Status::Ok();
  }
  if (s != NATS_OK) {
    subscription_.reset();
    return Status::Unavailable(fmt::format("fetching from {}: {}", stream_, NatsError(s, js_error)));
  }
  struct Item {
    natsMsg* message;
    DecodedMessage decoded;
    es::AppendOutcome outcome;
  };
  std::vector<Item> items;
  items.reserve(list.Count);
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* message = list.Msgs[i];
    std::string payload(natsMsg_GetData(message) ? natsMsg_GetData(message) : "",
                        static_cast<size_t>(natsMsg_GetDataLength(message)));
    items.push_back({message, DecodeFromNats(HeadersOf(message), std::move(payload), peer_), {}});
  }

  Result<std::string> peer_status = PeerStatus();
  if (!peer_status.ok()) {
    for (Item& item : items) natsMsg_NakWithDelay(item.message, kRedeliverDelayMs, nullptr);
    natsMsgList_Destroy(&list);
    return peer_status.status();
  }
  // Each event is its own batch (one refusal must not hold back the others); queued in order
  // from this one thread, they are recorded in the peer's order.
  std::vector<size_t> submitted;
  for (size_t i = 0; i < items.size(); ++i) {
    if (*peer_status != "ACTIVE") {
      Refuse(items[i].message, true,
             *peer_status == "NOT_A_PEER"
                 ? fmt::format("{} is not a peer of this registry", peer_)
                 : fmt::format("peer {} is {}, not ACTIVE", peer_, *peer_status));
    } else if (!items[i].decoded.event) {
      Refuse(items[i].message, false, "malformed: " + items[i].decoded.error);
    } else {
      submitted.push_back(i);
    }
  }
  std::latch done(static_cast<ptrdiff_t>(submitted.size()));
  for (size_t i : submitted) {
    std::vector<es::ProposedEvent> one;
    one.push_back(std::move(*items[i].decoded.event));
    ledger_->Submit(std::move(one), [&items, &done, i](std::vector<es::AppendOutcome> outcomes) {
      items[i].outcome = std::move(outcomes.front());
      done.count_down();
    });
  }
  done.wait();

  Status result = Status::Ok();
  natsMsg* last_recorded = nullptr;
  uint64_t appended = 0;
  uint64_t duplicates = 0;
  uint64_t last_peer_position = 0;
  uint64_t last_local_position = 0;
  uint64_t last_sequence = 0;
  for (size_t i : submitted) {
    Item& item = items[i];
    const es::AppendOutcome& outcome = item.outcome;
    if (outcome.recorded()) {
      if (last_recorded != nullptr) natsMsg_Ack(last_recorded, nullptr);
      last_recorded = item.message;
      ++(outcome.code == es::AppendCode::kAppended ? appended : duplicates);
      last_peer_position = std::max(last_peer_position, item.decoded.peer_position);
      last_local_position = std::max(last_local_position, outcome.position);
      last_sequence = std::max(last_sequence, StreamSequence(item.message));
    } else if (outcome.code == es::AppendCode::kUnavailable) {
      natsMsg_NakWithDelay(item.message, kRedeliverDelayMs, nullptr);
      result = Status::Unavailable("this ledger refused an append: " + outcome.error.reason);
    } else {
      Refuse(item.message, false,
             fmt::format("refused by this ledger: {} ({}: {})", es::AppendCodeName(outcome.code),
                         outcome.error.attribute, outcome.error.reason));
    }
  }
  if (last_recorded != nullptr) {
    // Synchronous: the server has taken this ack, and the ones before it on this connection.
    s = natsMsg_AckSync(last_recorded, nullptr, &js_error);
    if (s != NATS_OK) {
      result = Status::Unavailable(fmt::format("acknowledging: {} (the messages come back and "
                                               "are found Duplicates)",
                                               NatsError(s, js_error)));
    }
  }
  natsMsgList_Destroy(&list);
  {
    std::lock_guard lock(status_mu_);
    status_.appended += appended;
    status_.duplicates += duplicates;
    if (last_peer_position > 0) status_.last_peer_position = last_peer_position;
    if (last_local_position > 0) status_.last_local_position = last_local_position;
    status_.last_stream_sequence = std::max(status_.last_stream_sequence, last_sequence);
  }
  RefreshLag();
  return result;
}

}  // namespace annals::reactors::internal
