// The gateway's server: the acceptor, the sessions (one per connection) and the threads. The
// only file of the gateway that compiles Boost.Beast and Boost.Asio (their headers cost most of
// a build; DESIGN.md, "Dependencies").
//
// A session's life, all on its own strand:
//   Handshake        TLS only: the server handshake (TLS handshake timeout); a failure closes
//                    the connection unanswered (a plain-HTTP client, a client certificate that
//                    does not verify, a client too slow); the connection's identity (its
//                    verified client certificate) is read once here
//   WaitForRequest   idle keep-alive: wait for the first byte of the next request (idle timeout)
//   ReadHeader       the request line and headers (request timeout starts here), then
//                    "100 Continue" when the client asked for it
//   ReadBody         the body, under the same deadline as the headers
//   Handle           route; the handler answers now or later through Reply, which posts the
//                    response back to the strand
//   Write            the response (request timeout), then WaitForRequest or Close
//   (or a stream)    a handler that answers with StartStream (internal/live.h) keeps the
//                    connection: BeginStream writes the head, PumpStream the chunks producers
//                    queue (each write under the request timeout), a heartbeat timer writes
//                    the heartbeat after a quiet period, a read watches for the client leaving;
//                    EndStream closes it (ended, client gone, too slow, server stopping)
// Errors found while reading (body or headers over their limit, a malformed message) are
// answered with a problem and the connection is closed after draining what the client still
// sends (Linger), so that it reads the answer rather than a reset. A TLS connection sends its
// close_notify before such a close and after a last response (Connection: close); one cut
// (timeouts, a client gone, the server stopping while it is idle, an event stream's end) is
// closed without it.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "annals/gateway/server.h"
#include "internal/answer_cache.h"
#include "internal/live.h"
#include "internal/metrics.h"
#include "internal/problem.h"
#include "internal/router.h"
#include "internal/routes.h"
#include "internal/tls.h"

namespace annals::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Bytes read at once while waiting for a request's first byte, or draining a refused one.
constexpr size_t kReadChunkBytes = 16 << 10;
// The chunk that ends a chunked body.
constexpr std::string_view kLastChunk = "0\r\n\r\n";
constexpr std::string_view kCrlf = "\r\n";

std::chrono::milliseconds Ms(uint32_t ms) { return std::chrono::milliseconds(ms); }

std::string LowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The gateway's request from Beast's; the body is moved.
Request ToRequest(http::request<http::string_body>&& in) {
  Request out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  out.headers.reserve(std::distance(in.begin(), in.end()));
  for (const auto& field : in) {
    out.headers.push_back({LowerCase(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(in.body());
  return out;
}

// A connection's byte stream: TCP, or TLS over TCP when the server serves HTTPS. Beast's HTTP
// operations and the session's reads and writes go through it; timeouts, the TCP half-close
// and the close act on the TCP stream underneath (tcp_layer()).
class Transport {
 public:
  using executor_type = beast::tcp_stream::executor_type;
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;

  // `tls` null: plain TCP. Else the context outlives the Transport (ServerCore owns it).
  Transport(tcp::socket socket, net::ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(std::move(socket), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  executor_type get_executor() { return tcp_layer().get_executor(); }
  bool tls() const { return tls_.has_value(); }
  beast::tcp_stream& tcp_layer() { return tls_ ? tls_->next_layer() : *plain_; }
  // REQUIRES: tls().
  TlsStream& secure() { return *tls_; }

  template <typename Buffers, typename Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    plain_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <typename Buffers, typename Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }

 private:
  std::optional<beast::tcp_stream> plain_;  // exactly one of the two
  std::optional<TlsStream> tls_;
};

}  // namespace

class Session;

// The server's state; Server::Impl is this under the name the public header gives it.
class ServerCore {
 public:
  ServerCore(const GatewayOptions& options, GatewayDeps deps);
  ~ServerCore() { Stop(); }

  // Loads the TLS files (GatewayOptions::tls) when TLS is on. Before Listen.
  Status LoadTls();
  Status Listen();
  void Run();
  void Stop();
  uint16_t port() const { return port_; }

  const GatewayOptions& options() const { return context_.options; }
  const Router& router() const { return router_; }
  // The TLS context every connection uses; null when TLS is off.
  net::ssl::context* tls() { return tls_ ? &*tls_ : nullptr; }
  // Both made by Run(), before any session exists.
  Metrics& metrics() const { return *metrics_; }
  const RouteClassifier& classifier() const { return *classifier_; }
  // A session ends: forget it, and wake Stop() when it was the last.
  void SessionEnded(Session* session);

 private:
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);

  // Declared before the I/O objects: sessions destroyed by ~io_context still report here.
  std::mutex mu_;
  std::condition_variable drained_cv_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by mu_
  bool stopping_ = false;                                          // guarded by mu_

  RouteContext context_;
  Router router_;
  // Declared before the I/O objects: a stream's close, even in ~io_context, reports to them.
  std::unique_ptr<LiveHub> live_;
  AnswerCache answers_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RouteClassifier> classifier_;
  // Declared before the I/O objects: the connections of ~io_context still use it.
  std::optional<net::ssl::context> tls_;
  // One event loop per I/O thread: a connection lives on one loop (its strand), so serving it
  // never wakes another thread; new connections are dealt round-robin.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  size_t next_ioc_ = 0;  // the acceptor's strand only
  tcp::acceptor acceptor_;
  net::thread_pool blocking_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

// The ResponseStream of a session: a queue between the producers (any thread) and the
// session's strand, which writes it. Offer's limit counts what is queued or being written.
class SessionStream final : public ResponseStream {
 public:
  // What the strand takes from the queue at once.
  struct Batch {
    std::vector<Frame> frames;
    std::vector<std::function<void()>> written;  // to call once `frames` are written
    size_t bytes = 0;
    bool end = false;  // End() was called and nothing is queued behind this batch
  };

  SessionStream(std::weak_ptr<Session> session, net::any_io_executor executor,
                size_t queue_bytes_max, std::function<void(StreamEnd)> on_close)
      : session_(std::move(session)),
        executor_(std::move(executor)),
        queue_bytes_max_(queue_bytes_max),
        on_close_(std::move(on_close)) {}
  // A stream whose session never closed it (the server stopped first) still reports its close.
  ~SessionStream() override { NotifyClosed(StreamEnd::kStopping); }

  void Write(std::vector<Frame> frames, std::function<void()> written) override {
    std::lock_guard lock(mu_);
    if (closed_) return;
    for (Frame& frame : frames) Push(std::move(frame), {});
    if (written) Push(nullptr, std::move(written));
    Kick();
  }

  bool Offer(Frame frame) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (queued_bytes_ + frame->size() > queue_bytes_max_) {
      Drop();
      closed_ = true;
      PostEnd(StreamEnd::kSlowClient);
      return false;
    }
    Push(std::move(frame), {});
    Kick();
    return true;
  }

  void End() override {
    std::lock_guard lock(mu_);
    if (closed_ || ending_) return;
    ending_ = true;
    Kick();
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }

  // The strand's side. Take moves out what is queued; when nothing is, the next producer posts
  // a PumpStream again.
  Batch Take() {
    std::lock_guard lock(mu_);
    Batch batch;
    for (Item& item : queue_) {
      if (item.frame != nullptr) {
        batch.bytes += item.frame->size();
        batch.frames.push_back(std::move(item.frame));
      }
      if (item.written) batch.written.push_back(std::move(item.written));
    }
    queue_.clear();
    batch.end = ending_;
    if (batch.frames.empty() && batch.written.empty()) scheduled_ = false;
    return batch;
  }
  void Written(size_t bytes) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    ANNALS_ASSERT(queued_bytes_ >= bytes);
    queued_bytes_ -= bytes;
  }
  // The server is stopping: what is queued is dropped and the body ended.
  void EndNow() {
    std::lock_guard lock(mu_);
    Drop();
    ending_ = true;
  }
  void MarkClosed() {
    std::lock_guard lock(mu_);
    Drop();
    closed_ = true;
  }
  // Calls on_close the first time only.
  void NotifyClosed(StreamEnd end) {
    std::function<void(StreamEnd)> on_close;
    {
      std::lock_guard lock(mu_);
      on_close.swap(on_close_);
    }
    if (on_close) on_close(end);
  }

 private:
  struct Item {
    Frame frame;                     // nullptr: only `written`
    std::function<void()> written;   // empty: only `frame`
  };
  // REQUIRES: mu_ held, for all three.
  void Push(Frame frame, std::function<void()> written) {
    if (frame != nullptr) queued_bytes_ += frame->size();
    queue_.push_back({std::move(frame), std::move(written)});
  }
  void Drop() {
    queue_.clear();
    queued_bytes_ = 0;
  }
  void Kick();                   // posts PumpStream unless one is pending
  void PostEnd(StreamEnd end);   // posts EndStream(end)

  const std::weak_ptr<Session> session_;
  const net::any_io_executor executor_;
  const size_t queue_bytes_max_;
  mutable std::mutex mu_;
  std::deque<Item> queue_;                   // guarded by mu_
  size_t queued_bytes_ = 0;                  // queued or being written; guarded by mu_
  bool scheduled_ = false;                   // a PumpStream is posted or running; mu_
  bool ending_ = false;                      // guarded by mu_
  bool closed_ = false;                      // guarded by mu_
  std::function<void(StreamEnd)> on_close_;  // guarded by mu_
};

// The Reply a session gives its handler: hands the response to the session's strand. A named
// type, so that StartStream finds the session behind a Reply (std::function::target).
struct SessionReply {
  std::shared_ptr<Session> session;
  std::shared_ptr<std::atomic<bool>> answered;
  void operator()(Response response) const;
};

// One connection. Every member is touched only on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore* server)
      : stream_(std::move(socket), server->tls()),
        executor_(stream_.get_executor()),
        server_(server),
        options_(server->options()),
        route_(server->metrics().no_route()) {}
  ~Session() {
    if (stream_out_ != nullptr && !stream_ended_) {
      stream_out_->MarkClosed();
      stream_out_->NotifyClosed(StreamEnd::kStopping);
    }
    if (registered_) server_->SessionEnded(this);
  }

  friend struct SessionReply;  // writes the response it carries

  void set_registered() { registered_ = true; }
  // The session's strand; safe to read from any thread (it never changes).
  const net::any_io_executor& executor() const { return executor_; }

  void Start() {
    net::dispatch(executor_, [self = shared_from_this()] {
      self->Handshake([self] { self->WaitForRequest(); });
    });
  }

  // Over the connection limit: one 503 (over TLS once the handshake is done), then close.
  void RefuseConnection() {
    net::dispatch(executor_, [self = shared_from_this()] {
      self->Handshake([self] {
        self->close_after_write_ = true;
        self->linger_ = true;
        self->Write(Problem(ProblemKind::kUnavailable,
                            fmt::format("the server holds {} connections, the most it takes",
                                        self->options_.connections_max)));
      });
    });
  }

  // Server stopping: an idle or reading connection closes now; one being answered closes after
  // its response; a stream is ended.
  void Shutdown() {
    stopping_ = true;
    if (stream_out_ != nullptr) return StopStream();
    if (!busy_) Close();
  }

  // Answers the request being handled with a stream (StartStream). Any thread.
  std::shared_ptr<ResponseStream> StartStream(Response head, StreamOptions options) {
    auto stream = std::make_shared<SessionStream>(weak_from_this(), executor_,
                                                  options.queue_bytes_max,
                                                  std::move(options.on_close));
    net::post(executor_, [self = shared_from_this(), stream, head = std::move(head),
                          options = std::move(options)]() mutable {
      self->BeginStream(std::move(head), std::move(stream), std::move(options));
    });
    return stream;
  }

  // Writes what the stream has queued, unless a write is under way (its completion pumps).
  void PumpStream() {
    if (stream_ended_ || !stream_head_written_ || stream_writing_) return;
    SessionStream::Batch batch = stream_out_->Take();
    if (!batch.frames.empty()) return WriteStreamBatch(std::move(batch));
    for (auto& written : batch.written) written();
    if (batch.end) return FinishStream();
    if (!batch.written.empty()) PumpStream();  // until Take finds the queue empty
  }

  // Closes the stream and the connection, and reports why; the first call only.
  void EndStream(StreamEnd end) {
    if (stream_ended_) return;
    stream_ended_ = true;
    stream_out_->MarkClosed();
    if (heartbeat_timer_) heartbeat_timer_->cancel();
    if (end == StreamEnd::kSlowClient) {
      spdlog::info("closing an event stream ({}): its client reads too slowly (over {} bytes "
                   "queued)", target_, options_.sse_queue_bytes_max);
    }
    stream_out_->NotifyClosed(end);
    Close();
  }

 private:
  // TLS: the server handshake within tls_handshake_timeout_ms, then the connection's identity,
  // then `next`. A failed or late handshake closes the connection, unanswered. Plain: `next`.
  void Handshake(std::function<void()> next) {
    if (!stream_.tls()) return next();
    stream_.tcp_layer().expires_after(Ms(options_.tls_handshake_timeout_ms));
    stream_.secure().async_handshake(
        net::ssl::stream_base::server,
        [self = shared_from_this(), next = std::move(next)](beast::error_code ec) {
          if (ec) {
            spdlog::debug("closing a connection: the TLS handshake failed: {}",
                          ec == beast::error::timeout
                              ? fmt::format("not done within {} ms",
                                            self->options_.tls_handshake_timeout_ms)
                              : ec.message());
            return self->Close();
          }
          self->connection_ = IdentityOf(self->stream_.secure().native_handle());
          next();
        });
  }

  void WaitForRequest() {
    if (stopping_) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    stream_.tcp_layer().expires_after(Ms(options_.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    route_ = server_->metrics().no_route();
    parser_.emplace();
    parser_->header_limit(options_.header_bytes_max);
    parser_->body_limit(options_.body_bytes_max);
    started_ = std::chrono::steady_clock::now();
    stream_.tcp_layer().expires_after(Ms(options_.request_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->OnReadError(ec);
                              self->OnHeader();
                            });
  }

  void OnHeader() {
    const auto& header = parser_->get();
    if (!beast::iequals(header[http::field::expect], "100-continue")) return ReadBody();
    // The deadline of the request covers this write too (no new expires_after).
    continue_.emplace(http::status::continue_, header.version());
    http::async_write(stream_, *continue_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->ReadBody();
                      });
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Handle();
                     });
  }

  // Timeouts, a client gone or the server stopping: close. A message over a limit or
  // malformed: answer, then close.
  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Refuse(Problem(ProblemKind::kTooLarge,
                            fmt::format("the request body is over {} bytes",
                                        options_.body_bytes_max)));
    }
    if (ec == http::error::header_limit) {
      return Refuse(Problem(ProblemKind::kHeadersTooLarge,
                            fmt::format("the request line and headers are over {} bytes",
                                        options_.header_bytes_max)));
    }
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Refuse(Problem(ProblemKind::kInvalidRequest,
                            "the request is not a valid HTTP/1.1 message: " + ec.message()));
    }
    if (ec == beast::error::timeout) {
      spdlog::debug("closing a connection: the request did not arrive within {} ms",
                    options_.request_timeout_ms);
    }
    Close();
  }

  void Refuse(Response response) {
    close_after_write_ = true;
    linger_ = true;
    Write(std::move(response));
  }

  void Handle() {
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    Request request = ToRequest(std::move(message));
    request.connection = connection_;
    method_ = request.method;
    target_ = request.target;
    route_ = server_->classifier().Classify(request.method, request.path());
    busy_ = true;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Reply reply = SessionReply{shared_from_this(), answered};
    try {
      server_->router().Dispatch(&request, reply);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", method_, target_, e.what());
      if (!answered->load()) reply(Problem(ProblemKind::kInternal, e.what()));
    }
  }

  void Write(Response r) {
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), version_);
    response->set(http::field::server, "annalsd");
    response->set(http::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) response->insert(name, value);
    response->body() = std::move(r.body);
    response->keep_alive(keep_alive_ && !close_after_write_ && !stopping_);
    response->prepare_payload();
    stream_.tcp_layer().expires_after(Ms(options_.request_timeout_ms));
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, size_t bytes) {
                        self->OnWrite(ec, bytes, response->result_int(), response->keep_alive());
                      });
  }

  void OnWrite(beast::error_code ec, size_t bytes, unsigned status, bool keep_alive) {
    busy_ = false;
    server_->metrics().CountResponse(route_, status, std::chrono::steady_clock::now() - started_);
    if (spdlog::should_log(spdlog::level::debug)) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started_);
      spdlog::debug("{} {} {} {} bytes {} us", method_.empty() ? "-" : method_,
                    target_.empty() ? "-" : target_, status, bytes, us.count());
    }
    method_.clear();
    target_.clear();
    if (ec) return Close();
    if (linger_) return Linger();
    if (!keep_alive) return SendCloseNotify([self = shared_from_this()] { self->Close(); });
    WaitForRequest();
  }

  // TLS: tells the client the server is done (close_notify, without waiting for the client's:
  // OpenSSL is told it has been received), so that it can tell an end from a cut; then `then`,
  // once it is written or failed (within kLingerMs). Only while nothing else is read or written
  // on the connection. Plain: `then` at once.
  void SendCloseNotify(std::function<void()> then) {
    if (!stream_.tls()) return then();
    SSL_set_shutdown(stream_.secure().native_handle(), SSL_RECEIVED_SHUTDOWN);
    stream_.tcp_layer().expires_after(Ms(kLingerMs));
    stream_.secure().async_shutdown(
        [self = shared_from_this(), then = std::move(then)](beast::error_code) { then(); });
  }

  // Stops sending, then reads and drops what the client still sends (at most kLingerBytesMax
  // for kLingerMs), so that closing does not reset the connection before the answer is read.
  // TLS: after close_notify, the bytes drained are the TCP stream's, never decrypted.
  void Linger() {
    SendCloseNotify([self = shared_from_this()] {
      beast::error_code ignored;
      self->stream_.tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
      self->stream_.tcp_layer().expires_after(Ms(kLingerMs));
      self->Drain();
    });
  }

  void Drain() {
    buffer_.clear();
    stream_.tcp_layer().async_read_some(
        buffer_.prepare(kReadChunkBytes),
        [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->drained_bytes_ += n;
          if (ec || self->drained_bytes_ > kLingerBytesMax) return self->Close();
          self->Drain();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.tcp_layer().close();
  }

  // ----------------------------------------------------------------------------- streams

  void BeginStream(Response head, std::shared_ptr<SessionStream> stream, StreamOptions options) {
    stream_out_ = std::move(stream);
    heartbeat_ms_ = options.heartbeat_ms;
    heartbeat_ = std::make_shared<const std::string>(std::move(options.heartbeat));
    // HTTP/1.0 has no chunked coding: the body then ends where the connection does.
    chunked_ = version_ >= 11;
    auto response = std::make_shared<http::response<http::empty_body>>(
        static_cast<http::status>(head.status), version_);
    response->set(http::field::server, "annalsd");
    response->set(http::field::content_type, head.content_type);
    for (auto& [name, value] : head.headers) response->insert(name, value);
    response->keep_alive(false);
    response->chunked(chunked_);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*response);
    stream_.tcp_layer().expires_after(Ms(options_.request_timeout_ms));
    http::async_write_header(
        stream_, *serializer,
        [self = shared_from_this(), response, serializer](beast::error_code ec, size_t) {
          self->OnStreamHead(ec, response->result_int());
        });
  }

  void OnStreamHead(beast::error_code ec, unsigned status) {
    server_->metrics().CountResponse(route_, status, std::chrono::steady_clock::now() - started_);
    if (ec) return EndStream(StreamEnd::kClientGone);
    stream_head_written_ = true;
    stream_last_written_ = std::chrono::steady_clock::now();
    WatchClient();
    heartbeat_timer_.emplace(executor_);
    ArmHeartbeat();
    if (stopping_) return StopStream();
    PumpStream();
  }

  // A client says nothing on a stream; a read ends when it leaves (what it sends is dropped).
  // Through TLS when the connection is: a raw read would take the TLS records from under it.
  void WatchClient() {
    stream_.async_read_some(
        net::buffer(watch_buffer_), [self = shared_from_this()](beast::error_code ec, size_t) {
          if (self->stream_ended_) return;
          if (ec) return self->EndStream(StreamEnd::kClientGone);
          self->WatchClient();
        });
  }

  // The heartbeat is due heartbeat_ms after the last write.
  void ArmHeartbeat() {
    const auto now = std::chrono::steady_clock::now();
    const auto due = stream_last_written_ + Ms(heartbeat_ms_);
    heartbeat_timer_->expires_at(due > now ? due : now + Ms(heartbeat_ms_));
    heartbeat_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_ended_) return;
      const bool quiet =
          std::chrono::steady_clock::now() - self->stream_last_written_ >= Ms(self->heartbeat_ms_);
      if (quiet && !self->stream_writing_) self->stream_out_->Write({self->heartbeat_}, {});
      self->ArmHeartbeat();
    });
  }

  void WriteStreamBatch(SessionStream::Batch batch) {
    struct Pending {
      SessionStream::Batch batch;
      std::string chunk_size;
      std::vector<net::const_buffer> buffers;
    };
    auto pending = std::make_shared<Pending>();
    pending->batch = std::move(batch);
    if (chunked_) {
      pending->chunk_size = fmt::format("{:x}\r\n", pending->batch.bytes);
      pending->buffers.push_back(net::buffer(pending->chunk_size));
    }
    for (const Frame& frame : pending->batch.frames) pending->buffers.push_back(net::buffer(*frame));
    if (chunked_) pending->buffers.push_back(net::buffer(kCrlf.data(), kCrlf.size()));
    stream_writing_ = true;
    stream_.tcp_layer().expires_after(Ms(options_.request_timeout_ms));
    net::async_write(stream_, pending->buffers,
                     [self = shared_from_this(), pending](beast::error_code ec, size_t) {
                       self->stream_writing_ = false;
                       if (ec) return self->EndStream(StreamEnd::kClientGone);
                       self->stream_out_->Written(pending->batch.bytes);
                       self->stream_last_written_ = std::chrono::steady_clock::now();
                       for (auto& written : pending->batch.written) written();
                       self->PumpStream();
                     });
  }

  // The body is complete: the last chunk, then close.
  void FinishStream() {
    if (!chunked_) return EndStream(StreamEnd::kEnded);
    stream_writing_ = true;
    stream_.tcp_layer().expires_after(Ms(options_.request_timeout_ms));
    net::async_write(stream_, net::buffer(kLastChunk.data(), kLastChunk.size()),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->stream_writing_ = false;
                       self->EndStream(ec ? StreamEnd::kClientGone : StreamEnd::kEnded);
                     });
  }

  // The server is stopping: end the body now, without what is queued; a client whose write is
  // stalled is closed at once.
  void StopStream() {
    if (stream_ended_ || !stream_head_written_) return;  // OnStreamHead comes back here
    if (stream_writing_) return EndStream(StreamEnd::kStopping);
    stream_out_->EndNow();
    PumpStream();
  }

  Transport stream_;
  const net::any_io_executor executor_;
  ServerCore* server_;
  const GatewayOptions& options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  ConnectionIdentity connection_;  // set by Handshake; plain: the default (no TLS)
  bool registered_ = false;
  bool busy_ = false;               // a request is being handled or answered
  bool stopping_ = false;           // the server is stopping: no further request
  bool keep_alive_ = false;         // the client wants the connection kept
  bool close_after_write_ = false;  // an error answer: close after it
  bool linger_ = false;             // close by draining (the request was not read whole)
  unsigned version_ = 11;
  size_t drained_bytes_ = 0;
  std::string method_;
  std::string target_;
  size_t route_;  // the route taking the request, for the metrics (RouteClassifier)
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  // A stream (StartStream), once the handler asked for one.
  std::shared_ptr<SessionStream> stream_out_;
  bool chunked_ = true;
  bool stream_head_written_ = false;
  bool stream_writing_ = false;
  bool stream_ended_ = false;
  uint32_t heartbeat_ms_ = 0;
  Frame heartbeat_;
  std::optional<net::steady_timer> heartbeat_timer_;
  std::chrono::steady_clock::time_point stream_last_written_;
  std::array<char, 256> watch_buffer_{};
};

void SessionReply::operator()(Response response) const {
  ANNALS_ASSERT_MSG(!answered->exchange(true), "a handler replied twice");
  // dispatch: a handler that answers at once (a cached view answer, a refusal) writes on the
  // spot, on the session's strand it already runs on; from another thread it is posted there.
  net::dispatch(session->executor(), [self = session, response = std::move(response)]() mutable {
    self->Write(std::move(response));
  });
}

void SessionStream::Kick() {
  if (scheduled_) return;
  scheduled_ = true;
  net::post(executor_, [session = session_] {
    if (auto self = session.lock()) self->PumpStream();
  });
}

void SessionStream::PostEnd(StreamEnd end) {
  net::post(executor_, [session = session_, end] {
    if (auto self = session.lock()) self->EndStream(end);
  });
}

std::shared_ptr<ResponseStream> StartStream(const Reply& reply, Response head,
                                            StreamOptions options) {
  const SessionReply* session_reply = reply.target<SessionReply>();
  if (session_reply == nullptr) return nullptr;
  ANNALS_ASSERT_MSG(!session_reply->answered->exchange(true), "a handler replied twice");
  return session_reply->session->StartStream(std::move(head), std::move(options));
}

// ------------------------------------------------------------------------------- the server

namespace {

std::vector<std::unique_ptr<net::io_context>> EventLoops(size_t io_threads) {
  if (io_threads == 0) io_threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<net::io_context>> loops;
  // 1: each loop is run by one thread, so Asio may skip its own locking.
  for (size_t i = 0; i < io_threads; ++i) loops.push_back(std::make_unique<net::io_context>(1));
  return loops;
}

}  // namespace

ServerCore::ServerCore(const GatewayOptions& options, GatewayDeps deps)
    : iocs_(EventLoops(options.io_threads)),
      acceptor_(net::make_strand(*iocs_.front())),
      blocking_(options.blocking_threads) {
  context_.ledger = deps.ledger;
  context_.runner = deps.runner;
  context_.reactors = deps.reactors;
  context_.replication = deps.replication;
  context_.options = options;
  live_ = std::make_unique<LiveHub>(deps.ledger, options.sse_connections_max);
  context_.live = live_.get();
  context_.answers = &answers_;
  context_.run_blocking = [this](std::function<void()> work) {
    net::post(blocking_, [work = std::move(work)] {
      try {
        work();
      } catch (const std::exception& e) {
        spdlog::error("a blocking request failed: {}", e.what());
      }
    });
  };
  AddAppendRoutes(&router_, &context_);
  AddReadRoutes(&router_, &context_);
  AddHealthRoutes(&router_, &context_);
  AddLiveRoutes(&router_, &context_);
  AddMetricsRoutes(&router_, &context_);
  AddAdminRoutes(&router_, &context_);
  AddViewRoutes(&router_, &context_);
  AddAccessControl(&router_, &context_);
}

Status ServerCore::LoadTls() {
  const TlsOptions& tls = options().tls;
  if (!tls.enabled()) return Status::Ok();
  ANNALS_ASSIGN_OR_RETURN(SslCtxPtr ctx, MakeServerTlsContext(tls));
  tls_.emplace(ctx.release());  // the asio context owns it from here
  if (tls.client_ca.empty()) {
    spdlog::info("TLS: certificate {}; no client certificates asked for", tls.cert);
  } else {
    spdlog::info("TLS: certificate {}; client certificates asked for, verified against {}",
                 tls.cert, tls.client_ca);
  }
  return Status::Ok();
}

Status ServerCore::Listen() {
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options().host, ec);
  if (ec) return Status::InvalidArgument("'" + options().host + "' is not an IP address");
  const tcp::endpoint endpoint(address, options().port);
  auto fail = [&](std::string_view what) {
    return Status::IOError(fmt::format("{} {}:{}: {}", what, options().host, options().port,
                                       ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("opening a socket for");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("setting SO_REUSEADDR for");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("binding");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listening on");
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void ServerCore::Run() {
  // Every route is added by now (the constructor): the metrics label requests by route.
  classifier_ = std::make_unique<RouteClassifier>(router_.Describe());
  metrics_ = std::make_unique<Metrics>(
      MetricSources{context_.ledger, context_.runner, context_.reactors, context_.replication},
      router_.Describe());
  context_.metrics = metrics_.get();
  live_->Start();
  for (auto& ioc : iocs_) work_.push_back(net::make_work_guard(*ioc));
  net::dispatch(acceptor_.get_executor(), [this] { Accept(); });
  for (auto& ioc : iocs_) threads_.emplace_back([loop = ioc.get()] { loop->run(); });
}

void ServerCore::Accept() {
  net::io_context& loop = *iocs_[next_ioc_++ % iocs_.size()];
  acceptor_.async_accept(net::make_strand(loop), [this](beast::error_code ec, tcp::socket s) {
    OnAccept(ec, std::move(s));
  });
}

void ServerCore::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor_.is_open()) return;  // stopping
  if (ec) {
    // Out of file descriptors and the like: the acceptor stays usable; carry on.
    spdlog::error("accepting a connection: {}", ec.message());
    return Accept();
  }
  auto session = std::make_shared<Session>(std::move(socket), this);
  bool admitted = false;
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && sessions_.size() < options().connections_max) {
      sessions_.emplace(session.get(), session);
      session->set_registered();
      admitted = true;
    }
  }
  if (admitted) {
    session->Start();
  } else {
    session->RefuseConnection();
  }
  Accept();
}

void ServerCore::SessionEnded(Session* session) {
  std::lock_guard lock(mu_);
  sessions_.erase(session);
  if (sessions_.empty()) drained_cv_.notify_all();
}

void ServerCore::Stop() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [raw, weak] : sessions_) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  net::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  live_->Stop();  // no event reaches a stream from here on; the sessions end them below
  for (auto& session : live) {
    net::post(session->executor(), [session] { session->Shutdown(); });
  }
  live.clear();
  {
    std::unique_lock lock(mu_);
    const bool drained = drained_cv_.wait_for(lock, Ms(options().stop_drain_ms),
                                              [this] { return sessions_.empty(); });
    if (!drained) {
      spdlog::warn("stopping with {} connections still busy after {} ms", sessions_.size(),
                   options().stop_drain_ms);
    }
  }
  work_.clear();
  for (auto& ioc : iocs_) ioc->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  blocking_.stop();
  blocking_.join();
}

// ------------------------------------------------------------------------------- the API

class Server::Impl : public ServerCore {
 public:
  using ServerCore::ServerCore;
};

Status ValidateGatewayOptions(const GatewayOptions& o) {
  auto out_of_range = [](std::string_view name, auto value, auto min, auto max) {
    return Status::InvalidArgument(
        fmt::format("{} is {}; it must be from {} to {}", name, value, min, max));
  };
  if (o.body_bytes_max < 1) return out_of_range("body_bytes_max", o.body_bytes_max, 1, "any");
  if (o.header_bytes_max < 1024) {
    return out_of_range("header_bytes_max", o.header_bytes_max, 1024, "any");
  }
  if (o.connections_max < 1) return out_of_range("connections_max", o.connections_max, 1, "any");
  if (o.page_size_max < 1 || o.page_size_max > eventstore::kReadPageEventsMax) {
    return out_of_range("page_size_max", o.page_size_max, 1, eventstore::kReadPageEventsMax);
  }
  if (o.idle_timeout_ms < 1) return out_of_range("idle_timeout_ms", o.idle_timeout_ms, 1, "any");
  if (o.request_timeout_ms < 1) {
    return out_of_range("request_timeout_ms", o.request_timeout_ms, 1, "any");
  }
  if (o.blocking_threads < 1) {
    return out_of_range("blocking_threads", o.blocking_threads, 1, "any");
  }
  if (o.sse_connections_max < 1) {
    return out_of_range("sse_connections_max", o.sse_connections_max, 1, "any");
  }
  if (o.sse_queue_bytes_max < 4096) {
    return out_of_range("sse_queue_bytes_max", o.sse_queue_bytes_max, 4096, "any");
  }
  if (o.sse_heartbeat_ms < 1) return out_of_range("sse_heartbeat_ms", o.sse_heartbeat_ms, 1, "any");
  if (o.tls_handshake_timeout_ms < 1) {
    return out_of_range("tls_handshake_timeout_ms", o.tls_handshake_timeout_ms, 1, "any");
  }
  const TlsOptions& tls = o.tls;
  if (tls.cert.empty() != tls.key.empty()) {
    return Status::InvalidArgument(
        tls.cert.empty() ? "tls.key is set but tls.cert is not: HTTPS needs both"
                         : "tls.cert is set but tls.key is not: HTTPS needs both");
  }
  if (!tls.client_ca.empty() && !tls.enabled()) {
    return Status::InvalidArgument(
        "tls.client_ca is set but tls.cert and tls.key are not: client certificates are asked "
        "for only over HTTPS");
  }
  return Status::Ok();
}

Status CheckTlsFiles(const GatewayOptions& options) {
  ANNALS_RETURN_IF_ERROR(ValidateGatewayOptions(options));
  if (!options.tls.enabled()) return Status::Ok();
  return MakeServerTlsContext(options.tls).status();
}

Result<std::unique_ptr<Server>> Server::Start(const GatewayOptions& options, GatewayDeps deps) {
  ANNALS_ASSERT(deps.ledger != nullptr && deps.runner != nullptr);
  ANNALS_RETURN_IF_ERROR(ValidateGatewayOptions(options));
  auto impl = std::make_unique<Impl>(options, deps);
  ANNALS_RETURN_IF_ERROR(impl->LoadTls());
  ANNALS_RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace annals::gateway
