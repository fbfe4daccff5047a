#include "internal/publisher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "annals/base/coding.h"
#include "annals/eventstore/content_mode.h"
#include "annals/reactors/limits.h"
#include "internal/nats_event.h"

namespace annals::reactors::internal {
namespace es = annals::eventstore;

namespace {

constexpr char kExpectedLastMsgIdHeader[] = "Nats-Expected-Last-Msg-Id";
constexpr char kCheckpoint[] = "publisher";

// A header's value as a position; nullopt when absent or not one.
std::optional<uint64_t> ParsePosition(const char* text) {
  if (text == nullptr) return std::nullopt;
  return ParseDecimal(text);
}

}  // namespace

Publisher::Publisher(natsConnection* connection, es::Ledger* ledger, std::string registry,
                     int replicas)
    : connection_(connection),
      ledger_(ledger),
      registry_(std::move(registry)),
      stream_(StreamName(registry_)),
      replicas_(replicas) {
  status_.stream = stream_;
}

Publisher::~Publisher() { Stop(); }

void Publisher::Start() { thread_ = std::thread([this] { Run(); }); }

void Publisher::Stop() {
  stop_.Stop();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(status_mu_);
  status_.state = "stopped";
}

PublisherStatus Publisher::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

void Publisher::Failed(const Status& status) {
  spdlog::warn("replication publisher ({}): {}", stream_, status.ToString());
  std::lock_guard lock(status_mu_);
  status_.state = "backing_off";
  ++status_.errors;
  status_.last_error = status.ToString().substr(0, kStatusErrorBytesMax);
}

void Publisher::Run() {
  jsOptions options;
  jsOptions_Init(&options);
  options.PublishAsync.AckHandler = &Publisher::OnAck;
  options.PublishAsync.AckHandlerClosure = this;
  options.PublishAsync.MaxPending = static_cast<int64_t>(kPublishWindowMax);
  jsCtx* js = nullptr;
  if (natsStatus s = natsConnection_JetStream(&js, connection_, &options); s != NATS_OK) {
    Failed(Status::Unavailable("JetStream context: " + NatsError(s)));
    return;
  }
  js_.reset(js);
  std::chrono::milliseconds backoff = kRetryBackoffMin;
  while (!stop_.stopped()) {
    Status s = EnsureStream();
    if (s.ok()) s = Resync();
    while (s.ok() && !stop_.stopped()) {
      {
        std::lock_guard lock(status_mu_);
        status_.state = "publishing";
      }
      backoff = kRetryBackoffMin;
      s = PublishWindow();
    }
    if (stop_.stopped()) break;
    Failed(s);
    DropPending();  // its acks must not count for the next window
    if (!stop_.Pause(backoff)) break;
    backoff = std::min(backoff * 2, kRetryBackoffMax);
  }
  DropPending();
}

void Publisher::DropPending() {
  // nats.c 3.4 crashes in js_PublishAsyncGetPendingList on a context that never published
  // asynchronously: ask only after a publish.
  if (!published_async_) return;
  natsMsgList pending{};
  if (js_PublishAsyncGetPendingList(&pending, js_.get()) == NATS_OK) natsMsgList_Destroy(&pending);
  // An OnAck may be under way still: nats.c takes its message out of the pending list before
  // calling it, without its lock held, so the list above missed it. nats.c counts a message as
  // pending until its handler has returned, and the list took back (and uncounted) every other
  // one: js_PublishAsyncComplete now waits for exactly the handlers running. Without this
  // wait such a handler could write a stale answer into the next window's acks_, or run after
  // Stop on a destroyed Publisher. The handlers only take acks_mu_, so the wait is short; it
  // has no bound because returning while one runs is the defect it prevents.
  jsPubOptions options;
  jsPubOptions_Init(&options);
  options.MaxWait = kPublishAckWaitMs.count();
  while (js_PublishAsyncComplete(js_.get(), &options) == NATS_TIMEOUT) {
    spdlog::warn("replication publisher ({}): still waiting for a PubAck handler to return",
                 stream_);
  }
}

Status Publisher::EnsureStream() {
  const std::string subjects = StreamSubjects(registry_);
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = stream_.c_str();
  config.Subjects = subject_list;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Retention = js_LimitsPolicy;
  config.Replicas = replicas_;
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus s = js_AddStream(&info, js_.get(), &config, nullptr, &js_error);
  if (s != NATS_OK && js_error == JSStreamNameExistErr) {
    s = js_UpdateStream(&info, js_.get(), &config, nullptr, &js_error);
  }
  NatsPtr<jsStreamInfo> owned(info);
  if (s != NATS_OK) {
    return Status::Unavailable(fmt::format("creating or updating stream {}: {}", stream_,
                                           NatsError(s, js_error)));
  }
  return Status::Ok();
}

// The stream says what was published: resume after its last message.
Status Publisher::Resync() {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info, js_.get(), stream_.c_str(), nullptr, &js_error);
  NatsPtr<jsStreamInfo> owned_info(info);
  if (s != NATS_OK) {
    return Status::Unavailable(fmt::format("reading stream {}: {}", stream_, NatsError(s, js_error)));
  }
  const uint64_t last_sequence = info->State.LastSeq;
  uint64_t position = 0;
  std::string key;
  if (last_sequence > 0) {
    natsMsg* message = nullptr;
    s = js_GetMsg(&message, js_.get(), stream_.c_str(), last_sequence, nullptr, &js_error);
    NatsPtr<natsMsg> owned(message);
    if (s != NATS_OK) {
      return Status::Unavailable(fmt::format("reading the last message of {}: {}", stream_,
                                             NatsError(s, js_error)));
    }
    const char* position_text = nullptr;
    const char* msg_id = nullptr;
    natsMsgHeader_Get(message, kPositionHeader, &position_text);
    natsMsgHeader_Get(message, kMsgIdHeader, &msg_id);
    const std::optional<uint64_t> parsed = ParsePosition(position_text);
    if (!parsed || msg_id == nullptr) {
      return Status::FailedPrecondition(fmt::format(
          "the last message of {} (sequence {}) has no {} and {} headers: another publisher "
          "writes to this registry's stream",
          stream_, last_sequence, kPositionHeader, kMsgIdHeader));
    }
    position = *parsed;
    key = msg_id;
  }
  if (position > ledger_->GetHead().position) {
    return Status::FailedPrecondition(fmt::format(
        "stream {} holds position {}, past this ledger's head {}: it belongs to another "
        "ledger of the same registry name",
        stream_, position, ledger_->GetHead().position));
  }
  next_ = position + 1;
  last_key_ = std::move(key);
  std::lock_guard lock(status_mu_);
  status_.position = position;
  status_.stream_sequence = last_sequence;
  return Status::Ok();
}

Status Publisher::PublishWindow() {
  if (ledger_->WaitForHead(next_ - 1, kTailWaitMs) < next_) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(es::ReadPage page,
                          ledger_->ReadAll({.from_position = next_, .limit = kPublishWindowMax}));
  if (page.records.empty()) return Status::Ok();
  const uint64_t page_end = page.records.back().position();
  std::vector<OutgoingMessage> window;
  for (const es::Record& record : page.records) {
    if (!record.origin().empty() && record.origin() != ledger_->registry_name()) continue;
    window.push_back(EncodeForNats(record, registry_));
  }
  if (window.empty()) {
    next_ = page_end + 1;
    return Status::Ok();
  }
  {
    std::lock_guard lock(acks_mu_);
    acks_.clear();
    acked_duplicates_ = 0;
  }
  jsPubOptions publish_options;
  jsPubOptions_Init(&publish_options);
  publish_options.MaxWait = kPublishAckWaitMs.count();
  std::string previous = last_key_;
  const std::string structured(es::kStructuredMediaType);
  for (const OutgoingMessage& out : window) {
    natsMsg* message = nullptr;
    natsStatus s = natsMsg_Create(&message, out.subject.c_str(), nullptr, out.payload.data(),
                                  static_cast<int>(out.payload.size()));
    const std::string position = std::to_string(out.position);
    if (s == NATS_OK) s = natsMsgHeader_Set(message, kContentTypeHeader, structured.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(message, kMsgIdHeader, out.msg_id.c_str());
    if (s == NATS_OK) s = natsMsgHeader_Set(message, kPositionHeader, position.c_str());
    if (s == NATS_OK && !previous.empty()) {
      s = natsMsgHeader_Set(message, kExpectedLastMsgIdHeader, previous.c_str());
    }
    if (s == NATS_OK) {
      s = js_PublishMsgAsync(js_.get(), &message, &publish_options);
      published_async_ = true;
    }
    natsMsg_Destroy(message);  // no-op when the library took it
    if (s != NATS_OK) {
      return Status::Unavailable(fmt::format("publishing position {}: {}", out.position,
                                             NatsError(s)));
    }
    previous = out.msg_id;
  }
  jsPubOptions complete_options;
  jsPubOptions_Init(&complete_options);
  complete_options.MaxWait = kPublishAckWaitMs.count();
  natsStatus s = js_PublishAsyncComplete(js_.get(), &complete_options);
  // Acknowledged in order: the stream holds the window up to the first message without a
  // PubAck (Nats-Expected-Last-Msg-Id refuses anything after a gap).
  uint64_t acked_position = 0;
  std::string acked_key;
  size_t acked = 0;
  std::string error;
  uint64_t duplicates = 0;
  uint64_t last_sequence = 0;
  {
    std::lock_guard lock(acks_mu_);
    for (const OutgoingMessage& out : window) {
      auto it = acks_.find(out.position);
      if (it == acks_.end() || !it->second.empty()) {
        error = it == acks_.end() ? "no PubAck within the wait" : it->second;
        error = fmt::format("position {}: {}", out.position, error);
        break;
      }
      acked_position = out.position;
      acked_key = out.msg_id;
      ++acked;
    }
    duplicates = acked_duplicates_;
    last_sequence = acked_last_sequence_;
  }
  if (acked > 0) {
    last_key_ = acked_key;
    next_ = acked == window.size() ? page_end + 1 : acked_position + 1;
    Status saved = ledger_->SaveCheckpoint(kCheckpoint, next_ - 1);
    if (!saved.ok()) spdlog::warn("replication publisher: checkpoint: {}", saved.ToString());
  }
  {
    std::lock_guard lock(status_mu_);
    status_.published += acked;
    status_.duplicates += duplicates;
    if (acked > 0) status_.position = next_ - 1;
    if (last_sequence > status_.stream_sequence) status_.stream_sequence = last_sequence;
  }
  if (!error.empty()) return Status::Unavailable(error);
  if (s != NATS_OK) return Status::Unavailable("waiting for PubAcks: " + NatsError(s));
  return Status::Ok();
}

void Publisher::OnAck(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* closure) {
  auto* self = static_cast<Publisher*>(closure);
  const char* position_text = nullptr;
  natsMsgHeader_Get(message, kPositionHeader, &position_text);
  const std::optional<uint64_t> position = ParsePosition(position_text);
  if (position) {
    std::lock_guard lock(self->acks_mu_);
    if (ack != nullptr) {
      self->acks_[*position] = "";
      if (ack->Duplicate) ++self->acked_duplicates_;
      if (ack->Sequence > self->acked_last_sequence_) self->acked_last_sequence_ = ack->Sequence;
    } else if (error != nullptr) {
      std::string text = error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err);
      if (error->ErrCode != 0) text += fmt::format(" (JetStream error {})", static_cast<int>(error->ErrCode));
      self->acks_[*position] = text.empty() ? "refused" : text;
    }
  }
  natsMsg_Destroy(message);
}

}  // namespace annals::reactors::internal
