// Goal: the compliance view keeps every rule of docs/views/compliance.md: drift_status from the
// two policy hashes and the open drift detection; the last scan asked, by name or for all peers
// added before it; drift detections kept newest-last and bounded by kComplianceDriftEventsMax;
// quarantine applied and lifted with its reason and start; peers known from added/removed and
// from compliance events naming them; replicated copies from another origin ignored.
#include "annals/projections/compliance.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include "annals/base/time_format.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/testing/views_fixture.h"

namespace annals::projections {
namespace {

// A ledger of registry "home" and the compliance view over it.
struct Registry : testing::ViewsFixture {
  Registry()
      : ViewsFixture({{std::string(kComplianceView), [] { return MakeComplianceView(); }}}) {}

  // Appends `type` with data {"peer_id":peer_id <fields>} (no peer_id when empty) at minute
  // `minute` of 2026-05-01T10:00Z, from `origin` ("" : this registry).
  void Emit(std::string_view type, std::string_view peer_id, std::string_view fields, int minute,
            std::string_view origin = "") {
    std::string data = "{";
    if (!peer_id.empty()) data += R"("peer_id":")" + std::string(peer_id) + "\"";
    if (!peer_id.empty() && !fields.empty()) data += ",";
    data += std::string(fields) + "}";
    Append({.type = type,
            .data = data,
            .time_seconds = kTen + 60 * minute,
            .origin = origin,
            .source = "/compliance"});
  }
  void AddPeer(std::string_view peer_id, int minute) {
    Emit("registry.peer.added.v1", peer_id,
         R"("name":"P","base_url":"https://p.example.com","spiffe_id":"spiffe://p.example.com/r",)"
         R"("kind":"operator","relation":"direct")",
         minute);
  }
  void PublishHash(std::string_view peer_id, std::string_view hash, int minute) {
    Emit("registry.compliance.policy_hash_published.v1", peer_id,
         R"("policy_hash":")" + std::string(hash) + "\"", minute);
  }
  void DetectDrift(std::string_view peer_id, int divergent, int minute) {
    Emit("registry.compliance.drift_detected.v1", peer_id,
         R"("local_policy_hash":"h1","peer_policy_hash":"h2","threshold":5,"divergent_agents":)" +
             std::to_string(divergent),
         minute);
  }

  ViewReader Reader() { return ViewsFixture::Reader(kComplianceView); }

  static constexpr int64_t kTen = 1777629600;  // 2026-05-01T10:00:00Z
};

std::string At(int minute) { return FormatRfc3339(Registry::kTen + 60 * minute, 0); }

// One answer, parsed; fields read by JSON pointer.
struct Answer {
  simdjson::dom::parser parser;
  simdjson::dom::element root;

  explicit Answer(const Result<std::string>& json) {
    REQUIRE_MESSAGE(json.ok(), json.status().ToString());
    REQUIRE(parser.parse(*json).get(root) == simdjson::SUCCESS);
  }
  simdjson::dom::element operator[](std::string_view pointer) {
    simdjson::dom::element value;
    REQUIRE_MESSAGE(root.at_pointer(pointer).get(value) == simdjson::SUCCESS, pointer);
    return value;
  }
  std::string Text(std::string_view pointer) {
    auto value = (*this)[pointer];
    return value.is_null() ? "null" : std::string(value.get_string().value());
  }
  int64_t Number(std::string_view pointer) { return (*this)[pointer].get_int64().value(); }
  bool Flag(std::string_view pointer) { return (*this)[pointer].get_bool().value(); }
};

Answer Peer(Registry& registry, std::string_view peer_id) {
  return Answer(CompliancePeerJson(registry.Reader(), peer_id));
}

TEST_CASE("drift_status from the two policy hashes") {
  Registry r;
  r.AddPeer("op-c", 0);
  CHECK(Peer(r, "op-c").Text("/drift_status") == "unknown");
  r.PublishHash("self", "h1", 1);
  Answer one_hash = Peer(r, "op-c");
  CHECK(one_hash.Text("/drift_status") == "unknown");
  CHECK(one_hash.Text("/local_policy_hash") == "h1");
  CHECK(one_hash.Text("/peer_policy_hash") == "null");
  r.PublishHash("op-c", "h1", 2);
  Answer same = Peer(r, "op-c");
  CHECK(same.Text("/drift_status") == "in_sync");
  CHECK(same.Text("/peer_policy_hash") == "h1");
  CHECK(same.Number("/position") == 3);
  r.PublishHash("self", "h2", 3);
  CHECK(Peer(r, "op-c").Text("/drift_status") == "mismatch");
  r.PublishHash("op-c", "h2", 4);
  CHECK(Peer(r, "op-c").Text("/drift_status") == "in_sync");
  // "self" names our hash, never a peer.
  CHECK(CompliancePeerJson(r.Reader(), "self").status().code() == StatusCode::kNotFound);
}

TEST_CASE("a drift detection holds until it is resolved") {
  Registry r;
  r.AddPeer("op-c", 0);
  r.PublishHash("self", "h1", 1);
  r.PublishHash("op-c", "h1", 2);
  r.DetectDrift("op-c", 7, 3);
  Answer drifted = Peer(r, "op-c");
  CHECK(drifted.Text("/drift_status") == "drifted");  // whatever the hashes say
  CHECK(drifted.Text("/last_drift_at") == At(3));
  CHECK(drifted.Text("/last_resolved_at") == "null");
  REQUIRE(drifted["/drift_events"].get_array().size() == 1);
  CHECK(drifted.Number("/drift_events/0/position") == 4);
  CHECK(drifted.Text("/drift_events/0/time") == At(3));
  CHECK(drifted.Text("/drift_events/0/local_policy_hash") == "h1");
  CHECK(drifted.Text("/drift_events/0/peer_policy_hash") == "h2");
  CHECK(drifted.Number("/drift_events/0/divergent_agents") == 7);
  CHECK(drifted.Number("/drift_events/0/threshold") == 5);
  r.DetectDrift("op-c", 9, 4);
  CHECK(Peer(r, "op-c").Text("/drift_status") == "drifted");
  r.Emit("registry.compliance.drift_resolved.v1", "op-c", "", 5);
  Answer resolved = Peer(r, "op-c");
  CHECK(resolved.Text("/drift_status") == "in_sync");
  CHECK(resolved.Text("/last_drift_at") == At(4));
  CHECK(resolved.Text("/last_resolved_at") == At(5));
  CHECK(resolved["/drift_events"].get_array().size() == 2);  // history stays
}

TEST_CASE("drift history keeps the most recent detections, bounded") {
  Registry r;
  r.AddPeer("op-c", 0);
  const int total = static_cast<int>(kComplianceDriftEventsMax) + 5;
  for (int i = 1; i <= total; ++i) r.DetectDrift("op-c", i, i);
  Answer answer = Peer(r, "op-c");
  auto events = answer["/drift_events"].get_array().value();
  REQUIRE(events.size() == kComplianceDriftEventsMax);
  CHECK(answer.Number("/drift_events/0/divergent_agents") == 6);  // the five oldest dropped
  CHECK(answer.Number("/drift_events/0/position") == 7);
  const std::string last = "/drift_events/" + std::to_string(kComplianceDriftEventsMax - 1);
  CHECK(answer.Number(last + "/divergent_agents") == total);
  CHECK(answer.Text(last + "/time") == At(total));
}

TEST_CASE("quarantine: applied with its reason and start, lifted") {
  Registry r;
  r.AddPeer("op-c", 0);
  Answer none = Peer(r, "op-c");
  CHECK(!none.Flag("/quarantine/applied"));
  CHECK(none.Text("/quarantine/reason") == "null");
  CHECK(none.Text("/quarantine/since") == "null");
  // Lifting what is not applied changes nothing.
  r.Emit("registry.compliance.quarantine_lifted.v1", "op-c", R"("reason":"noop")", 1);
  CHECK(Peer(r, "op-c").Text("/quarantine/reason") == "null");
  r.Emit("registry.compliance.quarantine_applied.v1", "op-c", R"("reason":"drift")", 2);
  r.Emit("registry.compliance.quarantine_applied.v1", "op-c", R"("reason":"drift, again")", 3);
  Answer applied = Peer(r, "op-c");
  CHECK(applied.Flag("/quarantine/applied"));
  CHECK(applied.Text("/quarantine/reason") == "drift, again");
  CHECK(applied.Text("/quarantine/since") == At(2));  // a repeat keeps the start
  r.Emit("registry.compliance.quarantine_lifted.v1", "op-c", R"("reason":"fixed")", 4);
  Answer lifted = Peer(r, "op-c");
  CHECK(!lifted.Flag("/quarantine/applied"));
  CHECK(lifted.Text("/quarantine/reason") == "fixed");
  CHECK(lifted.Text("/quarantine/since") == At(4));
}

TEST_CASE("the last scan: by name, or for all the peers added before it") {
  Registry r;
  r.AddPeer("op-c", 0);
  r.Emit("registry.compliance.drift_scan_requested.v1", "op-c", R"("requested_by":"alice")", 1);
  CHECK(Peer(r, "op-c").Text("/last_scan_requested_by") == "alice");
  r.Emit("registry.compliance.drift_scan_requested.v1", "", R"("requested_by":"poller")", 2);
  r.AddPeer("op-d", 3);
  r.PublishHash("op-x", "h9", 4);  // named, never added
  Answer c = Peer(r, "op-c");
  CHECK(c.Text("/last_scan_requested_at") == At(2));
  CHECK(c.Text("/last_scan_requested_by") == "poller");
  CHECK(Peer(r, "op-d").Text("/last_scan_requested_at") == "null");  // added after the scan
  CHECK(Peer(r, "op-x").Text("/last_scan_requested_at") == "null");  // not our peer
  r.Emit("registry.compliance.drift_scan_requested.v1", "op-c", R"("requested_by":"bob")", 5);
  Answer later = Peer(r, "op-c");
  CHECK(later.Text("/last_scan_requested_at") == At(5));
  CHECK(later.Text("/last_scan_requested_by") == "bob");
}

TEST_CASE("which peers the view knows: added, named by compliance events, removed") {
  Registry r;
  CHECK(CompliancePeerJson(r.Reader(), "op-c").status().code() == StatusCode::kNotFound);
  r.Emit("registry.compliance.quarantine_applied.v1", "op-c", R"("reason":"early")", 0);
  Answer named = Peer(r, "op-c");
  CHECK(!named.Flag("/peer_known"));
  CHECK(named.Flag("/quarantine/applied"));
  r.AddPeer("op-c", 1);
  Answer added = Peer(r, "op-c");
  CHECK(added.Flag("/peer_known"));
  CHECK(added.Flag("/quarantine/applied"));  // kept when the peer is added
  r.Emit("registry.peer.removed.v1", "op-c", "", 2);
  CHECK(CompliancePeerJson(r.Reader(), "op-c").status().code() == StatusCode::kNotFound);
  r.AddPeer("op-c", 3);
  Answer fresh = Peer(r, "op-c");
  CHECK(fresh.Flag("/peer_known"));
  CHECK(!fresh.Flag("/quarantine/applied"));
  CHECK(fresh.Text("/quarantine/since") == "null");
}

TEST_CASE("replicated compliance and peer events from another origin are ignored") {
  Registry r;
  r.AddPeer("op-c", 0);
  r.PublishHash("self", "h1", 1);
  r.PublishHash("op-c", "h1", 2);
  // frame-b's own compliance stream, replicated here: its "self" is not ours.
  const std::string_view theirs = "frame-b";
  r.Emit("registry.compliance.policy_hash_published.v1", "self", R"("policy_hash":"hb")", 3,
         theirs);
  r.Emit("registry.compliance.drift_detected.v1", "op-c",
         R"("local_policy_hash":"hb","peer_policy_hash":"h1","divergent_agents":3,"threshold":1)",
         4, theirs);
  r.Emit("registry.compliance.quarantine_applied.v1", "op-c", R"("reason":"theirs")", 5, theirs);
  r.Emit("registry.compliance.drift_scan_requested.v1", "", R"("requested_by":"them")", 6, theirs);
  r.Emit("registry.peer.removed.v1", "op-c", "", 7, theirs);
  r.Emit("registry.compliance.quarantine_applied.v1", "op-z", R"("reason":"theirs")", 8, theirs);
  Answer all(CompliancePeersJson(r.Reader()));
  CHECK(all.Number("/position") == 9);
  CHECK(all.Text("/local_policy_hash") == "h1");
  REQUIRE(all["/peers"].get_array().size() == 1);
  CHECK(all.Text("/peers/0/peer_id") == "op-c");
  CHECK(all.Flag("/peers/0/peer_known"));
  CHECK(all.Text("/peers/0/drift_status") == "in_sync");
  CHECK(all["/peers/0/drift_events"].get_array().size() == 0);
  CHECK(!all.Flag("/peers/0/quarantine/applied"));
  CHECK(all.Text("/peers/0/last_scan_requested_at") == "null");
}

TEST_CASE("all peers in peer_id order; a rebuild gives the same rows") {
  Registry r;
  r.AddPeer("op-d", 0);
  r.PublishHash("op-b", "h1", 1);
  r.AddPeer("op-a", 2);
  r.DetectDrift("op-a", 4, 3);
  r.Emit("registry.compliance.drift_scan_requested.v1", "", R"("requested_by":"poller")", 4);
  Answer all(CompliancePeersJson(r.Reader()));
  CHECK(all.Text("/local_policy_hash") == "null");
  REQUIRE(all["/peers"].get_array().size() == 3);
  CHECK(all.Text("/peers/0/peer_id") == "op-a");
  CHECK(all.Text("/peers/0/drift_status") == "drifted");
  CHECK(all.Text("/peers/1/peer_id") == "op-b");
  CHECK(all.Text("/peers/1/drift_status") == "unknown");
  CHECK(all.Text("/peers/2/peer_id") == "op-d");
  CHECK(all.Text("/peers/2/last_scan_requested_at") == At(4));
  auto check = r.runner->Check(kComplianceView);
  REQUIRE_MESSAGE(check.ok(), check.status().ToString());
  CHECK(check->differences == 0);
  CHECK(check->rows_compared == 4);  // three peers and the all-peers scan
}

}  // namespace
}  // namespace annals::projections
