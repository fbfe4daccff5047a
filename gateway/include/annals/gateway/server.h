// The HTTP gateway of annals (DESIGN.md, "Gateway (HTTP)"): a thin, asynchronous HTTP/1.1 server
// on Boost.Beast that parses requests, calls the ledger or reads a view, and renders JSON. No
// business logic lives here: the ledger decides every append, the views answer every query.
//
// Model: one acceptor and `io_threads` threads, each running its own event loop; each connection
// is a session on one loop, on its own strand (so a connection is never served by two threads
// at once, and serving it wakes no other thread). A
// handler that must wait (an append waits for the fsync that covers it; a long read) never
// blocks an I/O thread: appends complete through Ledger::Submit's callback, blocking reads run
// on a small pool, and both post the response back to the session.
//
// Limits (limits.h; each one an option below): body and header sizes (413, 431), open
// connections (503, then close), idle keep-alive, slow-client and TLS handshake timeouts (the
// connection is closed), page sizes (400). Every error is an RFC 9457 application/problem+json
// body (gateway/README.md lists the problem types).
//
// TLS: with a certificate and key (TlsOptions) the listener serves HTTPS only (TLS 1.2 at least,
// 1.3 preferred; OpenSSL 3 through Boost.Asio), and with a client CA bundle it asks every client
// for a certificate: one that chains to the bundle identifies a federation peer
// (internal/auth.h), one that does not fails the handshake, none is fine.
//
// Thread-safety: Start, port and Stop may be called from any thread. Ownership: the Ledger and
// the Runner of GatewayDeps are not owned and must outlive the Server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "annals/base/status.h"
#include "annals/gateway/limits.h"

namespace annals::eventstore {
class Ledger;
}
namespace annals::projections {
class Runner;
}

namespace annals::reactors {
class ReactorRunner;
class Replication;
}  // namespace annals::reactors

namespace annals::gateway {

// The TLS files, PEM, each a path. All "" (the default): plain HTTP.
struct TlsOptions {
  std::string cert;       // the server's certificate chain, leaf first
  std::string key;        // its private key, unencrypted; set exactly when `cert` is
  std::string client_ca;  // CA certificates that sign peers' client certificates ("": none asked)
  bool enabled() const { return !cert.empty(); }
};

struct GatewayOptions {
  // Address to listen on: an IPv4 or IPv6 literal. Default: 127.0.0.1 (this machine only).
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (Server::port() tells which). Default: 8080.
  uint16_t port = 8080;
  // I/O threads, each running an event loop of its own; 0: one per hardware thread. Default: 0.
  size_t io_threads = 0;
  // Threads for blocking work (ledger reads, bounded waits). Default: kBlockingThreadsDefault.
  size_t blocking_threads = kBlockingThreadsDefault;
  // Limits (limits.h has the defaults and why).
  size_t body_bytes_max = kBodyBytesMaxDefault;
  uint32_t header_bytes_max = kHeaderBytesMaxDefault;
  size_t connections_max = kConnectionsMaxDefault;
  uint32_t idle_timeout_ms = kIdleTimeoutMsDefault;
  uint32_t request_timeout_ms = kRequestTimeoutMsDefault;
  size_t page_size_max = kPageSizeMaxDefault;  // at most eventstore::kReadPageEventsMax
  uint32_t min_position_wait_ms_max = kMinPositionWaitMsMaxDefault;
  uint32_t stop_drain_ms = kStopDrainMsDefault;
  size_t sse_connections_max = kSseConnectionsMaxDefault;  // open event streams; more: 503
  size_t sse_queue_bytes_max = kSseQueueBytesMaxDefault;   // per stream; more: disconnected
  uint32_t sse_heartbeat_ms = kSseHeartbeatMsDefault;      // ": ping" after this long idle
  // SHA-256 of each admin token, 64 hex digits, at most kAdminTokenHashesMax (a malformed one
  // matches no token). Empty: the admin routes answer 403 (internal/auth.h). Default: empty.
  std::vector<std::string> admin_token_sha256;
  // HTTPS and mutual TLS. Default: none (plain HTTP).
  TlsOptions tls;
  // With TLS, a connection's handshake must be done within this from its accept, else it is
  // closed unanswered. Default: kTlsHandshakeTimeoutMsDefault.
  uint32_t tls_handshake_timeout_ms = kTlsHandshakeTimeoutMsDefault;
};

// Checks the options (ranges, relations, which TLS files go together); InvalidArgument names
// the option ("tls.key", "body_bytes_max"). Reads no file.
Status ValidateGatewayOptions(const GatewayOptions& options);

// Loads the TLS files of `options` as Start does, and drops them: each readable, PEM, the key
// unencrypted and matching the certificate, the client CA bundle holding a certificate.
// InvalidArgument naming the option ("tls.key: ...") and the file. OK when TLS is off. Lets a
// caller refuse bad files before it opens anything else.
Status CheckTlsFiles(const GatewayOptions& options);

struct GatewayDeps {
  eventstore::Ledger* ledger = nullptr;       // required
  projections::Runner* runner = nullptr;      // required: /readyz and the views
  // Optional: their status in /api/v1/admin/reactors, /api/v1/admin/replication and /metrics.
  const reactors::ReactorRunner* reactors = nullptr;
  const reactors::Replication* replication = nullptr;  // null: replication is off
};

class Server {
 public:
  // Validates the options, loads the TLS files, binds and listens, and starts the threads.
  // InvalidArgument for bad options or TLS files, IOError when the address cannot be bound (in
  // use, not local).
  static Result<std::unique_ptr<Server>> Start(const GatewayOptions& options, GatewayDeps deps);
  ~Server();  // Stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port listened on (the chosen one when options.port was 0).
  uint16_t port() const;

  // Graceful stop: stops accepting, closes idle connections, lets every request in flight
  // finish (an append is answered once the ledger has acknowledged or refused it) for at most
  // options.stop_drain_ms, then closes what is left and joins the threads. Idempotent.
  //
  // A request still running after the drain (its append not yet answered by the ledger) is
  // abandoned; close the Ledger (Close() answers everything queued) before destroying the
  // Server, so that no ledger callback outlives it.
  void Stop();

 private:
  class Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::gateway
