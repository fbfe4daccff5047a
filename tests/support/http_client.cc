#include "annals/testing/http_client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>

namespace annals::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Responses of any size the gateway sends (a page of 10000 records).
constexpr uint64_t kResponseBytesMax = 256ull << 20;

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

// Reads one response from `stream`.
HttpResponse ReadResponse(beast::tcp_stream& stream, beast::flat_buffer& buffer) {
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
      tcp::endpoint(net::ip::make_address_v4("127.0.0.1"), static_cast<uint16_t>(port)), ec);
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
  explicit Impl(int p) : port(p), stream(ioc) {}
  int port;
  net::io_context ioc;
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool connected = false;
};

HttpClient::HttpClient(int port) : impl_(std::make_unique<Impl>(port)) {}
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
      impl_->stream.close();
      impl_->buffer.clear();
      if (auto ec = Connect(impl_->stream, impl_->port)) return Failed(ec, "connecting");
      impl_->connected = true;
    }
    beast::error_code ec;
    http::write(impl_->stream, request, ec);
    HttpResponse response = ec ? Failed(ec, "writing the request")
                               : ReadResponse(impl_->stream, impl_->buffer);
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

RawConnection::RawConnection(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) close(fd_);
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty() && fd_ >= 0) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return fd_ >= 0;
}

std::optional<std::chrono::milliseconds> RawConnection::WaitClosed(
    std::chrono::milliseconds timeout, std::string* received) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (poll(&p, 1, left) <= 0) continue;
    char chunk[4096];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // end of stream or reset: closed
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    }
    received->append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace annals::testing
