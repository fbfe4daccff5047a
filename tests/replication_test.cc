// Goal: replication over a real NATS JetStream (nats-server on free loopback ports, temp
// stores) delivers each event exactly once, with its origin, whatever happens in the middle:
// registries A and B both ways; B killed -9 mid-stream and restarted; nats-server killed and
// restarted mid-stream; a 3-node cluster with an R3 stream losing a node. An agent registered on
// A is found by a discover query on B with source_registry A. A peer SUSPENDED on B has its new
// events refused, counted and written nowhere; malformed messages are refused; binary-mode
// CloudEvents are accepted.
#include <doctest/doctest.h>
#include <nats/nats.h>
#include <signal.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "annals/base/coding.h"
#include "annals/base/sha256.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/nats_server.h"
#include "annals/testing/test_certs.h"
#include "annals/testing/test_util.h"

namespace annals::testing {
namespace {

const std::string kToken = "ta_adm_" + std::string(64, 'a');
constexpr auto kWait = std::chrono::seconds(90);

// Waits until `done` holds (checked every 50 ms), at most kWait; false when it never did.
bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::string PeerAdded(std::string_view peer) {
  return R"({"peer_id":")" + std::string(peer) + R"(","name":"Registry )" + std::string(peer) +
         R"(","base_url":"https://)" + std::string(peer) + R"(.example","spiffe_id":"spiffe://)" +
         std::string(peer) + R"(.example/registry","kind":"operator","relation":"direct"})";
}

std::string AgentRegistered(std::string_view registry, std::string_view name) {
  const std::string did = "did:web:" + std::string(registry) + ".example:agents:" + std::string(name);
  return R"({"did":")" + did + R"(","name":")" + std::string(name) +
         R"(","description":"replicated agent","version":"1.0.0","url":"https://)" +
         std::string(registry) + R"(.example/a","skills":[{"id":"s","name":"Replication skill","description":"d","tags":["fed"]}],"tags":["fed"],"provider":{"organization":"Org","url":"https://org.example"},"card":{"name":")" +
         std::string(name) + R"("}})";
}

// One event in the JSON event format.
std::string Event(std::string_view type, std::string_view source, std::string_view id,
                  std::string_view data, std::string_view subject = "") {
  std::string json = R"({"specversion":"1.0","id":")" + std::string(id) + R"(","source":")" +
                     std::string(source) + R"(","type":")" + std::string(type) + R"(")";
  if (!subject.empty()) json += R"(,"subject":")" + std::string(subject) + R"(")";
  return json + R"(,"datacontenttype":"application/json","data":)" + std::string(data) + "}";
}

// What a registry's ledger holds, as read over HTTP.
struct Holdings {
  std::map<std::string, int> keys_by_origin_count;  // "<origin> <key>" -> times seen
  std::map<std::string, int> events_by_origin;
  uint64_t head = 0;
};

// A registry: its data directory, its annalsd, and a client to it.
class Registry {
 public:
  // Creates the ledger of registry `name` with each of `peers` added (ACTIVE), offline, with
  // annalsctl: the peers are known before replication starts.
  Registry(const std::string& root, std::string name, const std::vector<std::string>& peers)
      : name_(std::move(name)), dir_(root + "/" + name_) {
    int n = 0;
    for (const std::string& peer : peers) {
      const CommandResult r = RunCommand(
          {BinDir() + "/annalsctl", "--data", dir_, "--registry-name", name_, "append", "--type",
           "registry.peer.added.v1", "--source", "/registry/" + name_ + "/setup", "--id", "peer-" + std::to_string(++n),
           "--subject", "peer-" + peer, "--data", PeerAdded(peer)});
      REQUIRE_MESSAGE(r.exit_code == 0, r.out);
    }
  }

  void Start(const std::string& nats_url, const std::vector<std::string>& peers,
             std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--registry-name", name_, "--nats-url", nats_url,
                                     "--admin-token-sha256", ToHex(Sha256(kToken)),
                                     "--log-level", "warn"};
    for (const std::string& peer : peers) args.insert(args.end(), {"--peer", peer});
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<Annalsd>(AnnalsdOptions{.data_dir = dir_, .args = args});
    REQUIRE(server_->listening());
    http_ = std::make_unique<HttpClient>(server_->port());
  }
  void Kill() {
    http_.reset();
    server_->Stop(SIGKILL);
    server_.reset();
  }
  void Stop() {
    http_.reset();
    CHECK(server_->Stop(SIGTERM) == 0);
    server_.reset();
  }

  // Appends one event; REQUIREs 201.
  void Append(const std::string& event) {
    HttpResponse r = http_->Post("/api/v1/events", event, "application/cloudevents+json");
    REQUIRE_MESSAGE(r.status == 201, r.status, " ", r.body, r.error);
  }

  Holdings Read() {
    Holdings h;
    std::string target = "/api/v1/events?from=1&limit=1000";
    simdjson::dom::parser parser;
    while (true) {
      HttpResponse r = http_->Get(target);
      REQUIRE(r.status == 200);
      simdjson::dom::element page = parser.parse(r.body);
      for (simdjson::dom::element e : page["events"].get_array()) {
        const std::string origin{std::string_view(e["origin"])};
        const std::string key{std::string_view(e["idempotency_key"])};
        ++h.keys_by_origin_count[origin + " " + key];
        ++h.events_by_origin[origin];
        h.head = uint64_t(e["position"]);
      }
      std::string_view next;
      if (page["next"].get_string().get(next) != simdjson::SUCCESS) break;
      target = std::string(next);
    }
    return h;
  }

  int Count(const std::string& origin) { return Read().events_by_origin[origin]; }

  // The replication status (GET /api/v1/admin/replication), as text.
  std::string ReplicationStatus() {
    HttpResponse r = http_->Get("/api/v1/admin/replication", {{"Authorization", "Bearer " + kToken}});
    REQUIRE(r.status == 200);
    return r.body;
  }
  // A number in the status of the consumer of `peer` at the JSON pointer `pointer`
  // ("/refused/peer_not_active").
  uint64_t PeerCounter(const std::string& peer, const std::string& pointer) {
    simdjson::dom::parser parser;
    simdjson::dom::element status = parser.parse(ReplicationStatus());
    for (simdjson::dom::element p : status["peers"].get_array()) {
      if (std::string_view(p["peer"]) == peer) return uint64_t(p.at_pointer(pointer));
    }
    FAIL("no status for peer " << peer);
    return 0;
  }

  HttpClient& http() { return *http_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string dir_;
  std::unique_ptr<Annalsd> server_;
  std::unique_ptr<HttpClient> http_;
};

// Every event of `origin` that `from` holds is in `to` exactly once, with that origin.
void CheckExactlyOnce(Registry& from, Registry& to, const std::string& origin) {
  const Holdings source = from.Read();
  const Holdings copy = to.Read();
  size_t own = 0;
  for (const auto& [origin_key, count] : source.keys_by_origin_count) {
    if (!origin_key.starts_with(origin + " ")) continue;
    ++own;
    CHECK(count == 1);
    const auto it = copy.keys_by_origin_count.find(origin_key);
    CHECK_MESSAGE(it != copy.keys_by_origin_count.end(), origin_key, " missing in ", to.name());
    if (it != copy.keys_by_origin_count.end()) CHECK(it->second == 1);
  }
  CHECK(own > 0);
  CHECK(copy.events_by_origin.at(origin) == static_cast<int>(own));
}

// Registries A and B on one nats-server, each the other's peer; B consumes from A, and A from B
// when `both_ways`.
struct TwoRegistries {
  explicit TwoRegistries(bool both_ways) {
    a.Start(nats.url(), both_ways ? std::vector<std::string>{"b"} : std::vector<std::string>{});
    b.Start(nats.url(), {"a"});
  }
  TempDir dir;
  NatsServer nats{NatsServerOptions{.store_dir = dir.path() + "/nats"}};
  Registry a{dir.path(), "a", {"b"}};
  Registry b{dir.path(), "b", {"a"}};
};

TEST_CASE("A and B replicate both ways, each event once with its origin; discover on B finds A's agent") {
  TwoRegistries r(/*both_ways=*/true);
  Registry& a = r.a;
  Registry& b = r.b;
  constexpr int kEvents = 300;
  a.Append(Event("registry.agent.registered.v1", "/registry/a", "agent-1",
                 AgentRegistered("a", "replicated-analyst"), "agent-did:web:a.example:agents:x"));
  for (int i = 0; i < kEvents; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "a-" + std::to_string(i), "{}"));
    b.Append(Event("com.example.note.v1", "/registry/b", "b-" + std::to_string(i), "{}"));
  }
  const int a_own = a.Count("a");
  const int b_own = b.Count("b");
  CHECK(a_own == kEvents + 2);  // the peer added, the agent, the notes
  REQUIRE(WaitUntil([&] { return b.Count("a") >= a_own && a.Count("b") >= b_own; }));
  CheckExactlyOnce(a, b, "a");
  CheckExactlyOnce(b, a, "b");

  // A's agent, through B's agents view, as a federated agent of A.
  const uint64_t head = b.Read().head;
  HttpResponse found = b.http().Get("/api/v1/discover?query=replicated-analyst&min_position=" +
                                    std::to_string(head));
  REQUIRE(found.status == 200);
  CHECK(found.body.find(R"("source_registry":"a")") != std::string::npos);
  CHECK(found.body.find("did:web:a.example:agents:replicated-analyst") != std::string::npos);

  CHECK(b.PeerCounter("a", "/appended") == static_cast<uint64_t>(a_own));
  CHECK(b.PeerCounter("a", "/refused/malformed") == 0);
  CHECK(b.PeerCounter("a", "/refused/peer_not_active") == 0);
  CHECK(b.ReplicationStatus().find(R"("connected":true)") != std::string::npos);

  // The same counters, and each reactor's, in /metrics.
  const HttpResponse metrics = b.http().Get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("annals_replication_events_total{peer=\"a\",result=\"appended\"} " +
                          std::to_string(a_own) + "\n") != std::string::npos);
  CHECK(metrics.body.find("annals_replication_connected 1\n") != std::string::npos);
  CHECK(metrics.body.find("annals_reactor_position{reactor=\"peer-status\"}") != std::string::npos);
  CHECK(metrics.body.find("annals_reactor_failed{reactor=\"peer-health\"} 0\n") !=
        std::string::npos);
  a.Stop();
  b.Stop();
}

TEST_CASE("B killed -9 mid-stream and nats-server restarted mid-stream: still exactly once") {
  TwoRegistries r(/*both_ways=*/false);
  Registry& a = r.a;
  Registry& b = r.b;
  std::atomic<int> appended{0};
  constexpr int kEvents = 1500;
  std::thread writer([&] {
    for (int i = 0; i < kEvents; ++i) {
      a.Append(Event("com.example.note.v1", "/registry/a", "n-" + std::to_string(i), "{}"));
      appended = i + 1;
    }
  });
  std::mt19937 random(std::random_device{}());
  auto after = [&](int events) {
    WaitUntil([&] { return appended.load() >= events; });
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 50));
  };
  after(300);
  b.Kill();  // in the middle of consuming
  after(600);
  b.Start(r.nats.url(), {"a"});
  after(900);
  r.nats.Stop(SIGKILL);  // in the middle of publishing and consuming
  after(1100);
  r.nats.Restart();
  writer.join();
  after(kEvents);
  b.Kill();  // once more, while catching up
  b.Start(r.nats.url(), {"a"});
  const int a_own = a.Count("a");
  REQUIRE(WaitUntil([&] { return b.Count("a") >= a_own; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // nothing more may arrive
  CheckExactlyOnce(a, b, "a");
  a.Stop();
  b.Stop();
}

TEST_CASE("a 3-node cluster with an R3 stream: one node killed, replication goes on") {
  TempDir dir;
  NatsCluster cluster(dir.path() + "/cluster");
  Registry a(dir.path(), "a", {"b"});
  Registry b(dir.path(), "b", {"a"});
  a.Start(cluster.urls(), {}, {"--stream-replicas", "3"});
  b.Start(cluster.urls(), {"a"}, {"--stream-replicas", "3"});
  for (int i = 0; i < 100; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "c-" + std::to_string(i), "{}"));
  }
  REQUIRE(WaitUntil([&] { return b.Count("a") >= a.Count("a"); }));
  cluster.node(0).Stop(SIGKILL);
  for (int i = 100; i < 300; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "c-" + std::to_string(i), "{}"));
  }
  const int a_own = a.Count("a");
  REQUIRE(WaitUntil([&] { return b.Count("a") >= a_own; }));
  CheckExactlyOnce(a, b, "a");
  a.Stop();
  b.Stop();
}

TEST_CASE("a peer SUSPENDED on B has its new events refused, counted, written nowhere") {
  TwoRegistries r(/*both_ways=*/false);
  Registry& a = r.a;
  Registry& b = r.b;
  for (int i = 0; i < 10; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "before-" + std::to_string(i), "{}"));
  }
  const int before = a.Count("a");
  REQUIRE(WaitUntil([&] { return b.Count("a") >= before; }));
  b.Append(Event("registry.peer.status_changed.v1", "/operator", "suspend-a",
                 R"({"peer_id":"a","status":"SUSPENDED","reason":"audit"})", "peer-a"));
  for (int i = 0; i < 10; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "after-" + std::to_string(i), "{}"));
  }
  REQUIRE(WaitUntil([&] { return b.PeerCounter("a", "/refused/peer_not_active") >= 10; }));
  CHECK(b.PeerCounter("a", "/refused/peer_not_active") == 10);
  CHECK(b.Count("a") == before);
  CHECK(b.ReplicationStatus().find("not ACTIVE") != std::string::npos);
  a.Stop();
  b.Stop();
}

TEST_CASE("replication over TLS to NATS, with client certificates") {
  TempDir dir;
  TestCa ca(dir.path(), "nats-ca");
  const CertFiles server = ca.Issue("nats-server", "IP:127.0.0.1", TestCa::Use::kServer);
  const CertFiles client = ca.Issue("annals-client", "", TestCa::Use::kClient);
  NatsServer nats({.store_dir = dir.path() + "/nats",
                   .tls_cert = server.cert,
                   .tls_key = server.key,
                   .tls_client_ca = ca.files().cert});
  Registry a(dir.path(), "a", {"b"});
  Registry b(dir.path(), "b", {"a"});
  const std::vector<std::string> tls = {"--nats-tls-ca", ca.files().cert, "--nats-tls-cert",
                                        client.cert, "--nats-tls-key", client.key};
  a.Start(nats.url(), {}, tls);
  b.Start(nats.url(), {"a"}, tls);
  for (int i = 0; i < 20; ++i) {
    a.Append(Event("com.example.note.v1", "/registry/a", "tls-" + std::to_string(i), "{}"));
  }
  const int a_own = a.Count("a");
  REQUIRE(WaitUntil([&] { return b.Count("a") >= a_own; }));
  CheckExactlyOnce(a, b, "a");
  CHECK(b.ReplicationStatus().find(R"("connected":true)") != std::string::npos);

  // Without a client certificate the server refuses the connection: nothing goes out, and
  // status says so.
  Registry c(dir.path(), "c", {});
  c.Start(nats.url(), {}, {"--nats-tls-ca", ca.files().cert});
  c.Append(Event("com.example.note.v1", "/registry/c", "c-1", "{}"));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  CHECK(c.ReplicationStatus().find(R"("connected":false)") != std::string::npos);
  a.Stop();
  b.Stop();
  c.Stop();
}

// Publishes to a stream with nats.c directly, as another registry's software might.
class RawPublisher {
 public:
  RawPublisher(const std::string& url, const std::string& stream, const std::string& subjects) {
    REQUIRE(natsConnection_ConnectTo(&connection_, url.c_str()) == NATS_OK);
    REQUIRE(natsConnection_JetStream(&js_, connection_, nullptr) == NATS_OK);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char* subject_list[] = {subjects.c_str()};
    config.Name = stream.c_str();
    config.Subjects = subject_list;
    config.SubjectsLen = 1;
    jsStreamInfo* info = nullptr;
    REQUIRE(js_AddStream(&info, js_, &config, nullptr, nullptr) == NATS_OK);
    jsStreamInfo_Destroy(info);
  }
  ~RawPublisher() {
    jsCtx_Destroy(js_);
    natsConnection_Destroy(connection_);
  }
  void Publish(const std::string& subject, const std::vector<std::pair<std::string, std::string>>& headers,
               const std::string& payload) {
    natsMsg* message = nullptr;
    REQUIRE(natsMsg_Create(&message, subject.c_str(), nullptr, payload.data(),
                           static_cast<int>(payload.size())) == NATS_OK);
    for (const auto& [name, value] : headers) {
      REQUIRE(natsMsgHeader_Add(message, name.c_str(), value.c_str()) == NATS_OK);
    }
    jsPubAck* ack = nullptr;
    REQUIRE(js_PublishMsg(&ack, js_, message, nullptr, nullptr) == NATS_OK);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(message);
  }

 private:
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
};

TEST_CASE("malformed messages are refused; binary-mode CloudEvents are accepted") {
  TempDir dir;
  NatsServer nats({.store_dir = dir.path() + "/nats"});
  Registry b(dir.path(), "b", {"c"});
  {
    RawPublisher c(nats.url(), "ANNALS_C", "annals.c.>");
    c.Publish("annals.c.x", {{"Content-Type", "application/cloudevents+json"}}, "{not json");
    c.Publish("annals.c.x", {{"Content-Type", "application/cloudevents+json"}},
              Event("com.example.note.v1", "/c", "annalsorigin-bad", "{}").insert(1, R"("annalsorigin":"z",)"));
    c.Publish("annals.c.x", {}, "no content type, no ce- headers");
    c.Publish("annals.c.x",
              {{"CE-SpecVersion", "1.0"}, {"ce-id", "bin-1"}, {"ce-source", "/c"},
               {"Ce-Type", "com.example.note.v1"}, {"Content-Type", "application/json"},
               {"Nats-Msg-Id", "c-key-bin-1"}},
              R"({"binary":true})");
    c.Publish("annals.c.x",
              {{"Content-Type", "application/cloudevents+json"}, {"Nats-Msg-Id", "c-key-s-1"}},
              Event("com.example.note.v1", "/c", "s-1", R"({"structured":true})"));
  }
  b.Start(nats.url(), {"c"});
  REQUIRE(WaitUntil([&] { return b.Count("c") >= 2 && b.PeerCounter("c", "/refused/malformed") >= 3; }));
  const Holdings h = b.Read();
  CHECK(h.keys_by_origin_count.count("c c-key-bin-1") == 1);
  CHECK(h.keys_by_origin_count.count("c c-key-s-1") == 1);
  CHECK(h.events_by_origin.at("c") == 2);
  CHECK(b.PeerCounter("c", "/refused/malformed") == 3);
  HttpResponse bin = b.http().Get("/api/v1/events?from=1&limit=100&type=com.example.note.v1");
  REQUIRE(bin.status == 200);
  CHECK(bin.body.find(R"("data":{"binary":true})") != std::string::npos);
  b.Stop();
}

}  // namespace
}  // namespace annals::testing
