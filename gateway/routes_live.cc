// GET /api/v1/events/live?from=&type=&stream=: the ledger as Server-Sent Events
// (text/event-stream). Each record is one event: "id: <position>" and "data: <the record JSON,
// one line, as GET /api/v1/events/{position} serves it>"; no "event:" field, so that every
// record reaches an EventSource's onmessage (the type is in the data). The stream starts at
// `from` (default: after the head as it is when the request arrives), or after the position in
// Last-Event-ID, which takes precedence; it replays the history in pages, then follows the tail
// through the LiveHub (internal/live.h has the model, and how the hand-over leaves no gap and
// no repeat). A ": ping" comment is written after sse_heartbeat_ms with nothing written.
//
// Limits: sse_connections_max open streams (one more: 503); a client whose queue passes
// sse_queue_bytes_max is disconnected. A stream ends when the server stops (the body is ended),
// and when a read of the ledger fails (the client resumes with Last-Event-ID).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

#include "annals/base/assert.h"
#include "annals/base/coding.h"
#include "annals/eventstore/ledger.h"
#include "annals/eventstore/record_json.h"
#include "internal/live.h"
#include "internal/metrics.h"
#include "internal/problem.h"
#include "internal/query.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace es = annals::eventstore;

namespace {

// The tail thread's longest wait on the ledger's head before it checks whether it is stopping
// (a commit wakes it at once; this bounds Stop, it is not a poll).
constexpr auto kTailWait = std::chrono::milliseconds(200);
// After a failed read of the tail, the next try.
constexpr auto kTailRetry = std::chrono::milliseconds(1000);

constexpr std::string_view kLastEventIdHeader = "last-event-id";
constexpr std::string_view kHeartbeat = ": ping\n\n";

Frame EventFrame(const es::Record& record) {
  return std::make_shared<const std::string>(SseEvent(record.position(), es::RecordToJson(record)));
}

// Where the stream starts: after Last-Event-ID when given (and not empty: an EventSource sends
// none until it has an id), else `from`, else after the current head.
std::optional<Response> ReadStart(const RouteContext* context, const Request& request,
                                  const QueryParams& query, uint64_t* next) {
  const uint64_t after_head = context->ledger->GetHead().position + 1;
  if (auto problem = ReadUint(query, "from", after_head, 1,
                              std::numeric_limits<uint64_t>::max(), next)) {
    return problem;
  }
  if (request.header_count(kLastEventIdHeader) > 1) {
    return InvalidParameter(kLastEventIdHeader, "the header Last-Event-ID appears more than once");
  }
  const std::string* last = request.header(kLastEventIdHeader);
  if (last == nullptr || last->empty()) return std::nullopt;
  const std::optional<uint64_t> position = ParseDecimal(*last);
  if (!position || *position == std::numeric_limits<uint64_t>::max()) {
    return InvalidParameter(kLastEventIdHeader,
                            fmt::format("Last-Event-ID is the position of the last event "
                                        "received, a whole number; not '{}'",
                                        *last));
  }
  *next = *position + 1;
  return std::nullopt;
}

// Replays the history of one stream from subscriber->next, a page at a time (the next page is
// read once this one is written), then subscribes it to the tail. Runs on the blocking pool.
void Replay(RouteContext* context, const std::shared_ptr<LiveHub::Subscriber>& subscriber) {
  for (;;) {
    if (subscriber->out->closed()) return;
    es::ReadAllOptions options;
    options.from_position = subscriber->next;
    options.limit = kSseReadPageEvents;
    options.type = subscriber->type;
    options.stream = subscriber->stream;
    auto page = context->ledger->ReadAll(options);
    if (!page.ok()) {
      spdlog::error("event stream: reading from position {}: {}", subscriber->next,
                    page.status().ToString());
      return subscriber->out->End();
    }
    ANNALS_ASSERT(page->next >= subscriber->next);
    subscriber->next = page->next;
    if (!page->records.empty()) {
      // At most about a queue's worth of bytes held for the client; the rest is read again.
      std::vector<Frame> frames;
      size_t bytes = 0;
      for (const es::Record& record : page->records) {
        if (bytes >= context->options.sse_queue_bytes_max) {
          subscriber->next = record.position();
          break;
        }
        frames.push_back(EventFrame(record));
        bytes += frames.back()->size();
      }
      return subscriber->out->Write(std::move(frames), [context, subscriber] {
        context->run_blocking([context, subscriber] { Replay(context, subscriber); });
      });
    }
    // An empty page reached the head as it was when read.
    switch (context->live->TrySubscribe(subscriber)) {
      case LiveHub::Subscribe::kLive: return;
      case LiveHub::Subscribe::kBehind: continue;  // events came meanwhile: read them first
      case LiveHub::Subscribe::kStopped: return subscriber->out->End();
    }
  }
}

void HandleLive(RouteContext* context, Request& request, const Reply& reply) {
  QueryParams query;
  if (auto problem = ReadQuery(request, {"from", "type", "stream"}, &query)) {
    return reply(*problem);
  }
  auto subscriber = std::make_shared<LiveHub::Subscriber>();
  if (auto problem = ReadStart(context, request, query, &subscriber->next)) return reply(*problem);
  if (const std::string* type = QueryValue(query, "type")) subscriber->type = *type;
  if (const std::string* stream = QueryValue(query, "stream")) subscriber->stream = *stream;
  if (!context->live->Admit()) {
    return reply(Problem(ProblemKind::kUnavailable,
                         fmt::format("the server holds {} event streams, the most it takes",
                                     context->options.sse_connections_max)));
  }
  context->metrics->StreamOpened();
  StreamOptions options;
  options.queue_bytes_max = context->options.sse_queue_bytes_max;
  options.heartbeat_ms = context->options.sse_heartbeat_ms;
  options.heartbeat = std::string(kHeartbeat);
  // The subscriber is only named here: the hub and the replay own it.
  options.on_close = [context, key = subscriber.get()](StreamEnd end) {
    context->live->Unsubscribe(key);
    context->live->Release();
    context->metrics->StreamClosed(end == StreamEnd::kSlowClient);
  };
  Response head;
  head.content_type = "text/event-stream";
  head.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
  subscriber->out = StartStream(reply, std::move(head), std::move(options));
  if (subscriber->out == nullptr) {
    // A wrapped Reply (no session behind it) cannot stream; StartStream answered nothing.
    context->live->Release();
    context->metrics->StreamClosed(false);
    return reply(Problem(ProblemKind::kInternal, "this request cannot be answered with a stream"));
  }
  context->run_blocking([context, subscriber] { Replay(context, subscriber); });
}

}  // namespace

std::string SseEvent(uint64_t position, std::string_view record_json) {
  // JSON text escapes line breaks inside strings and has none outside them when minified: one
  // data line.
  ANNALS_ASSERT(record_json.find_first_of("\r\n") == std::string_view::npos);
  return fmt::format("id: {}\ndata: {}\n\n", position, record_json);
}

// ------------------------------------------------------------------------------- LiveHub

LiveHub::LiveHub(const es::Ledger* ledger, size_t streams_max)
    : ledger_(ledger), streams_max_(streams_max) {
  ANNALS_ASSERT(ledger != nullptr && streams_max >= 1);
}

LiveHub::~LiveHub() { Stop(); }

void LiveHub::Start() {
  ANNALS_ASSERT(!thread_.joinable());
  {
    std::lock_guard lock(mu_);
    tail_ = ledger_->GetHead().position;
  }
  thread_ = std::thread([this] { TailLoop(); });
}

void LiveHub::Stop() {
  std::unordered_map<const Subscriber*, std::shared_ptr<Subscriber>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(subscribers_);
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Destroyed outside the lock: a stream's last owner may be a subscriber, and its close
  // unsubscribes.
  dropped.clear();
}

bool LiveHub::Admit() {
  std::lock_guard lock(mu_);
  if (streams_ >= streams_max_) return false;
  ++streams_;
  return true;
}

void LiveHub::Release() {
  std::lock_guard lock(mu_);
  ANNALS_ASSERT(streams_ > 0);
  --streams_;
}

LiveHub::Subscribe LiveHub::TrySubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  ANNALS_ASSERT(subscriber->out != nullptr);
  std::lock_guard lock(mu_);
  if (stopping_) return Subscribe::kStopped;
  if (subscriber->next <= tail_) return Subscribe::kBehind;
  subscribers_.emplace(subscriber.get(), subscriber);
  return Subscribe::kLive;
}

void LiveHub::Unsubscribe(const Subscriber* subscriber) {
  std::shared_ptr<Subscriber> gone;  // destroyed outside the lock (see Stop)
  std::lock_guard lock(mu_);
  auto it = subscribers_.find(subscriber);
  if (it == subscribers_.end()) return;
  gone = std::move(it->second);
  subscribers_.erase(it);
}

void LiveHub::TailLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const uint64_t tail = tail_;
    lock.unlock();
    const auto waited_from = std::chrono::steady_clock::now();
    const uint64_t head = ledger_->WaitForHead(tail, kTailWait);
    lock.lock();
    if (stopping_) break;
    if (head <= tail_) {
      // No commit. A closed ledger answers at once: wait here instead of spinning.
      if (std::chrono::steady_clock::now() - waited_from < kTailWait) {
        stop_cv_.wait_for(lock, kTailWait, [this] { return stopping_; });
      }
      continue;
    }
    if (subscribers_.empty()) {
      // Nobody to tell: a stream subscribing later replays up to here first.
      tail_ = head;
      continue;
    }
    lock.unlock();
    const bool read = FanOut(head);
    lock.lock();
    if (!read) stop_cv_.wait_for(lock, kTailRetry, [this] { return stopping_; });
  }
}

bool LiveHub::FanOut(uint64_t head) {
  uint64_t from = 0;
  {
    std::lock_guard lock(mu_);
    from = tail_ + 1;
  }
  while (from <= head) {
    es::ReadAllOptions options;
    options.from_position = from;
    options.limit = kSseReadPageEvents;
    auto page = ledger_->ReadAll(options);
    if (!page.ok()) {
      spdlog::error("event streams: reading the tail from position {}: {}", from,
                    page.status().ToString());
      return false;
    }
    if (page->records.empty()) return true;
    std::vector<Event> events;
    events.reserve(page->records.size());
    for (const es::Record& record : page->records) {
      ANNALS_ASSERT(record.position() == from + events.size());  // gapless
      events.push_back({record.position(), record.event().type(), record.stream(),
                        EventFrame(record)});
    }
    // Who gets this page, and the new tail, in one step: a stream subscribing after it needs
    // none of these events, and one subscribed before it gets all of them.
    std::vector<std::shared_ptr<Subscriber>> subscribers;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return true;
      tail_ = events.back().position;
      subscribers.reserve(subscribers_.size());
      for (const auto& entry : subscribers_) subscribers.push_back(entry.second);
    }
    for (const auto& subscriber : subscribers) {
      for (const Event& event : events) {
        if (event.position < subscriber->next) continue;
        if (!subscriber->type.empty() && event.type != subscriber->type) continue;
        if (!subscriber->stream.empty() && event.stream != subscriber->stream) continue;
        if (!subscriber->out->Offer(event.frame)) break;  // cut or closed
      }
    }
    from = events.back().position + 1;
  }
  return true;
}

// ------------------------------------------------------------------------------- the route

void AddLiveRoutes(Router* router, RouteContext* context) {
  router->Add("GET", "/api/v1/events/live", [context](Request& request, Reply reply) {
    HandleLive(context, request, reply);
  });
}

}  // namespace annals::gateway
