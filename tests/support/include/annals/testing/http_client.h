// A small synchronous HTTP/1.1 client for the gateway's tests (Boost.Beast, kept out of the
// test sources), and a raw connection for the tests of slow or broken clients and of event
// streams. Both speak plain TCP or, given TlsClientOptions, TLS (OpenSSL 3).
//
// Thread-safety: one HttpClient or RawConnection per thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace annals::testing {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// TLS for a client of an HTTPS annalsd: the server's certificate must chain to `ca` (PEM) and
// name 127.0.0.1 (an IP subject alternative name); `cert` and `key` ("" : none) are a client
// certificate to present when the server asks for one.
struct TlsClientOptions {
  std::string ca;
  std::string cert;
  std::string key;
  // "" : the versions OpenSSL offers (1.2 and 1.3); "1.2" or "1.1": that version only (for
  // 1.1, OpenSSL's security level is lowered so that the client offers it at all).
  std::string version;
};

struct HttpResponse {
  int status = 0;        // 0: no response (the error says why)
  HttpHeaders headers;   // names in lower case
  std::string body;
  std::string error;     // transport error, when status is 0
  // The first header named `name` (lower case), or "" when absent.
  std::string header(std::string_view name) const;
};

// Keeps one connection to 127.0.0.1:port alive across requests, reconnecting when the server
// closed it: plain HTTP, or HTTPS with `tls` (a failed handshake is a response with status 0
// and the error; with TLS 1.3 a client certificate the server refuses fails the first read).
class HttpClient {
 public:
  explicit HttpClient(int port, std::optional<TlsClientOptions> tls = std::nullopt);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Request(std::string_view method, std::string_view target,
                       const HttpHeaders& headers = {}, std::string body = "");
  HttpResponse Get(std::string_view target, const HttpHeaders& headers = {});
  HttpResponse Post(std::string_view target, std::string body, std::string_view content_type,
                    const HttpHeaders& headers = {});

  // Sends `bytes` exactly as given on a fresh connection (a malformed or oversized request),
  // then reads one response. A failed send (the server closed early) still tries to read.
  static HttpResponse SendRaw(int port, std::string_view bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A connection to 127.0.0.1:port that sends and reads bytes as the test says: plain TCP, or
// with `tls` a TLS connection whose handshake the constructor completes (at most 30 s).
class RawConnection {
 public:
  explicit RawConnection(int port, const std::optional<TlsClientOptions>& tls = std::nullopt);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Connected, and with TLS the handshake done; else error() says why.
  bool connected() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }
  // The TLS version the handshake agreed on ("TLSv1.3"); "" without TLS.
  std::string tls_version() const;
  // Writes all of `bytes`; false when the connection failed.
  bool Send(std::string_view bytes);
  // Waits at most `timeout` for the server to close the connection, keeping what it sends in
  // *received. Returns how long the close took, or nullopt when the connection is still open.
  // With TLS, a close_notify, an alert or the TCP close all count as closed.
  std::optional<std::chrono::milliseconds> WaitClosed(std::chrono::milliseconds timeout,
                                                      std::string* received);
  // Reads into *received until it contains `text`; false when the connection closed or
  // `timeout` passed first.
  bool WaitFor(std::string_view text, std::chrono::milliseconds timeout, std::string* received);

 private:
  // Appends what arrives before `deadline` to *received: the bytes read (> 0), 0 when the
  // connection closed, -1 when the deadline passed.
  long Receive(std::chrono::steady_clock::time_point deadline, std::string* received);

  struct Tls;  // OpenSSL's connection, when TLS
  int fd_ = -1;
  std::unique_ptr<Tls> tls_;
  std::string error_;
};

}  // namespace annals::testing
