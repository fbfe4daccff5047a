// Goal: the view routes of a real annalsd serve what the views answer. For a sample registry
// (annalsctl sample, plus a card edit, a licensed peer and a drift scan), every view route's
// body is byte for byte what annalsctl prints for the same question on the same data directory
// (asked after the server stopped), a refusal of annalsctl (an unknown id) is a 404 problem,
// and every answer carries Annals-Position. Also: min_position gives read-your-writes (an event
// appended, then read with min_position = its position, is seen) and answers 503 "view behind"
// when the view does not get there in time; the registry card and the card feed answer 304 to
// a matching If-None-Match (the registry card's ETag moves only with an operator edit); bad
// parameters and bodies are 400 problems naming them; POST drift-scan appends exactly one
// event, and a retry with the same Idempotency-Key is a duplicate.
//
// The admin and federation routes are called with credentials (gateway/internal/auth.h): an
// admin token whose SHA-256 annalsd gets from its environment, and a federation license key
// whose SHA-256 a license issued in the ledger carries.
#include <doctest/doctest.h>
#include <signal.h>

#include <string>
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

const std::string kAdminToken = "ta_adm_" + std::string(64, 'a');
const std::string kLicenseKey = "tp_fed_" + std::string(64, 'b');
constexpr std::string_view kPeer = "frame-views";
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kDriftScan = "/api/v1/admin/federation/drift-scan";

// One event as a CloudEvents JSON line: source /views-test, the given id, type and data.
std::string Event(std::string_view id, std::string_view type, std::string_view subject,
                  std::string_view data) {
  return "{\"specversion\":\"1.0\",\"id\":\"" + std::string(id) +
         "\",\"source\":\"/views-test\",\"type\":\"" + std::string(type) + "\",\"subject\":\"" +
         std::string(subject) + "\",\"datacontenttype\":\"application/json\",\"data\":" +
         std::string(data) + "}";
}

std::string PeerAdded(std::string_view peer_id) {
  return Event("peer-" + std::string(peer_id), "registry.peer.added.v1",
               "peer-" + std::string(peer_id),
               R"({"peer_id":")" + std::string(peer_id) +
                   R"(","name":"Views frame","base_url":"https://views.example",)"
                   R"("spiffe_id":"spiffe://views.example/registry","kind":"frame",)"
                   R"("relation":"direct"})");
}

std::string AgentRegistered(std::string_view did, std::string_view name) {
  return Event("agent-" + std::string(did), "registry.agent.registered.v1",
               "agent-" + std::string(did),
               R"({"did":")" + std::string(did) + R"(","name":")" + std::string(name) +
                   R"(","description":"Translates documents","version":"1.0",)"
                   R"("url":"https://agents.views.example/t",)"
                   R"("skills":[{"id":"t","name":"Translate"}],"tags":["translation"],)"
                   R"("provider":{"organization":"Views","url":"https://views.example"},)"
                   R"("card":{"name":")" + std::string(name) + R"("}})");
}

std::string CardEdited(std::string_view id, std::string_view name) {
  return Event(id, "registry.card.edited.v1", "registry-card",
               R"({"name":")" + std::string(name) +
                   R"(","description":"Views test registry","capabilities":["a2a"],)"
                   R"("endpoints":{"api":"https://views.example/api/v1"},)"
                   R"("identity":{"spiffe_id":"spiffe://views.example/registry"}})");
}

std::string RegistryCardFetched(std::string_view peer_id) {
  return Event("card-" + std::string(peer_id), "registry.federation.registry_card_fetched.v1",
               "cards-" + std::string(peer_id),
               R"({"peer_id":")" + std::string(peer_id) +
                   R"(","etag":"e1","card":{"name":"Views frame"},"verdict":"verified",)"
                   R"("reason":"signature valid"})");
}

// The peer kPeer with a license whose key is kLicenseKey: what federation routes ask for.
std::vector<std::string> LicensedPeer() {
  return {PeerAdded(kPeer),
          Event("license-views", "registry.license.issued.v1", "license-views",
                R"({"license_id":"lic-views","peer_id":")" + std::string(kPeer) +
                    R"(","key_sha256":")" + ToHex(Sha256(kLicenseKey)) +
                    R"(","tier":"standard"})")};
}

const HttpHeaders& Credentials() {
  static const HttpHeaders headers = {{"authorization", "Bearer " + kAdminToken},
                                      {"x-federation-license", kLicenseKey}};
  return headers;
}

HttpHeaders With(HttpHeaders headers, const HttpHeaders& more) {
  headers.insert(headers.end(), more.begin(), more.end());
  return headers;
}

AnnalsdOptions ServerOptions(const TempDir& dir, std::vector<std::string> args = {}) {
  return {.data_dir = dir.Sub("data"),
          .args = std::move(args),
          .env = {"ANNALS_ADMIN_TOKEN_SHA256=" + ToHex(Sha256(kAdminToken))}};
}

// A fresh annalsd with the licensed peer kPeer, and a client.
struct Server {
  TempDir dir;
  Annalsd annalsd;
  HttpClient client;

  explicit Server(std::vector<std::string> args = {})
      : annalsd(ServerOptions(dir, std::move(args))), client(annalsd.port()) {
    REQUIRE(annalsd.listening());
    for (const std::string& event : LicensedPeer()) Post(event);
  }
  uint64_t Post(const std::string& event);
};

// GET with credentials.
HttpResponse Get(HttpClient& client, const std::string& url, const HttpHeaders& more = {}) {
  return client.Get(url, With(Credentials(), more));
}

// Appends one event; returns its position.
uint64_t Server::Post(const std::string& event) {
  const HttpResponse r = client.Post("/api/v1/events", event, kStructured, Credentials());
  INFO(r.body);
  REQUIRE(r.status == 201);
  return JsonDoc(r.body).u64("/position");
}

uint64_t PositionHeader(const HttpResponse& r) {
  INFO(r.status, " ", r.body);
  REQUIRE_FALSE(r.header("annals-position").empty());
  return std::stoull(r.header("annals-position"));
}

std::string Etag(const HttpResponse& r) { return r.header("etag"); }

// A problem answer: its status and type, and the member `parameter` when given.
void CheckProblem(const HttpResponse& r, int status, std::string_view type,
                  std::string_view parameter = "") {
  INFO(r.body);
  CHECK(r.status == status);
  CHECK(ProblemTypeOf(r) == "urn:annals:problem:" + std::string(type));
  if (!parameter.empty()) CHECK(JsonDoc(r.body).str("/parameter") == parameter);
}

// ------------------------------------------------------------------ the same as annalsctl

// A question asked over HTTP and of annalsctl, which answers it (200) or refuses it (404).
struct Question {
  std::string url;
  std::vector<std::string> ctl;  // annalsctl arguments
  bool answered = true;
  HttpResponse answer;
};

std::string WithMinPosition(const std::string& url, uint64_t position) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "min_position=" + std::to_string(position);
}

CommandResult Annalsctl(const TempDir& dir, const std::vector<std::string>& args,
                        const std::string& input = "") {
  std::vector<std::string> argv = {BinDir() + "/annalsctl", "--data", dir.Sub("data")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, input);
}

TEST_CASE("every view route answers what annalsctl prints") {
  TempDir dir;
  const CommandResult sample = Annalsctl(dir, {"sample", "--agents", "40", "--peers", "3"});
  REQUIRE(sample.exit_code == 0);
  std::string events = sample.out;
  for (const std::string& line : LicensedPeer()) events += line + "\n";
  events += CardEdited("edit-1", "Views registry") + "\n";
  events += AgentRegistered("did:web:views.example:translator", "Translator") + "\n";
  events += RegistryCardFetched(kPeer) + "\n";
  REQUIRE(Annalsctl(dir, {"import", "-"}, events).exit_code == 0);

  Annalsd annalsd(ServerOptions(dir));
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  // A drift scan asked over HTTP is in the compliance view too.
  const HttpResponse scan =
      client.Post(std::string(kDriftScan),
                  R"({"requested_by":"operator:alice","peer_id":"peer-1"})", kJson, Credentials());
  REQUIRE(scan.status == 202);
  const uint64_t head = HeadPosition(client);
  CHECK(JsonDoc(scan.body).u64("/position") == head);

  const JsonDoc first_page(
      Get(client, WithMinPosition("/api/v1/discover?query=agent&limit=3", head)).body);
  REQUIRE(!first_page.is_null("/next_cursor"));
  const std::string cursor = first_page.str("/next_cursor");
  const std::string did = first_page.str("/agents/0/did");
  std::vector<Question> questions = {
      {"/api/v1/discover", {"discover"}},
      {"/api/v1/discover?query=agent&limit=3", {"discover", "agent", "--limit", "3"}},
      {"/api/v1/discover?query=agent&limit=3&cursor=" + cursor,
       {"discover", "agent", "--limit", "3", "--cursor", cursor}},
      {"/api/v1/discover?query=translate+documents", {"discover", "translate documents"}},
      {"/api/v1/agents/" + did, {"agent", did}},
      {"/api/v1/agents/did:web:views.example:translator",
       {"agent", "did:web:views.example:translator"}},
      {"/api/v1/agents/did:web:nowhere", {"agent", "did:web:nowhere"}, false},
      {"/api/v1/federation/agent-cards", {"cards"}},
      {"/api/v1/federation/agent-cards?since=5&limit=7", {"cards", "--since", "5", "--limit", "7"}},
      {"/api/v1/federation/peers", {"peers"}},
      {"/api/v1/federation/peers/peer-1", {"peer", "peer-1"}},
      {"/api/v1/federation/peers/" + std::string(kPeer), {"peer", std::string(kPeer)}},
      {"/api/v1/federation/peers/nobody", {"peer", "nobody"}, false},
      {"/api/v1/federation/registry-cards/" + std::string(kPeer),
       {"registry-card", std::string(kPeer)}},
      {"/api/v1/federation/registry-cards/peer-1", {"registry-card", "peer-1"}, false},
      {"/api/v1/admin/federation/compliance/peers", {"compliance"}},
      {"/api/v1/admin/federation/compliance/peers/peer-1", {"compliance", "peer-1"}},
      {"/api/v1/admin/federation/compliance/peers/nobody", {"compliance", "nobody"}, false},
  };
  for (Question& q : questions) q.answer = Get(client, WithMinPosition(q.url, head));
  const HttpResponse card = Get(client, "/.well-known/registry-card.json");
  REQUIRE(annalsd.Stop(SIGTERM) == 0);

  for (const Question& q : questions) {
    CAPTURE(q.url);
    const CommandResult ctl = Annalsctl(dir, q.ctl);
    CHECK(PositionHeader(q.answer) == head);
    if (q.answered) {
      REQUIRE(ctl.exit_code == 0);
      CHECK(q.answer.status == 200);
      CHECK(q.answer.header("content-type") == "application/json");
      CHECK(q.answer.body + "\n" == ctl.out);
      CHECK(JsonDoc(q.answer.body).u64("/position") == head);
    } else {
      CHECK(ctl.exit_code == 1);
      CheckProblem(q.answer, 404, "not-found");
    }
  }
  // The registry card: the card alone, its entity-tag as the ETag.
  const CommandResult ctl = Annalsctl(dir, {"registry-card"});
  REQUIRE(ctl.exit_code == 0);
  const JsonDoc own(ctl.out);
  REQUIRE(card.status == 200);
  CHECK(own.raw("/card") == JsonDoc(card.body).raw(""));
  CHECK(Etag(card) == own.str("/etag"));
  CHECK(PositionHeader(card) == own.u64("/position"));
}

// --------------------------------------------------------------------------- min_position

TEST_CASE("min_position: read-your-writes, and 503 view behind when the wait runs out") {
  Server s({"--min-position-wait-ms-max", "300"});
  HttpClient& client = s.client;

  // Each event is seen by the read that names its position, however soon after the append.
  for (int i = 0; i < 20; ++i) {
    const std::string did = "did:web:ryw.example:a" + std::to_string(i);
    const uint64_t agent = s.Post(AgentRegistered(did, "Agent " + std::to_string(i)));
    const HttpResponse r = Get(client, WithMinPosition("/api/v1/agents/" + did, agent));
    REQUIRE(r.status == 200);
    CHECK(JsonDoc(r.body).str("/agent/did") == did);
    CHECK(PositionHeader(r) >= agent);
    CHECK(PositionHeader(r) == JsonDoc(r.body).u64("/position"));

    const std::string peer_id = "ryw-" + std::to_string(i);
    const uint64_t peer = s.Post(PeerAdded(peer_id));
    const HttpResponse p =
        Get(client, WithMinPosition("/api/v1/federation/peers/" + peer_id, peer));
    REQUIRE(p.status == 200);
    CHECK(JsonDoc(p.body).str("/peer/peer_id") == peer_id);
    CHECK(PositionHeader(p) >= peer);
  }

  const uint64_t head = HeadPosition(client);
  REQUIRE(Get(client, WithMinPosition("/api/v1/federation/peers", head)).status == 200);
  const HttpResponse behind = Get(client, WithMinPosition("/api/v1/federation/peers", head + 1));
  CheckProblem(behind, 503, "unavailable");
  const JsonDoc problem(behind.body);
  CHECK(problem.str("/view") == "peers");
  CHECK(problem.u64("/position") == head);
  CHECK(problem.u64("/min_position") == head + 1);
  CHECK(problem.str("/detail").starts_with("view behind"));
  CHECK(PositionHeader(behind) == head);
  CHECK(!behind.header("retry-after").empty());
  // min_position=0 asks for nothing; a bad one is refused by name.
  CHECK(Get(client, "/api/v1/discover?min_position=0").status == 200);
  CheckProblem(Get(client, "/api/v1/discover?min_position=-1"), 400, "invalid-request",
               "min_position");
  CheckProblem(Get(client, "/api/v1/federation/peers?min_position=x"), 400, "invalid-request",
               "min_position");
}

TEST_CASE("a repeated read may come from the answer cache, never older than the view") {
  Server s;
  HttpClient& client = s.client;
  const uint64_t first = s.Post(AgentRegistered("did:web:cache.example:a1", "Quagga one"));
  const std::string url = "/api/v1/discover?query=quagga";
  const HttpResponse r1 = Get(client, WithMinPosition(url, first));
  REQUIRE(r1.status == 200);
  CHECK(JsonDoc(r1.body).u64("/total") == 1);
  // Asked again at the same position: the same answer and position.
  const HttpResponse again = Get(client, url);
  CHECK(again.body == r1.body);
  CHECK(PositionHeader(again) == PositionHeader(r1));
  // The view moves on: an answer rendered at the older position is never served again.
  const uint64_t second = s.Post(AgentRegistered("did:web:cache.example:a2", "Quagga two"));
  const HttpResponse r2 = Get(client, WithMinPosition(url, second));
  REQUIRE(r2.status == 200);
  CHECK(JsonDoc(r2.body).u64("/total") == 2);
  CHECK(PositionHeader(r2) >= second);
  // A refusal is per position too: unknown, then registered.
  const std::string agent = "/api/v1/agents/did:web:cache.example:a3";
  CHECK(Get(client, agent).status == 404);
  CHECK(Get(client, agent).status == 404);
  const uint64_t third = s.Post(AgentRegistered("did:web:cache.example:a3", "Quagga three"));
  CHECK(Get(client, WithMinPosition(agent, third)).status == 200);
}

// ------------------------------------------------------------------------------ 304, ETag

TEST_CASE("the registry card and the card feed answer 304 to a matching If-None-Match") {
  Server s;
  HttpClient& client = s.client;

  // Never edited: 404, with or without If-None-Match.
  uint64_t head = HeadPosition(client);
  const std::string card_url = WithMinPosition("/.well-known/registry-card.json", head);
  CheckProblem(Get(client, card_url), 404, "not-found");
  CheckProblem(Get(client, card_url, {{"if-none-match", "*"}}), 404, "not-found");

  head = s.Post(CardEdited("edit-1", "Views registry"));
  const HttpResponse card = Get(client, WithMinPosition("/.well-known/registry-card.json", head));
  REQUIRE(card.status == 200);
  const std::string etag = Etag(card);
  REQUIRE(etag.size() == 66);
  CHECK(JsonDoc(card.body).str("/name") == "Views registry");
  for (const std::string& match : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
    CAPTURE(match);
    const HttpResponse r =
        Get(client, "/.well-known/registry-card.json", {{"if-none-match", match}});
    CHECK(r.status == 304);
    CHECK(r.body.empty());
    CHECK(Etag(r) == etag);
    CHECK(PositionHeader(r) == head);
  }
  CHECK(Get(client, "/.well-known/registry-card.json", {{"if-none-match", "\"other\""}}).status ==
        200);
  // An agent moves the card's counters, not its ETag; an edit moves both.
  head = s.Post(AgentRegistered("did:web:etag.example:a", "A"));
  const HttpResponse counted = Get(client, WithMinPosition("/.well-known/registry-card.json", head),
                                   {{"if-none-match", etag}});
  CHECK(counted.status == 304);
  CHECK(PositionHeader(counted) == head);
  head = s.Post(CardEdited("edit-2", "Renamed registry"));
  const HttpResponse edited = Get(client, WithMinPosition("/.well-known/registry-card.json", head),
                                  {{"if-none-match", etag}});
  CHECK(edited.status == 200);
  CHECK(Etag(edited) != etag);
  CHECK(JsonDoc(edited.body).str("/name") == "Renamed registry");

  // The card feed: its ETag hashes the body.
  const HttpResponse feed = Get(client, WithMinPosition("/api/v1/federation/agent-cards", head));
  REQUIRE(feed.status == 200);
  CHECK(Etag(feed) == "\"" + ToHex(Sha256(feed.body)) + "\"");
  const HttpResponse same =
      Get(client, "/api/v1/federation/agent-cards", {{"if-none-match", Etag(feed)}});
  CHECK(same.status == 304);
  CHECK(same.body.empty());
  CHECK(Etag(same) == Etag(feed));
  CHECK(PositionHeader(same) == head);
  head = s.Post(AgentRegistered("did:web:etag.example:b", "B"));
  const HttpResponse moved = Get(client, WithMinPosition("/api/v1/federation/agent-cards", head),
                                 {{"if-none-match", Etag(feed)}});
  CHECK(moved.status == 200);
  CHECK(Etag(moved) != Etag(feed));
}

// ------------------------------------------------------------------------ 400s and 404s

TEST_CASE("bad parameters are 400 problems naming them; unknown ids 404") {
  Server s;
  HttpClient& client = s.client;
  const uint64_t head = HeadPosition(client);

  auto refused = [&](const std::string& url, const std::string& parameter) {
    CAPTURE(url);
    CheckProblem(Get(client, url), 400, "invalid-request", parameter);
  };
  refused("/api/v1/discover?limit=0", "limit");
  refused("/api/v1/discover?limit=101", "limit");
  refused("/api/v1/discover?query=" + std::string(1025, 'a'), "query");
  std::string terms;
  for (int i = 0; i < 33; ++i) terms += "t" + std::to_string(i) + "+";
  refused("/api/v1/discover?query=" + terms, "query");
  refused("/api/v1/discover?query=%FF", "query");
  refused("/api/v1/discover?query=agent&cursor=bogus", "cursor");
  refused("/api/v1/discover?cursor=bogus", "cursor");
  refused("/api/v1/discover?qeury=agent", "qeury");
  refused("/api/v1/discover?limit=1&limit=2", "limit");
  refused("/api/v1/federation/agent-cards?since=x", "since");
  refused("/api/v1/federation/agent-cards?limit=10001", "limit");
  refused("/api/v1/federation/agent-cards?limit=0", "limit");
  refused("/api/v1/federation/peers?since=1", "since");
  refused("/.well-known/registry-card.json?x=1", "x");

  for (const std::string url :
       {"/api/v1/agents/did:web:nowhere", "/api/v1/federation/peers/nobody",
        "/api/v1/federation/registry-cards/nobody",
        "/api/v1/admin/federation/compliance/peers/nobody"}) {
    CAPTURE(url);
    const HttpResponse r = Get(client, WithMinPosition(url, head));
    CheckProblem(r, 404, "not-found");
    CHECK(PositionHeader(r) == head);
  }
}

// ---------------------------------------------------------------------------- drift scan

TEST_CASE("drift-scan appends one event; a retry with its Idempotency-Key is a duplicate") {
  Server s;
  HttpClient& client = s.client;
  const std::string body = R"({"peer_id":"frame-views","requested_by":"operator:alice"})";
  const HttpHeaders key = With(Credentials(), {{"idempotency-key", "scan-1"}});

  const uint64_t before = HeadPosition(client);
  const HttpResponse scan = client.Post(std::string(kDriftScan), body, kJson, key);
  INFO(scan.body);
  REQUIRE(scan.status == 202);
  const uint64_t position = JsonDoc(scan.body).u64("/position");
  CHECK(position == before + 1);
  CHECK(HeadPosition(client) == position);
  CHECK(JsonDoc(scan.body).str("/result") == "appended");
  CHECK(JsonDoc(scan.body).str("/stream") == "compliance-frame-views");
  CHECK(scan.header("location") == "/api/v1/events/" + std::to_string(position));
  const JsonDoc record(client.Get("/api/v1/events/" + std::to_string(position)).body);
  CHECK(record.str("/type") == "registry.compliance.drift_scan_requested.v1");
  CHECK(record.raw("/data") == R"({"requested_by":"operator:alice","peer_id":"frame-views"})");

  // The same request again: a duplicate naming the original; nothing written.
  const HttpResponse retry = client.Post(std::string(kDriftScan), body, kJson, key);
  CheckProblem(retry, 409, "duplicate");
  CHECK(JsonDoc(retry.body).u64("/position") == position);
  // The same key for another request: key reuse; nothing written.
  const HttpResponse other =
      client.Post(std::string(kDriftScan), R"({"requested_by":"bob"})", kJson, key);
  CheckProblem(other, 422, "key-reuse");
  CHECK(HeadPosition(client) == position);

  // Without a key every request is a new scan (of every peer without peer_id).
  const HttpResponse all =
      client.Post(std::string(kDriftScan), R"({"requested_by":"poller"})", kJson, Credentials());
  REQUIRE(all.status == 202);
  CHECK(JsonDoc(all.body).u64("/position") == position + 1);
  CHECK_FALSE(JsonDoc(all.body).has("/stream"));
  const HttpResponse again =
      client.Post(std::string(kDriftScan), R"({"requested_by":"poller"})", kJson, Credentials());
  REQUIRE(again.status == 202);
  CHECK(JsonDoc(again.body).u64("/position") == position + 2);

  // The compliance view sees the last scan asked for the peer.
  const std::string compliance_url = "/api/v1/admin/federation/compliance/peers/frame-views";
  const HttpResponse compliance = Get(client, WithMinPosition(compliance_url, position + 2));
  REQUIRE(compliance.status == 200);
  CHECK(JsonDoc(compliance.body).str("/last_scan_requested_by") == "poller");
}

TEST_CASE("drift-scan: an invalid body is a 400 naming the field, and writes nothing") {
  Server s;
  HttpClient& client = s.client;
  const uint64_t head = HeadPosition(client);
  auto refused = [&](const std::string& body, const std::string& field) {
    CAPTURE(body);
    CheckProblem(client.Post(std::string(kDriftScan), body, kJson, Credentials()), 400,
                 "invalid-request", field);
  };
  refused("", "body");
  refused("{", "body");
  refused("[]", "body");
  refused(R"({"requested_by":"a"} x)", "body");
  refused("{}", "requested_by");
  refused(R"({"requested_by":null})", "requested_by");
  refused(R"({"requested_by":5})", "requested_by");
  refused(R"({"requested_by":""})", "requested_by");
  refused(R"({"requested_by":")" + std::string(300, 'r') + "\"}", "requested_by");
  refused(R"({"requested_by":"a","requested_by":"b"})", "requested_by");
  refused(R"({"requested_by":"a","peer_id":7})", "peer_id");
  refused(R"({"requested_by":"a","peer_id":""})", "peer_id");
  refused(R"({"requested_by":"a","peer_id":")" + std::string(250, 'p') + "\"}", "peer_id");
  refused(R"({"requested_by":"a","peer":"p"})", "peer");
  const HttpResponse text =
      client.Post(std::string(kDriftScan), R"({"requested_by":"a"})", "text/plain", Credentials());
  CheckProblem(text, 415, "unsupported-media-type");
  CheckProblem(client.Post(std::string(kDriftScan) + "?x=1", R"({"requested_by":"a"})", kJson,
                           Credentials()),
               400, "invalid-request", "x");
  CHECK(HeadPosition(client) == head);
}

}  // namespace
}  // namespace annals::testing
