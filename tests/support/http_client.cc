#include "annals/testing/http_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <optional>

#include "annals/base/assert.h"

namespace annals::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Responses of any size the gateway sends (a page of 10000 records).
constexpr uint64_t kResponseBytesMax = 256ull << 20;
// A RawConnection's TLS handshake and each of its blocked writes take at most this long.
constexpr int kTlsWaitMs = 30000;
constexpr std::string_view kServerAddress = "127.0.0.1";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpResponse Failed(const beast::error_code& ec, std::string_view when) {
  HttpResponse r;
  r.error = std::string(when) + ": " + ec.message();
  return r;
}

// The OpenSSL errors queued on this thread, for a message; the queue is emptied.
std::string OpenSslErrors() {
  std::string out;
  while (const unsigned long error = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(error, text, sizeof text);
    out += (out.empty() ? "" : "; ") + std::string(text);
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

// A client context: the server verified against options.ca, the client certificate loaded
// when given. A file that does not load is a broken test: it stops the process, naming it.
SSL_CTX* NewClientContext(const TlsClientOptions& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ANNALS_ASSERT(ctx != nullptr);
  ANNALS_ASSERT_MSG(SSL_CTX_load_verify_locations(ctx, options.ca.c_str(), nullptr) == 1,
                    options.ca.c_str());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.version.empty()) {
    ANNALS_ASSERT_MSG(options.version == "1.2" || options.version == "1.1",
                      options.version.c_str());
    const int version = options.version == "1.2" ? TLS1_2_VERSION : TLS1_1_VERSION;
    if (version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
    ANNALS_ASSERT(SSL_CTX_set_min_proto_version(ctx, version) == 1 &&
                  SSL_CTX_set_max_proto_version(ctx, version) == 1);
  }
  if (!options.cert.empty()) {
    ANNALS_ASSERT_MSG(SSL_CTX_use_certificate_chain_file(ctx, options.cert.c_str()) == 1,
                      options.cert.c_str());
    ANNALS_ASSERT_MSG(SSL_CTX_use_PrivateKey_file(ctx, options.key.c_str(), SSL_FILETYPE_PEM) == 1,
                      options.key.c_str());
  }
  return ctx;
}

// The server's certificate must name the address connected to.
void ExpectServerAddress(SSL* ssl) {
  ANNALS_ASSERT(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), kServerAddress.data()) == 1);
}

// Reads one response from `stream`.
template <typename Stream>
HttpResponse ReadResponse(Stream& stream, beast::flat_buffer& buffer) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(kResponseBytesMax);
  beast::error_code ec;
  http::read(stream, buffer, parser, ec);
  if (ec) return Failed(ec, "reading the response");
  auto& message = parser.get();
  HttpResponse r;
  r.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    r.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
  }
  r.body = std::move(message.body());
  return r;
}

beast::error_code Connect(beast::tcp_stream& stream, int port) {
  beast::error_code ec;
  stream.socket().connect(
      tcp::endpoint(net::ip::make_address_v4(kServerAddress), static_cast<uint16_t>(port)), ec);
  return ec;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return "";
}

struct HttpClient::Impl {
  Impl(int p, const std::optional<TlsClientOptions>& tls) : port(p), plain(ioc) {
    if (tls) tls_context.emplace(NewClientContext(*tls));  // the asio context owns it
  }

  // A fresh connection, with its TLS handshake when TLS.
  beast::error_code Connect() {
    buffer.clear();
    plain.close();
    if (!tls_context) return testing::Connect(plain, port);
    secure.emplace(ioc, *tls_context);
    if (auto ec = testing::Connect(secure->next_layer(), port)) return ec;
    ExpectServerAddress(secure->native_handle());
    beast::error_code ec;
    secure->handshake(net::ssl::stream_base::client, ec);
    return ec;
  }
  // Calls `use` with the connection's stream, TLS or plain.
  template <typename Use>
  auto WithStream(const Use& use) {
    return secure ? use(*secure) : use(plain);
  }

  int port;
  net::io_context ioc;
  std::optional<net::ssl::context> tls_context;
  beast::tcp_stream plain;                                  // without TLS
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;  // with TLS
  beast::flat_buffer buffer;
  bool connected = false;
};

HttpClient::HttpClient(int port, std::optional<TlsClientOptions> tls)
    : impl_(std::make_unique<Impl>(port, tls)) {}
HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Request(std::string_view method, std::string_view target,
                                 const HttpHeaders& headers, std::string body) {
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.insert(name, value);
  request.body() = std::move(body);
  request.prepare_payload();
  // A kept-alive connection the server has closed fails on first use: retry once, fresh.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->connected) {
      if (auto ec = impl_->Connect()) {
        impl_->secure.reset();
        return Failed(ec, "connecting");
      }
      impl_->connected = true;
    }
    HttpResponse response = impl_->WithStream([&](auto& stream) {
      beast::error_code ec;
      http::write(stream, request, ec);
      return ec ? Failed(ec, "writing the request") : ReadResponse(stream, impl_->buffer);
    });
    if (response.status == 0) {
      impl_->connected = false;
      if (attempt == 0) continue;
    } else if (Lower(response.header("connection")) == "close") {
      impl_->connected = false;
    }
    return response;
  }
  return {};
}

HttpResponse HttpClient::Get(std::string_view target, const HttpHeaders& headers) {
  return Request("GET", target, headers);
}

HttpResponse HttpClient::Post(std::string_view target, std::string body,
                              std::string_view content_type, const HttpHeaders& headers) {
  HttpHeaders all = headers;
  if (!content_type.empty()) all.emplace_back("Content-Type", std::string(content_type));
  return Request("POST", target, all, std::move(body));
}

HttpResponse HttpClient::SendRaw(int port, std::string_view bytes) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  if (auto ec = Connect(stream, port)) return Failed(ec, "connecting");
  beast::error_code ignored;
  net::write(stream.socket(), net::buffer(bytes.data(), bytes.size()), ignored);
  beast::flat_buffer buffer;
  return ReadResponse(stream, buffer);
}

struct RawConnection::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Tls() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
};

namespace {

// Waits (at most `timeout_ms`) until `fd` can be read (`events` POLLIN) or written (POLLOUT);
// false when it cannot by then.
bool WaitReady(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int n;
  while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
  }
  return n > 0;
}

}  // namespace

RawConnection::RawConnection(int port, const std::optional<TlsClientOptions>& tls) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error_ = std::string("connecting: ") + std::strerror(errno);
    close(fd_);
    fd_ = -1;
    return;
  }
  if (!tls) return;
  // The handshake blocks, for at most kTlsWaitMs; then the socket is non-blocking, so that
  // reads wait for TLS records with poll and a deadline.
  const timeval wait{kTlsWaitMs / 1000, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
  tls_ = std::make_unique<Tls>();
  tls_->ctx = NewClientContext(*tls);
  tls_->ssl = SSL_new(tls_->ctx);
  ANNALS_ASSERT(tls_->ssl != nullptr && SSL_set_fd(tls_->ssl, fd_) == 1);
  ExpectServerAddress(tls_->ssl);
  if (SSL_connect(tls_->ssl) != 1) {
    error_ = "TLS handshake: " + OpenSslErrors();
    close(fd_);
    fd_ = -1;
    return;
  }
  ANNALS_ASSERT(fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK) == 0);
}

RawConnection::~RawConnection() {
  tls_.reset();
  if (fd_ >= 0) close(fd_);
}

std::string RawConnection::tls_version() const {
  return tls_ != nullptr && connected() ? SSL_get_version(tls_->ssl) : "";
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    if (tls_ != nullptr) {
      const int n = SSL_write(tls_->ssl, bytes.data(), static_cast<int>(bytes.size()));
      if (n > 0) {
        bytes.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int error = SSL_get_error(tls_->ssl, n);
      const bool again = error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ;
      if (!again || !WaitReady(fd_, error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, kTlsWaitMs)) {
        return false;
      }
      continue;
    }
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return fd_ >= 0;
}

long RawConnection::Receive(std::chrono::steady_clock::time_point deadline,
                            std::string* received) {
  if (fd_ < 0) return 0;
  char chunk[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    const bool buffered = tls_ != nullptr && SSL_pending(tls_->ssl) > 0;
    if (!buffered) {
      if (left.count() <= 0) return -1;
      if (!WaitReady(fd_, POLLIN, static_cast<int>(left.count()))) continue;
    }
    long n = 0;
    if (tls_ != nullptr) {
      n = SSL_read(tls_->ssl, chunk, sizeof chunk);
      if (n <= 0) {
        const int error = SSL_get_error(tls_->ssl, static_cast<int>(n));
        ERR_clear_error();
        if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) continue;
        return 0;  // close_notify, an alert, the TCP close or a reset: closed
      }
    } else {
      n = recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // end of stream or reset: closed
    }
    received->append(chunk, static_cast<size_t>(n));
    return n;
  }
}

std::optional<std::chrono::milliseconds> RawConnection::WaitClosed(
    std::chrono::milliseconds timeout, std::string* received) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    const long n = Receive(start + timeout, received);
    if (n < 0) return std::nullopt;
    if (n == 0) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
  }
}

bool RawConnection::WaitFor(std::string_view text, std::chrono::milliseconds timeout,
                            std::string* received) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (received->find(text) == std::string::npos) {
    if (Receive(deadline, received) <= 0) return received->find(text) != std::string::npos;
  }
  return true;
}

}  // namespace annals::testing
