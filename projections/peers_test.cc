// Goal: the peers view keeps every rule of docs/views/peers.md: a new peer is ACTIVE and only
// status_changed changes its status; sync failures count up and a success resets them; a
// license walks active/suspended/revoked and back through the license_id -> peer row; drift and
// quarantine show as flags; a removed peer is gone and comes back fresh; events about unknown
// peers and replicated copies from another origin change nothing; a rebuild gives the same rows.
// Federation auth's lookups find a live license by its key's hash and peers by their SPIFFE ID.
#include "annals/projections/peers.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "annals/base/time_format.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/testing/views_fixture.h"

namespace annals::projections {
namespace {

constexpr char kKeySha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// A ledger of registry "home", the peers view over it, and the events a test appends.
class Fixture : public testing::ViewsFixture {
 public:
  Fixture() : ViewsFixture({{std::string(kPeersView), [] { return MakePeersView(); }}}) {}

  // Appends one event at `time`; `origin` non-empty makes it a replicated one from that peer.
  uint64_t Append(std::string_view type, std::string_view data, std::string_view time,
                  std::string_view origin = "") {
    int64_t seconds = 0;
    int32_t nanos = 0;
    REQUIRE(!ParseRfc3339(time, &seconds, &nanos));
    return ViewsFixture::Append({.type = type,
                                 .data = data,
                                 .time_seconds = seconds,
                                 .time_nanos = nanos,
                                 .origin = origin});
  }

  void AddPeer(std::string_view peer_id, std::string_view time, std::string_view origin = "") {
    Append("registry.peer.added.v1",
           R"({"peer_id":")" + std::string(peer_id) + R"(","name":"Frame )" + std::string(peer_id) +
               R"(","base_url":"https://)" + std::string(peer_id) +
               R"(.example.com","spiffe_id":"spiffe://)" + std::string(peer_id) +
               R"(.example.com/registry","kind":"frame","relation":"direct"})",
           time, origin);
  }

  ViewReader Reader() { return ViewsFixture::Reader(kPeersView); }

  std::string Peers() {
    auto json = PeersJson(Reader());
    REQUIRE_MESSAGE(json.ok(), json.status().ToString());
    return std::move(json).value();
  }

  Result<std::string> Peer(std::string_view peer_id) { return PeerJson(Reader(), peer_id); }
};

// A parsed answer, read with JSON pointers ("/peer/status").
class Json {
 public:
  explicit Json(const Result<std::string>& text) {
    REQUIRE_MESSAGE(text.ok(), text.status().ToString());
    REQUIRE(parser_.parse(*text).get(root_) == simdjson::SUCCESS);
  }
  std::string Str(std::string_view pointer) {
    std::string_view value;
    if (root_.at_pointer(pointer).get_string().get(value) != simdjson::SUCCESS) return "<none>";
    return std::string(value);
  }
  int64_t Int(std::string_view pointer) {
    int64_t value = -1;
    if (root_.at_pointer(pointer).get_int64().get(value) != simdjson::SUCCESS) return -1;
    return value;
  }
  bool Bool(std::string_view pointer) {
    bool value = false;
    REQUIRE(root_.at_pointer(pointer).get_bool().get(value) == simdjson::SUCCESS);
    return value;
  }
  bool Null(std::string_view pointer) { return root_.at_pointer(pointer).is_null(); }
  size_t Size(std::string_view pointer) {
    simdjson::dom::array array;
    REQUIRE(root_.at_pointer(pointer).get_array().get(array) == simdjson::SUCCESS);
    return array.size();
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

std::string PeerIdData(std::string_view peer_id, std::string_view more = "") {
  return R"({"peer_id":")" + std::string(peer_id) + "\"" + std::string(more) + "}";
}

std::string StatusData(std::string_view peer_id, std::string_view status, std::string_view reason) {
  return PeerIdData(peer_id, R"(,"status":")" + std::string(status) + R"(","reason":")" +
                                 std::string(reason) + "\"");
}

std::string IssueData(std::string_view license_id, std::string_view peer_id,
                      std::string_view more = "") {
  return R"({"license_id":")" + std::string(license_id) + R"(","peer_id":")" +
         std::string(peer_id) + R"(","key_sha256":")" + kKeySha + R"(","tier":"standard")" +
         std::string(more) + "}";
}

std::string LicenseData(std::string_view license_id, std::string_view reason) {
  return R"({"license_id":")" + std::string(license_id) + R"(","reason":")" + std::string(reason) +
         R"("})";
}

TEST_CASE("a new peer is ACTIVE with its identity; updated changes only the fields it names") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  Json added(f.Peer("frame-b"));
  CHECK(added.Int("/position") == 1);
  CHECK(added.Str("/peer/peer_id") == "frame-b");
  CHECK(added.Str("/peer/name") == "Frame frame-b");
  CHECK(added.Str("/peer/base_url") == "https://frame-b.example.com");
  CHECK(added.Str("/peer/spiffe_id") == "spiffe://frame-b.example.com/registry");
  CHECK(added.Str("/peer/kind") == "frame");
  CHECK(added.Str("/peer/relation") == "direct");
  CHECK(added.Str("/peer/status") == "ACTIVE");
  CHECK(added.Null("/peer/status_reason"));
  CHECK(added.Null("/peer/last_synced_at"));
  CHECK(added.Int("/peer/cards_pulled") == 0);
  CHECK(added.Int("/peer/consecutive_failures") == 0);
  CHECK(added.Null("/peer/last_error"));
  CHECK(added.Null("/peer/license"));
  CHECK(!added.Bool("/peer/drift"));
  CHECK(!added.Bool("/peer/quarantined"));
  CHECK(added.Str("/peer/added_at") == "2026-05-01T10:00:00Z");
  CHECK(added.Str("/peer/updated_at") == "2026-05-01T10:00:00Z");

  f.Append("registry.peer.updated.v1",
           PeerIdData("frame-b", R"(,"base_url":"https://b2.example.com")"),
           "2026-05-01T11:00:00Z");
  // A second added for a peer already there is ignored: changes come through updated.
  f.Append("registry.peer.added.v1",
           R"({"peer_id":"frame-b","name":"Other","base_url":"https://x.example.com",)"
           R"("spiffe_id":"spiffe://x.example.com/r","kind":"operator","relation":"discovered"})",
           "2026-05-01T12:00:00Z");
  Json updated(f.Peer("frame-b"));
  CHECK(updated.Int("/position") == 3);
  CHECK(updated.Str("/peer/name") == "Frame frame-b");
  CHECK(updated.Str("/peer/base_url") == "https://b2.example.com");
  CHECK(updated.Str("/peer/spiffe_id") == "spiffe://frame-b.example.com/registry");
  CHECK(updated.Str("/peer/kind") == "frame");
  CHECK(updated.Str("/peer/added_at") == "2026-05-01T10:00:00Z");
  CHECK(updated.Str("/peer/updated_at") == "2026-05-01T11:00:00Z");
}

TEST_CASE("status follows status_changed and nothing else") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  f.Append("registry.peer.status_changed.v1", StatusData("frame-b", "INACTIVE", "3 failed syncs"),
           "2026-05-01T10:01:00Z");
  Json inactive(f.Peer("frame-b"));
  CHECK(inactive.Str("/peer/status") == "INACTIVE");
  CHECK(inactive.Str("/peer/status_reason") == "3 failed syncs");

  // Failures, a revoked license and a drift do not move the status: reactors decide.
  f.Append("registry.peer.status_changed.v1", StatusData("frame-b", "ACTIVE", ""),
           "2026-05-01T10:02:00Z");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"timeout")"),
           "2026-05-01T10:03:00Z");
  f.Append("registry.license.issued.v1", IssueData("lic-1", "frame-b"), "2026-05-01T10:04:00Z");
  f.Append("registry.license.revoked.v1", LicenseData("lic-1", "abuse"), "2026-05-01T10:05:00Z");
  f.Append("registry.compliance.drift_detected.v1",
           PeerIdData("frame-b", R"(,"local_policy_hash":"h1","peer_policy_hash":"h2",)"
                                 R"("divergent_agents":7,"threshold":5)"),
           "2026-05-01T10:06:00Z");
  Json after(f.Peer("frame-b"));
  CHECK(after.Str("/peer/status") == "ACTIVE");
  CHECK(after.Str("/peer/status_reason") == "");
  CHECK(after.Str("/peer/license/status") == "revoked");
  CHECK(after.Bool("/peer/drift"));

  for (auto [status, reason] :
       {std::pair{"DRIFT", "policy hash diverged"}, std::pair{"SUSPENDED", "license suspended"},
        std::pair{"REVOKED", "license revoked"}}) {
    f.Append("registry.peer.status_changed.v1", StatusData("frame-b", status, reason),
             "2026-05-01T11:00:00Z");
    Json changed(f.Peer("frame-b"));
    CHECK(changed.Str("/peer/status") == status);
    CHECK(changed.Str("/peer/status_reason") == reason);
    CHECK(changed.Str("/peer/updated_at") == "2026-05-01T11:00:00Z");
    CHECK(PeerStatus(f.Reader(), "frame-b").value() == status);
  }
  CHECK(PeerStatus(f.Reader(), "frame-zz").status().code() == StatusCode::kNotFound);
  CHECK(PeerStatus(f.Reader(), "").status().code() == StatusCode::kNotFound);
}

TEST_CASE("a live license is found by its key's SHA-256 (federation auth)") {
  constexpr char kOtherKeySha[] =
      "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
  Fixture f;
  f.AddPeer("op-c", "2026-05-01T10:00:00Z");
  f.AddPeer("op-d", "2026-05-01T10:00:00Z");
  CHECK(LicenseByKeySha256(f.Reader(), kKeySha).status().code() == StatusCode::kNotFound);
  f.Append("registry.license.issued.v1", IssueData("lic-1", "op-c"), "2026-05-01T10:01:00Z");
  auto grant = LicenseByKeySha256(f.Reader(), kKeySha);
  REQUIRE_MESSAGE(grant.ok(), grant.status().ToString());
  CHECK(grant->license_id == "lic-1");
  CHECK(grant->peer_id == "op-c");
  CHECK(grant->status == "active");
  CHECK(grant->peer_status == "ACTIVE");
  f.Append("registry.license.suspended.v1", LicenseData("lic-1", "late"), "2026-05-01T10:02:00Z");
  CHECK(LicenseByKeySha256(f.Reader(), kKeySha)->status == "suspended");
  // Another peer's license with the same key is ignored: the key keeps serving lic-1.
  f.Append("registry.license.issued.v1", IssueData("lic-9", "op-d"), "2026-05-01T10:03:00Z");
  CHECK(LicenseByKeySha256(f.Reader(), kKeySha)->license_id == "lic-1");
  CHECK(Json(f.Peer("op-d")).Null("/peer/license"));
  // A replacement with a new key: the old key is no longer found.
  f.Append("registry.license.issued.v1",
           R"({"license_id":"lic-2","peer_id":"op-c","key_sha256":")" + std::string(kOtherKeySha) +
               R"(","tier":"enterprise"})",
           "2026-05-01T10:04:00Z");
  CHECK(LicenseByKeySha256(f.Reader(), kKeySha).status().code() == StatusCode::kNotFound);
  CHECK(LicenseByKeySha256(f.Reader(), kOtherKeySha)->license_id == "lic-2");
  // The peer removed: its license's key is gone too.
  f.Append("registry.peer.removed.v1", R"({"peer_id":"op-c"})", "2026-05-01T10:05:00Z");
  CHECK(LicenseByKeySha256(f.Reader(), kOtherKeySha).status().code() == StatusCode::kNotFound);
}

TEST_CASE("peers are found by their SPIFFE ID, exactly, with their status (federation auth)") {
  Fixture f;
  const std::string b = "spiffe://frame-b.example.com/registry";
  const auto found = [&](std::string_view spiffe_id) {
    auto peers = PeersBySpiffeId(f.Reader(), spiffe_id);
    REQUIRE_MESSAGE(peers.ok(), peers.status().ToString());
    std::vector<std::string> out;
    for (const PeerIdentity& p : *peers) out.push_back(p.peer_id + " " + p.status);
    return out;
  };
  CHECK(found(b).empty());
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  f.AddPeer("frame-c", "2026-05-01T10:00:00Z");
  CHECK(found(b) == std::vector<std::string>{"frame-b ACTIVE"});
  CHECK(found("").empty());
  CHECK(found(b + "/").empty());
  CHECK(found("SPIFFE://frame-b.example.com/registry").empty());
  f.Append("registry.peer.status_changed.v1", StatusData("frame-b", "SUSPENDED", "audit"),
           "2026-05-01T10:01:00Z");
  CHECK(found(b) == std::vector<std::string>{"frame-b SUSPENDED"});
  // Two peers may name the same SPIFFE ID: both are found, in peer_id order.
  f.Append("registry.peer.updated.v1", PeerIdData("frame-c", R"(,"spiffe_id":")" + b + "\""),
           "2026-05-01T10:02:00Z");
  CHECK(found(b) == std::vector<std::string>{"frame-b SUSPENDED", "frame-c ACTIVE"});
  f.Append("registry.peer.removed.v1", PeerIdData("frame-b"), "2026-05-01T10:03:00Z");
  CHECK(found(b) == std::vector<std::string>{"frame-c ACTIVE"});
  CHECK(found("spiffe://frame-c.example.com/registry").empty());
}

TEST_CASE("sync failures count up, a success resets them and records the sync") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"connect refused")"),
           "2026-05-01T10:05:00Z");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"tls: bad cert")"),
           "2026-05-01T10:10:00Z");
  Json failing(f.Peer("frame-b"));
  CHECK(failing.Int("/peer/consecutive_failures") == 2);
  CHECK(failing.Str("/peer/last_error") == "tls: bad cert");
  CHECK(failing.Null("/peer/last_synced_at"));
  CHECK(failing.Str("/peer/status") == "ACTIVE");

  f.Append("registry.peer.sync_succeeded.v1", PeerIdData("frame-b", R"(,"cards_pulled":42)"),
           "2026-05-01T10:15:00Z");
  Json synced(f.Peer("frame-b"));
  CHECK(synced.Int("/peer/consecutive_failures") == 0);
  CHECK(synced.Int("/peer/cards_pulled") == 42);
  CHECK(synced.Str("/peer/last_synced_at") == "2026-05-01T10:15:00Z");
  CHECK(synced.Str("/peer/last_error") == "tls: bad cert");  // kept: the last error seen

  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"503")"),
           "2026-05-01T10:20:00Z");
  f.Append("registry.peer.sync_succeeded.v1", PeerIdData("frame-b", R"(,"cards_pulled":0)"),
           "2026-05-01T10:25:00Z");
  Json again(f.Peer("frame-b"));
  CHECK(again.Int("/peer/consecutive_failures") == 0);
  CHECK(again.Int("/peer/cards_pulled") == 0);  // the last sync's count
  CHECK(again.Str("/peer/last_synced_at") == "2026-05-01T10:25:00Z");
}

TEST_CASE("a license walks active, suspended, revoked and back, found by its license_id") {
  Fixture f;
  f.AddPeer("op-c", "2026-05-01T10:00:00Z");
  f.Append("registry.license.issued.v1", IssueData("lic-1", "op-c"), "2026-05-01T10:01:00Z");
  Json issued(f.Peer("op-c"));
  CHECK(issued.Str("/peer/license/license_id") == "lic-1");
  CHECK(issued.Str("/peer/license/tier") == "standard");
  CHECK(issued.Str("/peer/license/status") == "active");
  CHECK(issued.Int("/peer/license/max_agents") == 100);
  CHECK(issued.Int("/peer/license/max_events_per_minute") == 1000);
  CHECK(issued.Null("/peer/license/reason"));

  auto license_status = [&](std::string_view type, std::string_view reason) {
    f.Append(type, LicenseData("lic-1", reason), "2026-05-01T11:00:00Z");
    Json json(f.Peer("op-c"));
    CHECK(json.Str("/peer/license/reason") == reason);
    return json.Str("/peer/license/status");
  };
  CHECK(license_status("registry.license.suspended.v1", "late payment") == "suspended");
  CHECK(license_status("registry.license.reinstated.v1", "paid") == "active");
  CHECK(license_status("registry.license.revoked.v1", "abuse") == "revoked");
  // Only reinstated lifts a revocation: a suspend of a revoked license is ignored.
  f.Append("registry.license.suspended.v1", LicenseData("lic-1", "late"), "2026-05-01T12:00:00Z");
  Json still(f.Peer("op-c"));
  CHECK(still.Str("/peer/license/status") == "revoked");
  CHECK(still.Str("/peer/license/reason") == "abuse");
  CHECK(license_status("registry.license.reinstated.v1", "appeal granted") == "active");

  // A license for an unknown peer, and events about an unknown license, change nothing; a live
  // license_id is issued once.
  f.Append("registry.license.issued.v1", IssueData("lic-x", "nobody"), "2026-05-01T13:00:00Z");
  f.Append("registry.license.revoked.v1", LicenseData("lic-x", "x"), "2026-05-01T13:00:00Z");
  f.Append("registry.license.issued.v1", IssueData("lic-1", "op-c", R"(,"max_agents":7)"),
           "2026-05-01T13:00:00Z");
  Json same(f.Peer("op-c"));
  CHECK(same.Str("/peer/license/license_id") == "lic-1");
  CHECK(same.Str("/peer/license/status") == "active");
  CHECK(same.Int("/peer/license/max_agents") == 100);
  CHECK(same.Str("/peer/updated_at") == "2026-05-01T11:00:00Z");

  // A new license replaces the peer's license; the old one's events no longer reach the peer.
  f.Append("registry.license.issued.v1",
           IssueData("lic-2", "op-c", R"(,"max_agents":500,"max_events_per_minute":20000)"),
           "2026-05-01T14:00:00Z");
  f.Append("registry.license.revoked.v1", LicenseData("lic-1", "old"), "2026-05-01T15:00:00Z");
  Json replaced(f.Peer("op-c"));
  CHECK(replaced.Str("/peer/license/license_id") == "lic-2");
  CHECK(replaced.Str("/peer/license/status") == "active");
  CHECK(replaced.Int("/peer/license/max_agents") == 500);
  CHECK(replaced.Int("/peer/license/max_events_per_minute") == 20000);
  CHECK(replaced.Str("/peer/updated_at") == "2026-05-01T14:00:00Z");
}

TEST_CASE("drift and quarantine show as flags") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  auto drift = R"(,"local_policy_hash":"h1","peer_policy_hash":"h2","divergent_agents":7,)"
               R"("threshold":5)";
  f.Append("registry.compliance.drift_detected.v1", PeerIdData("frame-b", drift),
           "2026-05-01T10:01:00Z");
  f.Append("registry.compliance.quarantine_applied.v1",
           PeerIdData("frame-b", R"(,"reason":"drift")"), "2026-05-01T10:02:00Z");
  Json flagged(f.Peer("frame-b"));
  CHECK(flagged.Bool("/peer/drift"));
  CHECK(flagged.Bool("/peer/quarantined"));
  CHECK(flagged.Str("/peer/updated_at") == "2026-05-01T10:02:00Z");
  f.Append("registry.compliance.drift_resolved.v1", PeerIdData("frame-b"), "2026-05-01T10:03:00Z");
  f.Append("registry.compliance.quarantine_lifted.v1", PeerIdData("frame-b", R"(,"reason":"ok")"),
           "2026-05-01T10:04:00Z");
  Json cleared(f.Peer("frame-b"));
  CHECK(!cleared.Bool("/peer/drift"));
  CHECK(!cleared.Bool("/peer/quarantined"));
  CHECK(cleared.Str("/peer/status") == "ACTIVE");
}

TEST_CASE("a removed peer is gone, its license with it, and adding it again starts fresh") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  f.Append("registry.license.issued.v1", IssueData("lic-1", "frame-b"), "2026-05-01T10:01:00Z");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"x")"),
           "2026-05-01T10:02:00Z");
  f.Append("registry.peer.status_changed.v1", StatusData("frame-b", "INACTIVE", "failing"),
           "2026-05-01T10:03:00Z");
  f.Append("registry.peer.removed.v1", PeerIdData("frame-b"), "2026-05-01T10:04:00Z");
  CHECK(f.Peer("frame-b").status().code() == StatusCode::kNotFound);
  Json none(f.Peers());
  CHECK(none.Size("/peers") == 0);
  CHECK(none.Int("/position") == 5);

  // Events about the removed peer or its license are ignored.
  f.Append("registry.peer.sync_succeeded.v1", PeerIdData("frame-b", R"(,"cards_pulled":3)"),
           "2026-05-01T10:05:00Z");
  f.Append("registry.license.suspended.v1", LicenseData("lic-1", "x"), "2026-05-01T10:06:00Z");
  CHECK(f.Peer("frame-b").status().code() == StatusCode::kNotFound);

  f.AddPeer("frame-b", "2026-05-01T11:00:00Z");
  f.Append("registry.license.reinstated.v1", LicenseData("lic-1", "x"), "2026-05-01T11:01:00Z");
  Json fresh(f.Peer("frame-b"));
  CHECK(fresh.Str("/peer/status") == "ACTIVE");
  CHECK(fresh.Null("/peer/status_reason"));
  CHECK(fresh.Int("/peer/consecutive_failures") == 0);
  CHECK(fresh.Null("/peer/last_error"));
  CHECK(fresh.Null("/peer/license"));
  CHECK(fresh.Str("/peer/added_at") == "2026-05-01T11:00:00Z");
  CHECK(fresh.Str("/peer/updated_at") == "2026-05-01T11:00:00Z");
  // Its old license can be issued to it again (the license_id was freed with the removal).
  f.Append("registry.license.issued.v1", IssueData("lic-1", "frame-b"), "2026-05-01T11:02:00Z");
  CHECK(Json(f.Peer("frame-b")).Str("/peer/license/status") == "active");
}

TEST_CASE("events about unknown peers change nothing") {
  Fixture f;
  f.Append("registry.peer.status_changed.v1", StatusData("ghost", "INACTIVE", "x"),
           "2026-05-01T10:00:00Z");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("ghost", R"(,"error":"x")"),
           "2026-05-01T10:00:00Z");
  f.Append("registry.peer.updated.v1", PeerIdData("ghost", R"(,"name":"Ghost")"),
           "2026-05-01T10:00:00Z");
  f.Append("registry.compliance.quarantine_applied.v1", PeerIdData("ghost", R"(,"reason":"x")"),
           "2026-05-01T10:00:00Z");
  f.Append("registry.peer.removed.v1", PeerIdData("ghost"), "2026-05-01T10:00:00Z");
  Json peers(f.Peers());
  CHECK(peers.Int("/position") == 5);
  CHECK(peers.Size("/peers") == 0);
  CHECK(f.Peer("ghost").status().code() == StatusCode::kNotFound);
  CHECK(f.Peer("").status().code() == StatusCode::kNotFound);
}

TEST_CASE("replicated peer events from another origin are history, not this registry's peers") {
  Fixture f;
  // frame-b's own peer list, replicated to us: not our peers.
  f.AddPeer("op-z", "2026-05-01T10:00:00Z", "frame-b");
  f.AddPeer("frame-b", "2026-05-01T10:01:00Z");
  // frame-b's view of its relationship with us, and of its other peers: ignored.
  f.Append("registry.peer.status_changed.v1", StatusData("frame-b", "REVOKED", "theirs"),
           "2026-05-01T10:02:00Z", "frame-b");
  f.Append("registry.peer.sync_failed.v1", PeerIdData("frame-b", R"(,"error":"theirs")"),
           "2026-05-01T10:03:00Z", "frame-b");
  f.Append("registry.license.issued.v1", IssueData("lic-9", "frame-b"), "2026-05-01T10:04:00Z",
           "frame-b");
  f.Append("registry.compliance.quarantine_applied.v1",
           PeerIdData("frame-b", R"(,"reason":"theirs")"), "2026-05-01T10:05:00Z", "frame-b");
  // An event of our own origin, named explicitly, counts.
  f.Append("registry.peer.sync_succeeded.v1", PeerIdData("frame-b", R"(,"cards_pulled":5)"),
           "2026-05-01T10:06:00Z", "home");
  Json peers(f.Peers());
  REQUIRE(peers.Size("/peers") == 1);
  CHECK(peers.Str("/peers/0/peer_id") == "frame-b");
  CHECK(peers.Str("/peers/0/status") == "ACTIVE");
  CHECK(peers.Int("/peers/0/consecutive_failures") == 0);
  CHECK(peers.Int("/peers/0/cards_pulled") == 5);
  CHECK(peers.Null("/peers/0/license"));
  CHECK(!peers.Bool("/peers/0/quarantined"));
  CHECK(f.Peer("op-z").status().code() == StatusCode::kNotFound);
}

TEST_CASE("peers are listed in peer_id order; a rebuild gives the same rows") {
  Fixture f;
  for (auto id : {"op-c", "frame-b", "frame-a", "op-a"}) f.AddPeer(id, "2026-05-01T10:00:00Z");
  f.Append("registry.license.issued.v1", IssueData("lic-1", "op-a"), "2026-05-01T10:01:00Z");
  f.Append("registry.peer.removed.v1", PeerIdData("frame-b"), "2026-05-01T10:02:00Z");
  Json peers(f.Peers());
  CHECK(peers.Int("/position") == 6);
  REQUIRE(peers.Size("/peers") == 3);
  CHECK(peers.Str("/peers/0/peer_id") == "frame-a");
  CHECK(peers.Str("/peers/1/peer_id") == "op-a");
  CHECK(peers.Str("/peers/2/peer_id") == "op-c");
  CHECK(peers.Str("/peers/1/license/license_id") == "lic-1");
  auto check = f.runner->Check(kPeersView);
  REQUIRE_MESSAGE(check.ok(), check.status().ToString());
  CHECK(check->differences == 0);
  CHECK(check->rows_compared == 5);  // three peers, one license owner and its key
}

TEST_CASE("a peer row that is not a peer stops the fold with Corruption") {
  Fixture f;
  f.AddPeer("frame-b", "2026-05-01T10:00:00Z");
  CHECK(Json(f.Peer("frame-b")).Str("/peer/status") == "ACTIVE");
  REQUIRE(f.db->PutRowForTesting(kPeersView, "p/frame-b", R"({"peer_id":"frame-b"})").ok());
  f.Append("registry.peer.sync_succeeded.v1", PeerIdData("frame-b", R"(,"cards_pulled":1)"),
           "2026-05-01T10:01:00Z");
  CHECK(f.runner->CatchUp("", 0).code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace annals::projections
