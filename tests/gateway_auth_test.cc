// Goal: a real annalsd guards its admin and federation routes as gateway/README.md ("Auth")
// says, over real HTTP. `annalsctl token new` prints a token and its SHA-256; with the hash
// configured (environment or config file) the token opens the admin routes, another token is
// refused (403), no Authorization is 401 with WWW-Authenticate: Bearer, malformed ones are 401;
// no hash configured: the admin routes are 403, never open. A federation license issued
// through POST /api/v1/events opens the federation routes while it is active and its peer is
// not suspended or revoked; suspended, revoked, reinstated, peer suspended and peer removed
// each take effect on the next request (the check waits for the peers view to reach the head).
// Public routes ask nothing. A refused request writes nothing: the ledger's head is unchanged
// after refused POSTs (to POST /api/v1/admin/federation/drift-scan, and to a federation path).
//
// The admin and federation routes themselves are another area's (routes_views.cc): where one is
// not there yet, a request the guard lets through is answered 404 "no route" by the router,
// which still tells "let through" from "refused" (401/403). The checks below accept either.
#include <doctest/doctest.h>

#include <cctype>
#include <fstream>
#include <initializer_list>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/child_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

constexpr std::string_view kDriftScan = "/api/v1/admin/federation/drift-scan";
constexpr std::string_view kCompliance = "/api/v1/admin/federation/compliance/peers";
constexpr std::string_view kPeers = "/api/v1/federation/peers";

struct Token {
  std::string token;
  std::string sha256;
};

// `annalsctl token new`, checked: one JSON line, the token's format, its hash.
Token NewToken() {
  const CommandResult r = RunCommand({BinDir() + "/annalsctl", "token", "new"});
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.find('\n') == r.out.size() - 1);
  const JsonDoc doc(r.out);
  Token t{doc.str("/token"), doc.str("/sha256")};
  CHECK(std::regex_match(t.token, std::regex("ta_adm_[0-9a-f]{64}")));
  CHECK(t.sha256 == ToHex(Sha256(t.token)));
  return t;
}

HttpHeaders Bearer(std::string_view token) {
  return {{"Authorization", "Bearer " + std::string(token)}};
}

HttpHeaders License(std::string_view key) { return {{"X-Federation-License", std::string(key)}}; }

// Let through by the guard: answered by the route (or 404 by the router when the route is not
// there yet), never 401 or 403.
void CheckLetThrough(const HttpResponse& r, std::initializer_list<int> route_statuses) {
  INFO(r.status, " ", r.body);
  bool expected = r.status == 404 && r.body.find("no route") != std::string::npos;
  for (int status : route_statuses) expected = expected || r.status == status;
  CHECK(expected);
}

// GET kPeers with `key` until the peer-status reactor has reacted (the answer is no longer
// "peer-suspended"/"peer-revoked"), at most 10 s; the last answer.
HttpResponse GetOnceReacted(HttpClient& client, const std::string& key) {
  HttpResponse r;
  for (int i = 0; i < 1000; ++i) {
    r = client.Get(kPeers, License(key));
    if (r.body.find("\"reason\":\"peer-") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return r;
}

// A refusal: the problem type, the status, the reason member and, for 401, the challenge.
void CheckRefused(const HttpResponse& r, int status, std::string_view reason) {
  INFO(r.body);
  REQUIRE(r.status == status);
  CHECK(ProblemTypeOf(r) ==
        (status == 401 ? "urn:annals:problem:unauthorized" : "urn:annals:problem:forbidden"));
  const JsonDoc body(r.body);
  CHECK(body.str("/reason") == reason);
  CHECK(body.u64("/status") == static_cast<uint64_t>(status));
  CHECK(!body.str("/detail").empty());
  CHECK((status == 401) == !r.header("www-authenticate").empty());
}

TEST_CASE("an admin token from annalsctl token new opens the admin routes (hash in the env)") {
  const Token token = NewToken();
  const Token other = NewToken();
  CHECK(other.token != token.token);
  TempDir dir;
  Annalsd annalsd({.data_dir = dir.Sub("data"),
                   .env = {"ANNALS_ADMIN_TOKEN_SHA256=" + token.sha256}});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  const uint64_t head = HeadPosition(client);
  const std::string scan = R"({"requested_by":"gateway_auth_test"})";

  SUBCASE("no credentials: 401 with a Bearer challenge, nothing written") {
    const HttpResponse r = client.Post(kDriftScan, scan, "application/json");
    CheckRefused(r, 401, "missing-credentials");
    CHECK(r.header("www-authenticate").starts_with("Bearer"));
    CheckRefused(client.Get(kCompliance), 401, "missing-credentials");
    CHECK(HeadPosition(client) == head);
  }
  SUBCASE("another token: 403, nothing written") {
    const HttpResponse r = client.Post(kDriftScan, scan, "application/json", Bearer(other.token));
    CheckRefused(r, 403, "unknown-token");
    CHECK(r.body.find(other.token) == std::string::npos);  // the credential is never echoed
    CheckRefused(client.Get(kCompliance, Bearer(other.token)), 403, "unknown-token");
    CHECK(HeadPosition(client) == head);
  }
  SUBCASE("malformed Authorization values: 401 naming what is wrong, nothing written") {
    const std::string hex = token.token.substr(7);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"Basic " + token.token, "Bearer"},
        {"Bearer", "Bearer"},
        {"Bearer " + hex, "does not start with ta_adm_"},
        {"Bearer tp_fed_" + hex, "does not start with ta_adm_"},
        {"Bearer ta_adm_" + hex.substr(1), "63 characters"},
        {"Bearer " + token.token + "0", "65 characters"},
        {"Bearer ta_adm_" + std::string(64, 'A'), "not a lower-case hex digit"},
        {"Bearer ta_adm_" + std::string(63, 'a') + "g", "not a lower-case hex digit"}};
    for (const auto& [value, detail] : cases) {
      CAPTURE(value);
      const HttpResponse r =
          client.Post(kDriftScan, scan, "application/json", {{"Authorization", value}});
      CheckRefused(r, 401, "malformed-credentials");
      CHECK(JsonDoc(r.body).str("/detail").find(detail) != std::string::npos);
    }
    // Two Authorization headers, one of them right: refused, not guessed.
    CheckRefused(client.Get(kCompliance, {{"Authorization", "Bearer " + token.token},
                                          {"Authorization", "Bearer " + other.token}}),
                 401, "malformed-credentials");
    CHECK(HeadPosition(client) == head);
  }
  SUBCASE("the token: let through, also with a lower-case scheme") {
    CheckLetThrough(client.Get(kCompliance, Bearer(token.token)), {200});
    CheckLetThrough(client.Get(kCompliance, {{"Authorization", "bearer " + token.token}}), {200});
    const HttpResponse r = client.Post(kDriftScan, scan, "application/json", Bearer(token.token));
    CheckLetThrough(r, {202});
    if (r.status == 202) CHECK(HeadPosition(client) == head + 1);
    // An admin path the router does not know: the guard still asks first.
    CheckRefused(client.Get("/api/v1/admin/no-such-route"), 401, "missing-credentials");
    CHECK(client.Get("/api/v1/admin/no-such-route", Bearer(token.token)).status == 404);
  }
}

TEST_CASE("admin token hashes from a config file; none configured: admin routes are 403") {
  const Token a = NewToken();
  const Token b = NewToken();
  TempDir dir;
  SUBCASE("two hashes in the file (one upper-case): either token opens, a third does not") {
    std::string upper = b.sha256;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string file = dir.Sub("annalsd.toml");
    std::ofstream(file) << "admin_token_sha256 = [\"" << a.sha256 << "\", \"" << upper
                        << "\"]\n";
    Annalsd annalsd({.data_dir = dir.Sub("data"), .args = {"--config", file}});
    REQUIRE(annalsd.listening());
    HttpClient client(annalsd.port());
    CheckLetThrough(client.Get(kCompliance, Bearer(a.token)), {200});
    CheckLetThrough(client.Get(kCompliance, Bearer(b.token)), {200});
    CheckRefused(client.Get(kCompliance, Bearer(NewToken().token)), 403, "unknown-token");
  }
  SUBCASE("no hash: 403 with or without a token, nothing written") {
    Annalsd annalsd({.data_dir = dir.Sub("data")});
    REQUIRE(annalsd.listening());
    HttpClient client(annalsd.port());
    const uint64_t head = HeadPosition(client);
    for (const HttpHeaders& headers : {HttpHeaders{}, Bearer(a.token)}) {
      const HttpResponse r = client.Post(kDriftScan, "{}", "application/json", headers);
      CheckRefused(r, 403, "admin-disabled");
      CHECK(JsonDoc(r.body).str("/detail") ==
            "admin routes are disabled: configure admin_token_sha256");
    }
    CHECK(HeadPosition(client) == head);
  }
}

TEST_CASE("annalsd refuses malformed or too many admin token hashes, naming the option") {
  const auto run = [](const std::vector<std::string>& env, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/bin/env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(BinDir() + "/annalsd");
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  };
  const std::string hash = NewToken().sha256;
  CHECK(run({"ANNALS_ADMIN_TOKEN_SHA256=" + hash + ",abc"}, {"--print-config"}).exit_code == 2);
  CHECK(run({}, {"--admin-token-sha256", hash.substr(1), "--print-config"}).exit_code == 2);
  std::string many = hash;
  for (int i = 0; i < 64; ++i) many += "," + hash;
  CHECK(run({}, {"--admin-token-sha256", many, "--print-config"}).exit_code == 2);
  // Accepted ones are printed as a TOML array, lower case.
  const CommandResult ok = run({}, {"--admin-token-sha256", hash + ", " + hash, "--print-config"});
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("admin_token_sha256 = [\"" + hash + "\", \"" + hash + "\"]\n") !=
        std::string::npos);
}

TEST_CASE("a federation license opens the federation routes while it and its peer allow it") {
  TempDir dir;
  Annalsd annalsd({.data_dir = dir.Sub("data")});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  const std::string key = "tp_fed_" + ToHex(Sha256("gateway_auth_test key"));
  const std::string unknown = "tp_fed_" + ToHex(Sha256("never issued"));

  // Before any license, and without a key.
  CheckRefused(client.Get(kPeers), 401, "missing-credentials");
  CHECK(client.Get(kPeers).header("www-authenticate").find("X-Federation-License") !=
        std::string::npos);
  CheckRefused(client.Get(kPeers, License(key)), 403, "unknown-license");

  PostEvent(client, "p1", "registry.peer.added.v1", "peer-frame-eu",
            R"({"peer_id":"frame-eu","name":"EU frame","base_url":"https://frame-eu.example",)"
            R"("spiffe_id":"spiffe://frame-eu.example/registry","kind":"frame",)"
            R"("relation":"direct"})");
  PostEvent(client, "l1", "registry.license.issued.v1", "license-lic-1",
            R"({"license_id":"lic-1","peer_id":"frame-eu","key_sha256":")" +
                ToHex(Sha256(key)) + R"(","tier":"standard"})");
  // Each check follows the event before it at once: the guard waits for the peers view.
  CheckLetThrough(client.Get(kPeers, License(key)), {200});
  CheckLetThrough(client.Get(std::string(kPeers) + "/frame-eu", License(key)), {200});
  CheckRefused(client.Get(kPeers, License(unknown)), 403, "unknown-license");

  SUBCASE("malformed keys: 401 naming what is wrong") {
    const std::string hex = key.substr(7);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {hex, "does not start with tp_fed_"},
        {"ta_adm_" + hex, "does not start with tp_fed_"},
        {"tp_fed_" + hex.substr(2), "62 characters"},
        {"tp_fed_" + std::string(64, 'F'), "not a lower-case hex digit"}};
    for (const auto& [value, detail] : cases) {
      CAPTURE(value);
      const HttpResponse r = client.Get(kPeers, License(value));
      CheckRefused(r, 401, "malformed-credentials");
      CHECK(JsonDoc(r.body).str("/detail").find(detail) != std::string::npos);
    }
    // The admin token does not stand in for a license, nor a license for the admin token.
    CheckRefused(client.Get(kPeers, Bearer("ta_adm_" + hex)), 401, "missing-credentials");
  }
  SUBCASE("suspended, reinstated, revoked, reinstated") {
    PostEvent(client, "l2", "registry.license.suspended.v1", "license-lic-1",
              R"({"license_id":"lic-1","reason":"audit"})");
    const HttpResponse suspended = client.Get(kPeers, License(key));
    CheckRefused(suspended, 403, "license-suspended");
    CHECK(JsonDoc(suspended.body).str("/detail") == "license lic-1 of peer frame-eu is suspended");
    PostEvent(client, "l3", "registry.license.reinstated.v1", "license-lic-1",
              R"({"license_id":"lic-1","reason":"audit passed"})");
    // The peer-status reactor follows the license: the suspension made the peer SUSPENDED,
    // the reinstatement makes it ACTIVE again, one reaction later.
    CheckLetThrough(GetOnceReacted(client, key), {200});
    PostEvent(client, "l4", "registry.license.revoked.v1", "license-lic-1",
              R"({"license_id":"lic-1","reason":"contract ended"})");
    CheckRefused(client.Get(kPeers, License(key)), 403, "license-revoked");
    PostEvent(client, "l5", "registry.license.reinstated.v1", "license-lic-1",
              R"({"license_id":"lic-1","reason":"renewed"})");
    CheckLetThrough(GetOnceReacted(client, key), {200});
  }
  SUBCASE("the peer suspended, revoked, drifting, then removed") {
    const auto status = [&](std::string_view id, std::string_view value) {
      PostEvent(client, id, "registry.peer.status_changed.v1", "peer-frame-eu",
                R"({"peer_id":"frame-eu","status":")" + std::string(value) +
                    R"(","reason":"test"})");
    };
    status("s1", "SUSPENDED");
    CheckRefused(client.Get(kPeers, License(key)), 403, "peer-suspended");
    status("s2", "REVOKED");
    CheckRefused(client.Get(kPeers, License(key)), 403, "peer-revoked");
    status("s3", "DRIFT");  // drift and inactivity do not shut a peer out
    CheckLetThrough(client.Get(kPeers, License(key)), {200});
    PostEvent(client, "r1", "registry.peer.removed.v1", "peer-frame-eu",
              R"({"peer_id":"frame-eu"})");
    CheckRefused(client.Get(kPeers, License(key)), 403, "unknown-license");
  }
  SUBCASE("a refused POST to a federation path writes nothing") {
    const uint64_t head = HeadPosition(client);
    CheckRefused(client.Post(kPeers, EventJson("f1"), kStructured), 401, "missing-credentials");
    CheckRefused(client.Post(kPeers, EventJson("f2"), kStructured, License(unknown)), 403,
                 "unknown-license");
    CHECK(HeadPosition(client) == head);
  }
}

TEST_CASE("public routes ask nothing; an encoded prefix is not a way around the guard") {
  TempDir dir;
  Annalsd annalsd({.data_dir = dir.Sub("data"),
                   .env = {"ANNALS_ADMIN_TOKEN_SHA256=" + NewToken().sha256}});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  CHECK(client.Get("/healthz").status == 200);
  CHECK(client.Post("/api/v1/events", EventJson("pub1"), kStructured).status == 201);
  CHECK(client.Get("/api/v1/events?from=1").status == 200);
  CHECK(client.Get("/api/v1/events/1").status == 200);
  CHECK(client.Get("/api/v1/ledger/head").status == 200);
  CHECK(client.Get("/api/v1/no-such-route").status == 404);
  // Paths that spell an admin or federation prefix once decoded are guarded like it.
  CheckRefused(client.Get("/api/v1/%61dmin/federation/compliance/peers"), 401,
               "missing-credentials");
  CheckRefused(client.Get("/api/v1/%66ederation/peers"), 401, "missing-credentials");
  CheckRefused(client.Get("/api/v1/admin"), 401, "missing-credentials");
  // Prefixes are whole segments: /api/v1/administrators is not an admin path.
  CHECK(client.Get("/api/v1/administrators").status == 404);
}

}  // namespace
}  // namespace annals::testing
