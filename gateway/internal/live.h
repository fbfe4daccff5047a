// The Server-Sent Events tail (GET /api/v1/events/live): streamed responses, written by the
// session that owns the connection (server.cc), and the LiveHub that feeds them from the
// ledger's tail (routes_live.cc).
//
// A stream first replays the history from its start position in pages (each page read once the
// previous one is written: flow control), then subscribes to the hub. The hub has one thread per
// server: it waits on the ledger's head (Ledger::WaitForHead, woken on commit; no polling),
// reads each new record once, renders it once, and offers the same bytes to every subscribed
// stream whose filter takes it. A stream's queue is bounded (sse_queue_bytes_max): a client too
// slow to drain it is disconnected, and resumes with Last-Event-ID. No thread waits per
// connection, so 10,000 streams cost 10,000 idle sockets and one tail thread.
//
// Hand-over without gap or repeat: a stream subscribes with the position after the last one its
// replay covered (`next`); the hub accepts it only when it has not yet fanned out past
// `next - 1` (else the stream reads one more page first), and offers it only positions from
// `next` on.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "internal/http.h"

namespace annals::eventstore {
class Ledger;
}

namespace annals::gateway {

// Bytes of a streamed body, shared by every stream that sends them.
using Frame = std::shared_ptr<const std::string>;

// Why a stream ended.
enum class StreamEnd : uint8_t {
  kEnded,       // End(): the producer finished (or failed) and the body was ended
  kClientGone,  // the client closed the connection, or a write failed or timed out
  kSlowClient,  // Offer() found the queue over its limit
  kStopping,    // the server is stopping
};

// A response whose body is written as it is produced (HTTP/1.1 chunked transfer coding), on the
// connection of the request it answers. Made by StartStream; implemented by the session.
// Thread-safe: every method may be called from any thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;

  // Queues `frames` and calls `written` (on the session's strand: keep it short) once all of
  // them are written. Flow-controlled: the caller sends nothing more before `written`, so the
  // queue limit does not apply. Once the stream has closed, nothing is queued and `written` is
  // never called.
  virtual void Write(std::vector<Frame> frames, std::function<void()> written) = 0;

  // Queues `frame` unless the bytes queued and not yet written would then pass the stream's
  // queue limit: the client reads too slowly, and the stream is cut (kSlowClient). False when
  // cut or already closed.
  virtual bool Offer(Frame frame) = 0;

  // Ends the body after what is queued, then closes the connection (kEnded).
  virtual void End() = 0;

  virtual bool closed() const = 0;
};

struct StreamOptions {
  size_t queue_bytes_max = 0;  // Offer's limit
  uint32_t heartbeat_ms = 0;   // `heartbeat` is written after this long with nothing written
  std::string heartbeat;
  // Called once, on the session's strand, when the stream has closed for any reason.
  std::function<void(StreamEnd)> on_close;
};

// Answers the request `reply` belongs to with a stream: writes `head` (its status, content type
// and headers; its body is ignored), then the frames the stream is given. The connection is
// closed when the stream ends. Returns nullptr, having answered nothing, when `reply` is not a
// session's own Reply (a handler wrapped it); the caller then replies as usual.
std::shared_ptr<ResponseStream> StartStream(const Reply& reply, Response head,
                                            StreamOptions options);

// The ledger's tail, fanned out to the subscribed streams. Thread-safe.
class LiveHub {
 public:
  // What a subscribed stream wants: the positions from `next` on, of `type` and of `stream`
  // ("": any), written to `out`.
  struct Subscriber {
    uint64_t next = 1;
    std::string type;
    std::string stream;
    std::shared_ptr<ResponseStream> out;
  };
  enum class Subscribe : uint8_t {
    kLive,     // subscribed: every position from `next` on will be offered
    kBehind,   // the tail has fanned out past next - 1: read further before subscribing
    kStopped,  // the hub is stopping
  };

  // Neither is owned; both outlive the hub. `streams_max`: open streams at most (Admit).
  LiveHub(const eventstore::Ledger* ledger, size_t streams_max);
  ~LiveHub();  // Stop()
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // Starts the tail thread at the ledger's head.
  void Start();
  // Stops and joins the tail thread (within its wait bound); later subscriptions get kStopped.
  // Idempotent.
  void Stop();

  // Counts a stream opening: false when streams_max are open. Each true is paired with one
  // Release when the stream closes.
  bool Admit();
  void Release();

  Subscribe TrySubscribe(const std::shared_ptr<Subscriber>& subscriber);
  void Unsubscribe(const Subscriber* subscriber);

 private:
  // One record rendered as an SSE event, with what the filters look at.
  struct Event {
    uint64_t position = 0;
    std::string type;
    std::string stream;
    Frame frame;
  };
  void TailLoop();
  // Reads (tail_, head] and offers each event to the subscribers; false on a read error.
  bool FanOut(uint64_t head);

  const eventstore::Ledger* ledger_;
  const size_t streams_max_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;                                              // guarded by mu_
  uint64_t tail_ = 0;  // fanned out up to here; guarded by mu_
  size_t streams_ = 0;                                                 // guarded by mu_
  std::unordered_map<const Subscriber*, std::shared_ptr<Subscriber>> subscribers_;  // mu_
};

// One record as an SSE event: "id: <position>\ndata: <RecordToJson, one line>\n\n".
std::string SseEvent(uint64_t position, std::string_view record_json);

}  // namespace annals::gateway
