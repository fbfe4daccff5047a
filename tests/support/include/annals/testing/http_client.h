// A small synchronous HTTP/1.1 client for the gateway's tests (Boost.Beast, kept out of the
// test sources), and a raw TCP connection for the tests of slow or broken clients.
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

struct HttpResponse {
  int status = 0;        // 0: no response (the error says why)
  HttpHeaders headers;   // names in lower case
  std::string body;
  std::string error;     // transport error, when status is 0
  // The first header named `name` (lower case), or "" when absent.
  std::string header(std::string_view name) const;
};

// Keeps one connection to 127.0.0.1:port alive across requests, reconnecting when the server
// closed it.
class HttpClient {
 public:
  explicit HttpClient(int port);
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

// A plain TCP connection to 127.0.0.1:port.
class RawConnection {
 public:
  explicit RawConnection(int port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Writes all of `bytes`; false when the connection failed.
  bool Send(std::string_view bytes);
  // Waits at most `timeout` for the server to close the connection, keeping what it sends in
  // *received. Returns how long the close took, or nullopt when the connection is still open.
  std::optional<std::chrono::milliseconds> WaitClosed(std::chrono::milliseconds timeout,
                                                      std::string* received);

 private:
  int fd_ = -1;
};

}  // namespace annals::testing
