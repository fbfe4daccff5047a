// WebhookClient (webhook.h): one POST on Boost.Beast, every step bounded by one deadline.
#include "annals/gateway/webhook.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <optional>

namespace annals::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Where a webhook goes.
struct Target {
  bool tls = false;
  std::string host;  // without brackets for an IPv6 literal
  std::string port;
  std::string path;  // with the query; "/" when the URL has none
};

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// http[s]://host[:port][/path][?query][#fragment]; nullopt for anything else (userinfo too).
std::optional<Target> ParseTarget(std::string_view url) {
  Target t;
  if (StartsWithNoCase(url, "https://")) {
    t.tls = true;
    url.remove_prefix(8);
  } else if (StartsWithNoCase(url, "http://")) {
    url.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  url = url.substr(0, url.find('#'));
  const size_t end = std::min(url.find('/'), url.find('?'));
  std::string_view authority = url.substr(0, end);
  t.path = end == std::string_view::npos ? "/" : std::string(url.substr(end));
  if (t.path.front() == '?') t.path.insert(t.path.begin(), '/');
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string_view port;
  if (authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    t.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else {
    const size_t colon = authority.find(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (t.host.empty()) return std::nullopt;
  if (port.empty()) {
    t.port = t.tls ? "443" : "80";
  } else {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      return std::nullopt;
    }
    const int value = std::stoi(std::string(port));
    if (value < 1 || value > 65535) return std::nullopt;
    t.port = std::string(port);
  }
  for (char c : t.path) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;
  }
  return t;
}

// Runs `ioc` until the operation just started sets `done`, or the deadline passes (then
// `cancel` is called and the cancelled operation is let finish). False on the timeout.
template <class Cancel>
bool RunUntilDone(net::io_context& ioc, const bool& done, Clock::time_point deadline,
                  Cancel cancel) {
  ioc.restart();
  while (!done && Clock::now() < deadline) {
    if (ioc.run_one_until(deadline) == 0 && ioc.stopped()) break;
  }
  if (done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

}  // namespace

struct WebhookClient::Impl {
  WebhookOptions options;
  net::ssl::context tls{net::ssl::context::tls_client};
};

Result<std::unique_ptr<WebhookClient>> WebhookClient::Make(const WebhookOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  SSL_CTX_set_min_proto_version(impl->tls.native_handle(), TLS1_2_VERSION);
  impl->tls.set_verify_mode(net::ssl::verify_peer);
  beast::error_code ec;
  if (options.ca_file.empty()) {
    impl->tls.set_default_verify_paths(ec);
  } else {
    impl->tls.load_verify_file(options.ca_file, ec);
  }
  if (ec) {
    return Status::InvalidArgument(
        fmt::format("webhook CA bundle '{}': {}",
                    options.ca_file.empty() ? "(the system's)" : options.ca_file, ec.message()));
  }
  return std::unique_ptr<WebhookClient>(new WebhookClient(std::move(impl)));
}

WebhookClient::WebhookClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookClient::~WebhookClient() = default;

Status WebhookClient::Post(std::string_view url, std::string_view cloudevent_json,
                           std::string_view key) {
  const std::optional<Target> target = ParseTarget(url);
  if (!target) {
    return Status::InvalidArgument("the target '" + std::string(url.substr(0, 256)) +
                                   "' is not an http:// or https:// URL");
  }
  const Clock::time_point deadline = Clock::now() + impl_->options.timeout;
  const auto failed = [&](std::string_view step, const beast::error_code& ec) {
    return Status::Unavailable(fmt::format("{} {}: {}", step, url, ec.message()));
  };
  const Status timed_out = Status::Unavailable(
      fmt::format("POST {}: no answer within {} ms", url, impl_->options.timeout.count()));

  net::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::error_code ec;
  bool done = false;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(target->host, target->port,
                         [&](const beast::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!RunUntilDone(ioc, done, deadline, [&] { resolver.cancel(); })) return timed_out;
  if (ec) return failed("resolving the host of", ec);

  beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->tls);
  beast::tcp_stream& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_at(deadline);
  const auto cancel = [&] { tcp_stream.cancel(); };
  done = false;
  tcp_stream.async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!RunUntilDone(ioc, done, deadline, cancel)) return timed_out;
  if (ec) return failed("connecting to", ec);

  if (target->tls) {
    if (!SSL_set_tlsext_host_name(stream.native_handle(), target->host.c_str())) {
      return Status::Unavailable("POST " + std::string(url) + ": cannot set the TLS server name");
    }
    stream.set_verify_callback(net::ssl::host_name_verification(target->host));
    done = false;
    stream.async_handshake(net::ssl::stream_base::client, [&](const beast::error_code& e) {
      ec = e;
      done = true;
    });
    if (!RunUntilDone(ioc, done, deadline, cancel)) return timed_out;
    if (ec) return failed("the TLS handshake with", ec);
  }

  http::request<http::string_body> request{http::verb::post, target->path, 11};
  const bool default_port = target->port == (target->tls ? "443" : "80");
  const std::string host = target->host.find(':') != std::string::npos
                               ? "[" + target->host + "]"
                               : target->host;
  request.set(http::field::host, default_port ? host : host + ":" + target->port);
  request.set(http::field::user_agent, "annals-webhook-outbox");
  request.set(http::field::content_type, "application/cloudevents+json");
  request.set("Idempotency-Key", std::string(key));
  request.set(http::field::connection, "close");
  request.body() = std::string(cloudevent_json);
  request.prepare_payload();

  http::response_parser<http::empty_body> answer;  // the header only: its body is not read
  answer.header_limit(kWebhookAnswerHeaderBytesMax);
  beast::flat_buffer buffer;
  const auto exchange = [&](auto& s) {
    done = false;
    http::async_write(s, request, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    if (!RunUntilDone(ioc, done, deadline, cancel)) return false;
    if (ec) return true;
    done = false;
    http::async_read_header(s, buffer, answer, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
    return RunUntilDone(ioc, done, deadline, cancel);
  };
  const bool answered = target->tls ? exchange(stream) : exchange(tcp_stream);
  if (!answered) return timed_out;
  if (ec) return failed("POST", ec);
  const unsigned status = answer.get().result_int();
  if (status < 200 || status > 299) {
    return Status::Unavailable(fmt::format("POST {}: answered HTTP {}", url, status));
  }
  return Status::Ok();
}

}  // namespace annals::gateway
