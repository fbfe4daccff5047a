// The gateway's server: the acceptor, the sessions (one per connection) and the threads. The
// only file of the gateway that compiles Boost.Beast and Boost.Asio (their headers cost most of
// a build; DESIGN.md, "Dependencies").
//
// A session's life, all on its own strand:
//   WaitForRequest   idle keep-alive: wait for the first byte of the next request (idle timeout)
//   ReadHeader       the request line and headers (request timeout starts here), then
//                    "100 Continue" when the client asked for it
//   ReadBody         the body, under the same deadline as the headers
//   Handle           route; the handler answers now or later through Reply, which posts the
//                    response back to the strand
//   Write            the response (request timeout), then WaitForRequest or Close
// Errors found while reading (body or headers over their limit, a malformed message) are
// answered with a problem and the connection is closed after draining what the client still
// sends (Linger), so that it reads the answer rather than a reset.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "annals/gateway/server.h"
#include "internal/problem.h"
#include "internal/router.h"
#include "internal/routes.h"

namespace annals::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Bytes read at once while waiting for a request's first byte, or draining a refused one.
constexpr size_t kReadChunkBytes = 16 << 10;

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

}  // namespace

class Session;

// The server's state; Server::Impl is this under the name the public header gives it.
class ServerCore {
 public:
  ServerCore(const GatewayOptions& options, GatewayDeps deps);
  ~ServerCore() { Stop(); }

  Status Listen();
  void Run();
  void Stop();
  uint16_t port() const { return port_; }

  const GatewayOptions& options() const { return context_.options; }
  const Router& router() const { return router_; }
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
  net::io_context ioc_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  tcp::acceptor acceptor_;
  net::thread_pool blocking_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

// One connection. Every member is touched only on the session's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ServerCore* server)
      : stream_(std::move(socket)),
        executor_(stream_.get_executor()),
        server_(server),
        options_(server->options()) {}
  ~Session() {
    if (registered_) server_->SessionEnded(this);
  }

  void set_registered() { registered_ = true; }
  // The session's strand; safe to read from any thread (it never changes).
  const net::any_io_executor& executor() const { return executor_; }

  void Start() {
    net::dispatch(executor_, [self = shared_from_this()] { self->WaitForRequest(); });
  }

  // Over the connection limit: one 503, then close.
  void RefuseConnection() {
    net::dispatch(executor_, [self = shared_from_this()] {
      self->close_after_write_ = true;
      self->linger_ = true;
      self->Write(Problem(ProblemKind::kUnavailable,
                          fmt::format("the server holds {} connections, the most it takes",
                                      self->options_.connections_max)));
    });
  }

  // Server stopping: an idle or reading connection closes now; one being answered closes after
  // its response.
  void Shutdown() {
    stopping_ = true;
    if (!busy_) Close();
  }

 private:
  void WaitForRequest() {
    if (stopping_) return Close();
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    stream_.expires_after(Ms(options_.idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(options_.header_bytes_max);
    parser_->body_limit(options_.body_bytes_max);
    started_ = std::chrono::steady_clock::now();
    stream_.expires_after(Ms(options_.request_timeout_ms));
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
    method_ = request.method;
    target_ = request.target;
    busy_ = true;
    auto answered = std::make_shared<std::atomic<bool>>(false);
    Reply reply = [self = shared_from_this(), answered](Response response) {
      ANNALS_ASSERT_MSG(!answered->exchange(true), "a handler replied twice");
      net::post(self->executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
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
    stream_.expires_after(Ms(options_.request_timeout_ms));
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, size_t bytes) {
                        self->OnWrite(ec, bytes, response->result_int(), response->keep_alive());
                      });
  }

  void OnWrite(beast::error_code ec, size_t bytes, unsigned status, bool keep_alive) {
    busy_ = false;
    if (spdlog::should_log(spdlog::level::debug)) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started_);
      spdlog::debug("{} {} {} {} bytes {} us", method_.empty() ? "-" : method_,
                    target_.empty() ? "-" : target_, status, bytes, us.count());
    }
    method_.clear();
    target_.clear();
    if (ec || !keep_alive) return linger_ ? Linger() : Close();
    WaitForRequest();
  }

  // Stops sending, then reads and drops what the client still sends (at most kLingerBytesMax
  // for kLingerMs), so that closing does not reset the connection before the answer is read.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(Ms(kLingerMs));
    Drain();
  }

  void Drain() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_bytes_ += n;
                              if (ec || self->drained_bytes_ > kLingerBytesMax) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const net::any_io_executor executor_;
  ServerCore* server_;
  const GatewayOptions& options_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
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
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

// ------------------------------------------------------------------------------- the server

ServerCore::ServerCore(const GatewayOptions& options, GatewayDeps deps)
    : acceptor_(net::make_strand(ioc_)),
      blocking_(options.blocking_threads) {
  context_.ledger = deps.ledger;
  context_.runner = deps.runner;
  context_.options = options;
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
  work_.emplace(ioc_.get_executor());
  size_t threads = options().io_threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  net::dispatch(acceptor_.get_executor(), [this] { Accept(); });
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
}

void ServerCore::Accept() {
  acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
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
  work_.reset();
  ioc_.stop();
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
  return Status::Ok();
}

Result<std::unique_ptr<Server>> Server::Start(const GatewayOptions& options, GatewayDeps deps) {
  ANNALS_ASSERT(deps.ledger != nullptr && deps.runner != nullptr);
  ANNALS_RETURN_IF_ERROR(ValidateGatewayOptions(options));
  auto impl = std::make_unique<Impl>(options, deps);
  ANNALS_RETURN_IF_ERROR(impl->Listen());
  impl->Run();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;
uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }

}  // namespace annals::gateway
