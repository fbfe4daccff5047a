// Goal: annalsd serves HTTPS and mutual TLS as docs/annalsd.md ("TLS") says, over real TLS
// against a real annalsd, with certificates made at run time (annals/testing/test_certs.h):
// - with tls.cert and tls.key the port speaks HTTPS only (TLS 1.3 agreed with an OpenSSL 3
//   client, TLS 1.2 still accepted, TLS 1.1 refused); a plain-HTTP client is closed unanswered,
//   and the server goes on serving;
// - with tls.client_ca, a client certificate signed by that CA whose SPIFFE ID is a peer's opens
//   the federation routes without a license; one signed by another CA fails the handshake and
//   writes nothing; one naming no peer, or no SPIFFE ID, is refused (403, 401); a suspended,
//   revoked or removed peer's certificate is refused at once; the license header, when sent,
//   decides alone; no certificate and no license is 401; a client certificate never opens an
//   admin route, and counts for nothing when no tls.client_ca asks for one;
// - the limits hold over TLS: header and body size, a client stopping mid-request, an idle
//   connection, connections_max (503 over TLS), and a handshake that never finishes is cut at
//   tls_handshake_timeout_ms;
// - an event stream works over TLS and SIGTERM ends it with the body's end; SIGTERM with appends
//   in flight over TLS answers them and exits 0, and every acknowledged append is kept;
// - bad TLS configuration stops annalsd with exit code 2 and a message naming the option, before
//   the data directory is created.
// Waits are bounded only to fail instead of hanging; no timing is asserted.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/child_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_certs.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

using std::chrono::milliseconds;

// The longest any one wait of a test may take before the test fails.
constexpr milliseconds kWait(20000);

constexpr std::string_view kPeers = "/api/v1/federation/peers";
constexpr std::string_view kCompliance = "/api/v1/admin/federation/compliance/peers";
constexpr std::string_view kDriftScan = "/api/v1/admin/federation/drift-scan";
constexpr std::string_view kPeerSpiffeId = "spiffe://frame-eu.example/registry";

// The certificates of a test, in its own directory: the server's (signed by server-ca, for
// 127.0.0.1), and clients' signed by the peer CA or by another.
struct Certs {
  TempDir dir;
  TestCa server_ca{dir.path(), "server-ca"};
  TestCa peer_ca{dir.path(), "peer-ca"};
  TestCa other_ca{dir.path(), "other-ca"};
  CertFiles server = server_ca.Issue("annalsd", "IP:127.0.0.1", TestCa::Use::kServer);
  // The peer frame-eu's certificate; the same SPIFFE ID from another CA; a SPIFFE ID no peer
  // has; no SPIFFE ID at all.
  CertFiles peer =
      peer_ca.Issue("frame-eu", "URI:" + std::string(kPeerSpiffeId), TestCa::Use::kClient);
  CertFiles rogue =
      other_ca.Issue("rogue", "URI:" + std::string(kPeerSpiffeId), TestCa::Use::kClient);
  CertFiles stranger =
      peer_ca.Issue("stranger", "URI:spiffe://stranger.example/registry", TestCa::Use::kClient);
  CertFiles nameless = peer_ca.Issue("nameless", "", TestCa::Use::kClient);

  // A client that trusts the server's CA, presenting `client` when given.
  TlsClientOptions Client(const CertFiles* client = nullptr) const {
    TlsClientOptions options{.ca = server_ca.files().cert};
    if (client != nullptr) {
      options.cert = client->cert;
      options.key = client->key;
    }
    return options;
  }
  // annalsd's flags for HTTPS, and for mutual TLS with the peer CA.
  std::vector<std::string> Https() const {
    return {"--tls-cert", server.cert, "--tls-key", server.key};
  }
  std::vector<std::string> MutualTls() const {
    std::vector<std::string> args = Https();
    args.insert(args.end(), {"--tls-client-ca", peer_ca.files().cert});
    return args;
  }
};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A refusal: status, problem type, reason and, for 401, the challenge.
void CheckRefused(const HttpResponse& r, int status, std::string_view reason) {
  INFO(r.status, " ", r.body, r.error);
  REQUIRE(r.status == status);
  CHECK(ProblemTypeOf(r) ==
        (status == 401 ? "urn:annals:problem:unauthorized" : "urn:annals:problem:forbidden"));
  CHECK(JsonDoc(r.body).str("/reason") == reason);
  CHECK((status == 401) == !r.header("www-authenticate").empty());
}

// No HTTP answer: the TLS handshake refused the client's certificate (with TLS 1.3 the client
// learns it from the server's alert, at its first read; or from the reset behind it).
void CheckHandshakeRefused(const HttpResponse& r) {
  INFO(r.status, " ", r.body, r.error);
  CHECK(r.status == 0);
  CHECK((r.error.find("unknown ca") != std::string::npos ||
         r.error.find("reset by peer") != std::string::npos));
}

// Adds the peer frame-eu, whose SPIFFE ID is kPeerSpiffeId.
void AddPeer(HttpClient& client) {
  PostEvent(client, "p1", "registry.peer.added.v1", "peer-frame-eu",
            R"({"peer_id":"frame-eu","name":"EU frame","base_url":"https://frame-eu.example",)"
            R"("spiffe_id":")" + std::string(kPeerSpiffeId) +
                R"(","kind":"frame","relation":"direct"})");
}

void SetPeerStatus(HttpClient& client, std::string_view id, std::string_view status) {
  PostEvent(client, id, "registry.peer.status_changed.v1", "peer-frame-eu",
            R"({"peer_id":"frame-eu","status":")" + std::string(status) +
                R"(","reason":"gateway_tls_test"})");
}

// Runs annalsd to completion with `args`; its standard error (the message) joins the output.
CommandResult RunAnnalsd(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1",
                                   BinDir() + "/annalsd"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

TEST_CASE("HTTPS only: requests over TLS are served; plain HTTP is closed unanswered") {
  Certs certs;
  // The TLS files from a config file this time ([tls]); flags and variables: the cases below.
  const std::string config = certs.dir.Sub("annalsd.toml");
  std::ofstream(config) << "[tls]\ncert = \"" << certs.server.cert << "\"\nkey = \""
                        << certs.server.key << "\"\n";
  Annalsd annalsd({.data_dir = certs.dir.Sub("data"), .args = {"--config", config}});
  REQUIRE(annalsd.listening());
  CHECK(annalsd.banner().starts_with("annalsd listening on https://127.0.0.1:"));
  HttpClient client(annalsd.port(), certs.Client());
  CHECK(client.Get("/healthz").status == 200);
  REQUIRE(client.Post("/api/v1/events", EventJson("e1"), kStructured).status == 201);
  const HttpResponse read = client.Get("/api/v1/events/1");
  REQUIRE(read.status == 200);
  CHECK(JsonDoc(read.body).str("/id") == "e1");

  RawConnection tls13(annalsd.port(), certs.Client());
  REQUIRE_MESSAGE(tls13.connected(), tls13.error());
  CHECK(tls13.tls_version() == "TLSv1.3");
  TlsClientOptions tls12 = certs.Client();
  tls12.version = "1.2";
  RawConnection older(annalsd.port(), tls12);
  REQUIRE_MESSAGE(older.connected(), older.error());
  CHECK(older.tls_version() == "TLSv1.2");
  TlsClientOptions tls11 = certs.Client();
  tls11.version = "1.1";
  RawConnection too_old(annalsd.port(), tls11);
  CHECK_FALSE(too_old.connected());
  CHECK(too_old.error().find("TLS handshake") != std::string::npos);

  SUBCASE("a plain-HTTP request is closed without an answer, and HTTPS goes on") {
    RawConnection plain(annalsd.port());
    REQUIRE(plain.connected());
    REQUIRE(plain.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    std::string received;
    CHECK(plain.WaitClosed(kWait, &received));
    CHECK(received.find("HTTP/") == std::string::npos);
    CHECK(HttpClient(annalsd.port()).Get("/healthz").status == 0);
    CHECK(client.Get("/healthz").status == 200);
    CHECK(HeadPosition(client) == 1);
  }
  SUBCASE("a client that does not trust the server's CA refuses it") {
    TlsClientOptions wrong = certs.Client();
    wrong.ca = certs.peer_ca.files().cert;
    const HttpResponse r = HttpClient(annalsd.port(), wrong).Get("/healthz");
    CHECK(r.status == 0);
    CHECK(r.error.find("certificate verify failed") != std::string::npos);
    CHECK(client.Get("/healthz").status == 200);
  }
  CHECK(annalsd.Stop(SIGTERM) == 0);
}

TEST_CASE("mutual TLS: a peer's certificate opens the federation routes, never admin routes") {
  Certs certs;
  const std::string token = "ta_adm_" + std::string(64, '5');
  Annalsd annalsd({.data_dir = certs.dir.Sub("data"),
                   .args = certs.Https(),
                   .env = {"ANNALS_TLS_CLIENT_CA=" + certs.peer_ca.files().cert,
                           "ANNALS_ADMIN_TOKEN_SHA256=" + ToHex(Sha256(token))}});
  REQUIRE(annalsd.listening());
  HttpClient anonymous(annalsd.port(), certs.Client());
  HttpClient peer(annalsd.port(), certs.Client(&certs.peer));
  // Before the peer is added its certificate names no peer.
  CheckRefused(peer.Get(kPeers), 403, "unknown-peer");
  AddPeer(anonymous);
  const uint64_t head = HeadPosition(anonymous);

  SUBCASE("the peer's certificate, without a license: the federation routes answer") {
    const HttpResponse peers = peer.Get(kPeers);
    REQUIRE(peers.status == 200);
    CHECK(JsonDoc(peers.body).str("/peers/0/spiffe_id") == kPeerSpiffeId);
    CHECK(peer.Get(std::string(kPeers) + "/frame-eu").status == 200);
    CHECK(peer.Get("/api/v1/federation/agent-cards").status == 200);
    // No federation route writes: a POST is let through by the guard, then 405 by the router.
    CHECK(peer.Post(kPeers, EventJson("f1"), kStructured).status == 405);
    CHECK(HeadPosition(anonymous) == head);
  }
  SUBCASE("no certificate and no license: 401 naming both ways in, nothing written") {
    const HttpResponse r = anonymous.Get(kPeers);
    CheckRefused(r, 401, "missing-credentials");
    CHECK(JsonDoc(r.body).str("/detail").find("tls.client_ca") != std::string::npos);
    CheckRefused(anonymous.Post(kPeers, EventJson("f2"), kStructured), 401,
                 "missing-credentials");
    CHECK(HeadPosition(anonymous) == head);
  }
  SUBCASE("a certificate of another CA fails the handshake: no answer, nothing written") {
    HttpClient rogue(annalsd.port(), certs.Client(&certs.rogue));
    CheckHandshakeRefused(rogue.Get(kPeers));
    CheckHandshakeRefused(rogue.Post("/api/v1/events", EventJson("r1"), kStructured));
    CHECK(HeadPosition(anonymous) == head);
    CHECK(peer.Get(kPeers).status == 200);
  }
  SUBCASE("the peer CA's certificates that name no peer: 403 unknown SPIFFE ID, 401 none") {
    const HttpResponse stranger = HttpClient(annalsd.port(), certs.Client(&certs.stranger))
                                      .Get(kPeers);
    CheckRefused(stranger, 403, "unknown-peer");
    CHECK(JsonDoc(stranger.body).str("/detail").find("spiffe://stranger.example/registry") !=
          std::string::npos);
    const HttpResponse nameless = HttpClient(annalsd.port(), certs.Client(&certs.nameless))
                                      .Get(kPeers);
    CheckRefused(nameless, 401, "malformed-credentials");
    CHECK(JsonDoc(nameless.body).str("/detail").find("CN=nameless") != std::string::npos);
  }
  SUBCASE("the peer suspended, reinstated, revoked, removed: each takes effect at once") {
    SetPeerStatus(anonymous, "s1", "SUSPENDED");
    CheckRefused(peer.Get(kPeers), 403, "peer-suspended");
    SetPeerStatus(anonymous, "s2", "ACTIVE");
    CHECK(peer.Get(kPeers).status == 200);
    SetPeerStatus(anonymous, "s3", "REVOKED");
    CheckRefused(peer.Get(kPeers), 403, "peer-revoked");
    SetPeerStatus(anonymous, "s4", "DRIFT");  // drift does not shut a peer out
    CHECK(peer.Get(kPeers).status == 200);
    PostEvent(anonymous, "r1", "registry.peer.removed.v1", "peer-frame-eu",
              R"({"peer_id":"frame-eu"})");
    CheckRefused(peer.Get(kPeers), 403, "unknown-peer");
  }
  SUBCASE("the license header, when sent, decides alone") {
    const std::string unknown = "tp_fed_" + ToHex(Sha256("never issued"));
    CheckRefused(peer.Get(kPeers, {{"X-Federation-License", unknown}}), 403, "unknown-license");
    CheckRefused(peer.Get(kPeers, {{"X-Federation-License", "nonsense"}}), 401,
                 "malformed-credentials");
  }
  SUBCASE("admin routes: a certificate is no token") {
    CheckRefused(peer.Get(kCompliance), 401, "missing-credentials");
    CheckRefused(peer.Post(kDriftScan, "{}", "application/json"), 401, "missing-credentials");
    CHECK(HeadPosition(anonymous) == head);
    const HttpHeaders bearer = {{"Authorization", "Bearer " + token}};
    CHECK(peer.Get(kCompliance, bearer).status == 200);
    CHECK(anonymous.Get(kCompliance, bearer).status == 200);
  }
  SUBCASE("public routes ignore the certificate") {
    CHECK(peer.Get("/healthz").status == 200);
    CHECK(peer.Post("/api/v1/events", EventJson("pub1"), kStructured).status == 201);
  }
  CHECK(annalsd.Stop(SIGTERM) == 0);
}

TEST_CASE("without tls.client_ca no certificate is asked for: a peer's counts for nothing") {
  Certs certs;
  Annalsd annalsd({.data_dir = certs.dir.Sub("data"), .args = certs.Https()});
  REQUIRE(annalsd.listening());
  HttpClient anonymous(annalsd.port(), certs.Client());
  AddPeer(anonymous);
  const HttpResponse r = HttpClient(annalsd.port(), certs.Client(&certs.peer)).Get(kPeers);
  CheckRefused(r, 401, "missing-credentials");
  CHECK(JsonDoc(r.body).str("/detail").find("certificate") == std::string::npos);
  // A certificate of an unknown CA is not even looked at.
  CHECK(HttpClient(annalsd.port(), certs.Client(&certs.rogue)).Get("/healthz").status == 200);
}

TEST_CASE("the limits hold over TLS") {
  Certs certs;
  const auto start = [&](const std::vector<std::string>& limits) {
    return std::make_unique<Annalsd>(
        AnnalsdOptions{.data_dir = certs.dir.Sub("data"), .args = Concat(certs.Https(), limits)});
  };
  std::string received;

  SUBCASE("headers and body over their limits: 431 and 413, nothing written") {
    auto annalsd = start({"--body-bytes-max", "65536"});
    REQUIRE(annalsd->listening());
    HttpClient client(annalsd->port(), certs.Client());
    HttpHeaders big = BinaryHeaders("h");
    big.emplace_back("ce-padding", std::string(20 << 10, 'p'));
    const HttpResponse headers = client.Post("/api/v1/events", "{}", "application/json", big);
    CHECK(headers.status == 431);
    const HttpResponse body = client.Post("/api/v1/events", std::string(65537, 'x'), "text/plain",
                                          BinaryHeaders("b"));
    CHECK(body.status == 413);
    CHECK(HeadPosition(client) == 0);
  }
  SUBCASE("a client that stops mid-request is disconnected unanswered") {
    // The request timeout, not the idle one (a minute), closes it.
    auto annalsd = start({"--request-timeout-ms", "500"});
    REQUIRE(annalsd->listening());
    RawConnection c(annalsd->port(), certs.Client());
    REQUIRE_MESSAGE(c.connected(), c.error());
    REQUIRE(c.Send("POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"sp"));
    CHECK(c.WaitClosed(kWait, &received));
    CHECK(received.empty());
  }
  SUBCASE("an idle connection is closed after its handshake") {
    auto annalsd = start({"--idle-timeout-ms", "500"});
    REQUIRE(annalsd->listening());
    RawConnection c(annalsd->port(), certs.Client());
    REQUIRE_MESSAGE(c.connected(), c.error());
    CHECK(c.WaitClosed(kWait, &received));
    CHECK(received.empty());
  }
  SUBCASE("a handshake that never finishes is cut at tls_handshake_timeout_ms") {
    // Idle and request timeouts stay at their defaults (a minute, 30 s): only the handshake's
    // can close these within the wait.
    auto annalsd = start({"--tls-handshake-timeout-ms", "300"});
    REQUIRE(annalsd->listening());
    RawConnection silent(annalsd->port());
    RawConnection half(annalsd->port());
    // A TLS record header announcing a ClientHello, and one byte of it.
    REQUIRE(half.Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
    CHECK(silent.WaitClosed(kWait, &received));
    CHECK(half.WaitClosed(kWait, &received));
    CHECK(received.empty());
    CHECK(HttpClient(annalsd->port(), certs.Client()).Get("/healthz").status == 200);
  }
  SUBCASE("one connection over connections_max is answered 503 over TLS, then closed") {
    auto annalsd = start({"--connections-max", "2"});
    REQUIRE(annalsd->listening());
    RawConnection first(annalsd->port(), certs.Client());
    RawConnection second(annalsd->port(), certs.Client());
    REQUIRE(first.connected());
    REQUIRE(second.connected());
    RawConnection third(annalsd->port(), certs.Client());
    REQUIRE_MESSAGE(third.connected(), third.error());
    CHECK(third.WaitClosed(kWait, &received));
    CHECK(received.starts_with("HTTP/1.1 503 "));
    CHECK(received.find("urn:annals:problem:unavailable") != std::string::npos);
  }
}

TEST_CASE("an event stream over TLS, ended by SIGTERM with the body's end; exit 0") {
  Certs certs;
  Annalsd annalsd({.data_dir = certs.dir.Sub("data"), .args = certs.Https()});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port(), certs.Client());
  RawConnection live(annalsd.port(), certs.Client());
  REQUIRE_MESSAGE(live.connected(), live.error());
  REQUIRE(live.Send("GET /api/v1/events/live?from=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string received;
  REQUIRE(live.WaitFor("\r\n\r\n", kWait, &received));
  CHECK(received.starts_with("HTTP/1.1 200 "));
  CHECK(received.find("text/event-stream") != std::string::npos);
  for (const char* id : {"s1", "s2", "s3"}) {
    REQUIRE(client.Post("/api/v1/events", EventJson(id), kStructured).status == 201);
  }
  REQUIRE(live.WaitFor("id: 3\n", kWait, &received));
  CHECK(received.find("id: 1\ndata: {\"specversion\":\"1.0\",\"id\":\"s1\"") != std::string::npos);
  CHECK(annalsd.Stop(SIGTERM) == 0);
  CHECK(live.WaitClosed(kWait, &received));
  CHECK(received.ends_with("\r\n0\r\n\r\n"));  // the chunked body's end
}

TEST_CASE("SIGTERM with appends in flight over TLS: exit 0, every acknowledged event kept") {
  Certs certs;
  CheckStopKeepsAcknowledgedAppends({.data_dir = certs.dir.Sub("data"), .args = certs.Https()},
                                    certs.Client());
}

TEST_CASE("bad TLS configuration stops annalsd with exit code 2, naming the option") {
  Certs certs;
  const std::string data = certs.dir.Sub("never-created");
  const std::string missing = certs.dir.Sub("missing.pem");
  const auto refused = [&](const std::vector<std::string>& tls, std::string_view message) {
    const CommandResult r = RunAnnalsd(Concat({"--data", data, "--listen", "127.0.0.1:0"}, tls));
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find(message) != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(data));
  };
  refused({"--tls-cert", certs.server.cert}, "tls.cert is set but tls.key is not");
  refused({"--tls-key", certs.server.key}, "tls.key is set but tls.cert is not");
  refused({"--tls-client-ca", certs.peer_ca.files().cert},
          "tls.client_ca is set but tls.cert and tls.key are not");
  refused({"--tls-cert", missing, "--tls-key", certs.server.key},
          "tls.cert: '" + missing + "' cannot be read");
  refused({"--tls-cert", certs.server.cert, "--tls-key", missing},
          "tls.key: '" + missing + "' cannot be read");
  refused({"--tls-cert", certs.server.key, "--tls-key", certs.server.key},
          "tls.cert: '" + certs.server.key + "' holds no PEM certificate chain");
  refused({"--tls-cert", certs.server.cert, "--tls-key", certs.server.cert},
          "tls.key: '" + certs.server.cert + "' holds no unencrypted PEM private key");
  refused({"--tls-cert", certs.server.cert, "--tls-key", certs.peer.key},
          "tls.key: '" + certs.peer.key + "' does not match the certificate of tls.cert");
  refused(Concat(certs.Https(), {"--tls-client-ca", missing}),
          "tls.client_ca: '" + missing + "' cannot be read");
  refused(Concat(certs.Https(), {"--tls-client-ca", certs.server.key}),
          "tls.client_ca: '" + certs.server.key + "' holds no PEM CA certificate");
  refused(Concat(certs.Https(), {"--tls-handshake-timeout-ms", "0"}), "tls_handshake_timeout_ms");
  // Right files: it starts.
  Annalsd annalsd({.data_dir = data, .args = certs.MutualTls()});
  CHECK(annalsd.listening());
}

}  // namespace
}  // namespace annals::testing
