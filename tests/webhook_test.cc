// Goal: the webhook outbox's HTTP client (annals/gateway/webhook.h) delivers over real loopback
// HTTP and HTTPS servers: a 2xx answer is a delivery and the server sees a POST of the
// CloudEvent with its Idempotency-Key; any other status, a refused connection, a server that
// never answers (cut at the timeout), a certificate that does not verify or names another host
// are not, each saying why; a target that is no http(s) URL is InvalidArgument, and so is a CA
// bundle that cannot be loaded. And annalsd end to end: with --operator-webhook, a detected
// drift reaches the operator's (real, loopback) webhook and its delivery is recorded; a target
// that is no http(s) URL stops annalsd at start (exit 2). Waits are bounded; no timing is
// asserted.
#include "annals/gateway/webhook.h"

#include <doctest/doctest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <signal.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_certs.h"
#include "annals/testing/test_util.h"

namespace annals::gateway {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

// A loopback server answering each POST with `status` (0: reads it and never answers), over
// TLS when given a certificate. It keeps the last request it read.
class HookServer {
 public:
  explicit HookServer(unsigned status, const testing::CertFiles* cert = nullptr)
      : status_(status), acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    if (cert != nullptr) {
      tls_.emplace(net::ssl::context::tls_server);
      tls_->use_certificate_chain_file(cert->cert);
      tls_->use_private_key_file(cert->key, net::ssl::context::pem);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~HookServer() {
    // The serving thread owns the acceptor: a connection of our own (on an io_context of its
    // own) wakes its accept, and it returns on seeing stop_.
    stop_ = true;
    net::io_context poke_context;
    tcp::socket poke(poke_context);
    boost::system::error_code ec;
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }
  unsigned short port() const { return port_; }
  std::optional<http::request<http::string_body>> last() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void Serve() {
    while (!stop_) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      if (tls_) {
        net::ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        stream.handshake(net::ssl::stream_base::server, ec);
        if (!ec) Exchange(stream);
      } else {
        Exchange(socket);
      }
    }
  }
  template <class Stream>
  void Exchange(Stream& stream) {
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> request;
    boost::system::error_code ec;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    {
      std::lock_guard lock(mu_);
      last_ = request;
    }
    if (status_ == 0) {
      // Never answers: waits until the client gives up and closes.
      char byte;
      stream.read_some(net::buffer(&byte, 1), ec);
      return;
    }
    http::response<http::string_body> response{static_cast<http::status>(status_), 11};
    response.body() = "{}";
    response.prepare_payload();
    http::write(stream, response, ec);
  }

  const unsigned status_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  const unsigned short port_ = acceptor_.local_endpoint().port();
  std::optional<net::ssl::context> tls_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::optional<http::request<http::string_body>> last_;
  std::thread thread_;
};

constexpr char kEvent[] =
    R"({"specversion":"1.0","id":"n-1","source":"/annals","type":"registry.notification.requested.v1"})";

std::unique_ptr<WebhookClient> Client(WebhookOptions options = {}) {
  auto client = WebhookClient::Make(options);
  REQUIRE_MESSAGE(client.ok(), client.status().ToString());
  return std::move(client).value();
}

std::string Url(const HookServer& server, std::string_view scheme, std::string_view host,
                std::string_view path) {
  return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(server.port()) +
         std::string(path);
}

TEST_CASE("a 2xx answer is a delivery: the server sees the POST, its body and its key") {
  HookServer server(202);
  const Status s = Client()->Post(Url(server, "http", "127.0.0.1", "/hooks/ops?x=1"), kEvent,
                                  "notification-n-1");
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  auto request = server.last();
  REQUIRE(request.has_value());
  CHECK(request->method() == http::verb::post);
  CHECK(request->target() == "/hooks/ops?x=1");
  CHECK((*request)[http::field::content_type] == "application/cloudevents+json");
  CHECK((*request)["Idempotency-Key"] == "notification-n-1");
  CHECK(request->body() == kEvent);
}

TEST_CASE("any other answer, no server, or no answer in time is no delivery, and says why") {
  {
    HookServer server(503);
    const Status s = Client()->Post(Url(server, "http", "127.0.0.1", "/"), kEvent, "k");
    CHECK(s.code() == StatusCode::kUnavailable);
    CHECK(s.ToString().find("503") != std::string::npos);
  }
  {
    unsigned short closed = 0;
    {
      HookServer gone(200);
      closed = gone.port();
    }
    const Status s = Client()->Post("http://127.0.0.1:" + std::to_string(closed) + "/", kEvent, "k");
    CHECK(s.code() == StatusCode::kUnavailable);
    CHECK(s.ToString().find("connecting") != std::string::npos);
  }
  {
    HookServer silent(0);
    WebhookOptions options;
    options.timeout = std::chrono::milliseconds(300);
    const Status s = Client(options)->Post(Url(silent, "http", "127.0.0.1", "/"), kEvent, "k");
    CHECK(s.code() == StatusCode::kUnavailable);
    INFO(s.ToString());
  }
}

TEST_CASE("a target that is no http(s) URL is refused as such") {
  auto client = Client();
  for (const char* url : {"ftp://127.0.0.1/x", "http://", "http://user@127.0.0.1/",
                          "http://127.0.0.1:70000/", "http://127.0.0.1:8x/", "hooks.example",
                          "http://[::1/", "http://127.0.0.1/a b"}) {
    INFO(url);
    CHECK(client->Post(url, kEvent, "k").code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("https: delivered when the certificate verifies and names the host, else not") {
  testing::TempDir dir;
  testing::TestCa ca(dir.path(), "hooks-ca");
  const testing::CertFiles cert = ca.Issue("hooks", "IP:127.0.0.1", testing::TestCa::Use::kServer);
  HookServer server(200, &cert);
  WebhookOptions trusting;
  trusting.ca_file = ca.files().cert;
  const Status ok = Client(trusting)->Post(Url(server, "https", "127.0.0.1", "/h"), kEvent, "k");
  CHECK_MESSAGE(ok.ok(), ok.ToString());
  REQUIRE(server.last().has_value());
  CHECK(server.last()->body() == kEvent);

  // The system's CAs do not know the test CA.
  const Status untrusted = Client()->Post(Url(server, "https", "127.0.0.1", "/h"), kEvent, "k");
  CHECK(untrusted.code() == StatusCode::kUnavailable);
  CHECK(untrusted.ToString().find("TLS") != std::string::npos);

  // The certificate names 127.0.0.1, not "localhost".
  const Status other_host =
      Client(trusting)->Post(Url(server, "https", "localhost", "/h"), kEvent, "k");
  CHECK(other_host.code() == StatusCode::kUnavailable);

  WebhookOptions missing;
  missing.ca_file = dir.Sub("no-such-ca.pem");
  auto refused = WebhookClient::Make(missing);
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK(refused.status().ToString().find("no-such-ca.pem") != std::string::npos);
}

TEST_CASE("annalsd: detected drift reaches the operator's webhook, and its delivery is recorded") {
  HookServer operator_hook(200);
  testing::TempDir dir;
  testing::Annalsd server({.data_dir = dir.Sub("data"),
                           .args = {"--operator-webhook",
                                    Url(operator_hook, "http", "127.0.0.1", "/ops")}});
  REQUIRE(server.listening());
  testing::HttpClient client(server.port());
  const std::string drift =
      R"({"specversion":"1.0","id":"d-1","source":"https://registry.example/ops",)"
      R"("type":"registry.compliance.drift_detected.v1","subject":"compliance-frame-b",)"
      R"("datacontenttype":"application/json","data":{"peer_id":"frame-b",)"
      R"("local_policy_hash":"sha256:l","peer_policy_hash":"sha256:p","divergent_agents":3,)"
      R"("threshold":2}})";
  REQUIRE(client.Post("/api/v1/events", drift, "application/cloudevents+json").status == 201);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  size_t delivered = 0;
  while (delivered == 0) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto page = client.Get("/api/v1/events?type=registry.notification.delivered.v1");
    REQUIRE(page.status == 200);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    REQUIRE(parser.parse(page.body).get(doc) == simdjson::SUCCESS);
    delivered = simdjson::dom::array(doc["events"]).size();
  }
  CHECK(delivered == 1);
  auto request = operator_hook.last();
  REQUIRE(request.has_value());
  CHECK(request->target() == "/ops");
  CHECK(request->body().find(R"("type":"registry.notification.requested.v1")") !=
        std::string::npos);
  CHECK(request->body().find("frame-b") != std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);

  testing::Annalsd refused({.data_dir = dir.Sub("other"),
                            .args = {"--operator-webhook", "mailto:ops@example.com"}});
  CHECK_FALSE(refused.listening());
  CHECK(refused.Stop(SIGTERM) == 2);
}

}  // namespace
}  // namespace annals::gateway
