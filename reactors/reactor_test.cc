// Goal: the reactor runner emits each reaction exactly once, under keys derived from its cause,
// whatever replays happen (a lost checkpoint, a restart); it retries with backoff and stops
// (never skips) when a reaction keeps failing, and drops one whose expected revision no longer
// holds; the peer-status reactor turns license and drift events into the peer's status, read
// back through the peers view; the transfer saga rolls back, once, exactly the prepared transfers
// of this registry nothing settled by their deadline, across restarts and lost checkpoints; the
// webhook outbox delivers each notification request of this registry and records its outcome
// once (delivered after retries, failed after the last attempt or at once for a target no retry
// reaches), never posting again what a replay finds settled; drift requests an operator webhook.
#include "annals/reactors/reactor.h"

#include <doctest/doctest.h>

#include <atomic>
#include <limits>
#include <mutex>
#include <thread>

#include "annals/projections/peers.h"
#include "annals/projections/registry_views.h"
#include "annals/base/time_format.h"
#include "annals/reactors/limits.h"
#include "annals/testing/views_fixture.h"
#include "internal/outbox.h"
#include "internal/transfer_saga.h"

namespace annals::reactors {
namespace {
namespace es = annals::eventstore;
namespace pj = annals::projections;

constexpr char kKeySha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

class Fixture : public testing::ViewsFixture {
 public:
  Fixture() : ViewsFixture({{std::string(pj::kPeersView), [] { return pj::MakePeersView(); }}}) {}

  uint64_t Add(std::string_view type, const std::string& data, std::string_view origin = "") {
    return Append({.type = type, .data = data, .origin = origin});
  }
  void AddPeer(std::string_view peer) {
    Add("registry.peer.added.v1",
        R"({"peer_id":")" + std::string(peer) +
            R"(","name":"Frame","base_url":"https://b.example.com","spiffe_id":"spiffe://b.example.com/registry","kind":"frame","relation":"direct"})");
  }
  void IssueLicense(std::string_view license, std::string_view peer) {
    Add("registry.license.issued.v1", R"({"license_id":")" + std::string(license) +
                                          R"(","peer_id":")" + std::string(peer) +
                                          R"(","key_sha256":")" + kKeySha +
                                          R"(","tier":"standard"})");
  }
  void LicenseEvent(std::string_view type, std::string_view license) {
    Add(type, R"({"license_id":")" + std::string(license) + R"(","reason":"audit"})");
  }
  std::string PeerStatusOf(std::string_view peer) {
    auto status = pj::PeerStatus(Reader(pj::kPeersView), peer);
    REQUIRE_MESSAGE(status.ok(), status.status().ToString());
    return *status;
  }
  // Waits (bounded) until `runner`'s reactors have handled the ledger's head.
  void Settle(ReactorRunner& runner) {
    for (int i = 0; i < 2000; ++i) {
      const uint64_t head = ledger->GetHead().position;
      bool done = true;
      for (const ReactorStatus& s : runner.Statuses()) done &= s.position >= head;
      if (done && ledger->GetHead().position == head) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    FAIL("reactors did not reach the head");
  }
  size_t CountType(std::string_view type) {
    auto page = ledger->ReadAll({.from_position = 1, .limit = 10000, .type = std::string(type)});
    REQUIRE(page.ok());
    return page->records.size();
  }
};

std::unique_ptr<ReactorRunner> StartRegistryReactors(es::Ledger* ledger, pj::Runner* views) {
  auto runner = ReactorRunner::Start(ledger, RegistryReactors(ledger, views));
  REQUIRE_MESSAGE(runner.ok(), runner.status().ToString());
  return std::move(runner).value();
}

TEST_CASE("license and drift events set the peer's status, once each") {
  Fixture f;
  f.AddPeer("frame-b");
  f.IssueLicense("lic-1", "frame-b");
  auto runner = StartRegistryReactors(f.ledger.get(), f.runner.get());
  f.LicenseEvent("registry.license.suspended.v1", "lic-1");
  f.Settle(*runner);
  CHECK(f.PeerStatusOf("frame-b") == "SUSPENDED");
  f.LicenseEvent("registry.license.reinstated.v1", "lic-1");
  f.Settle(*runner);
  CHECK(f.PeerStatusOf("frame-b") == "ACTIVE");
  f.LicenseEvent("registry.license.revoked.v1", "lic-1");
  f.Settle(*runner);
  CHECK(f.PeerStatusOf("frame-b") == "REVOKED");
  f.Add("registry.compliance.drift_detected.v1",
        R"({"peer_id":"frame-b","local_policy_hash":"h1","peer_policy_hash":"h2","divergent_agents":7,"threshold":5})");
  f.Settle(*runner);
  CHECK(f.PeerStatusOf("frame-b") == "DRIFT");
  CHECK(f.CountType("registry.peer.status_changed.v1") == 4);

  // The emitted event: keyed by its cause, at the cause's time, in the peer's stream.
  auto page = f.ledger->ReadAll({.from_position = 1, .limit = 100,
                                 .type = "registry.peer.status_changed.v1"});
  REQUIRE(page.ok());
  const es::Record& first = page->records.front();
  const uint64_t cause = first.position() - 1;  // the suspension, just before it
  CHECK(first.idempotency_key() == ReactionKey("peer-status", cause, 0));
  CHECK(first.stream() == "peer-frame-b");
  CHECK(first.origin() == f.ledger->registry_name());
  auto cause_record = f.ledger->ReadAt(cause);
  REQUIRE(cause_record.ok());
  CHECK(cause_record->event().type() == "registry.license.suspended.v1");
  CHECK(first.event().attributes().at("time").ce_timestamp().seconds() ==
        cause_record->recorded_at_ns() / 1'000'000'000);

  // Events of another origin (a peer's own license history) cause nothing here.
  f.Add("registry.license.suspended.v1", R"({"license_id":"lic-1","reason":"theirs"})", "frame-b");
  f.Settle(*runner);
  CHECK(f.CountType("registry.peer.status_changed.v1") == 4);
  std::vector<ReactorStatus> statuses = runner->Statuses();
  REQUIRE(statuses.size() == 3);
  CHECK(statuses[0].name == "peer-status");
  CHECK(statuses[1].name == "peer-health");
  CHECK(statuses[2].name == "transfer-saga");
  CHECK(statuses[0].emitted == 4);
  CHECK(statuses[0].state == "running");
}

TEST_CASE("a replay from a lost checkpoint emits nothing twice") {
  Fixture f;
  f.AddPeer("frame-b");
  f.IssueLicense("lic-1", "frame-b");
  f.LicenseEvent("registry.license.suspended.v1", "lic-1");
  f.LicenseEvent("registry.license.reinstated.v1", "lic-1");
  {
    auto runner = StartRegistryReactors(f.ledger.get(), f.runner.get());
    f.Settle(*runner);
    CHECK(runner->Statuses()[0].emitted == 2);
  }
  CHECK(f.CountType("registry.peer.status_changed.v1") == 2);
  // A crash between the emit and the checkpoint: the checkpoint is behind the reactions.
  REQUIRE(f.ledger->SaveCheckpoint("reactor/peer-status", 0).ok());
  auto again = StartRegistryReactors(f.ledger.get(), f.runner.get());
  f.Settle(*again);
  CHECK(f.CountType("registry.peer.status_changed.v1") == 2);
  CHECK(again->Statuses()[0].emitted == 0);
  CHECK(again->Statuses()[0].duplicates == 2);
  CHECK(f.PeerStatusOf("frame-b") == "ACTIVE");
}

TEST_CASE("peer-health: failures in a row make an ACTIVE peer INACTIVE, a success ACTIVE again") {
  Fixture f;
  f.AddPeer("frame-b");
  f.AddPeer("frame-c");
  f.runner->Start();  // the reactor reads the peers view as it folds
  auto runner = StartRegistryReactors(f.ledger.get(), f.runner.get());
  auto status_of = [&](std::string_view peer) {
    f.runner->WaitFor(pj::kPeersView, f.ledger->GetHead().position, std::chrono::seconds(5));
    auto reader = f.runner->Reader(pj::kPeersView);
    REQUIRE(reader.ok());
    return pj::PeerStatus(*reader, peer).value();
  };
  auto sync = [&](std::string_view peer, bool ok) {
    f.Add(ok ? "registry.peer.sync_succeeded.v1" : "registry.peer.sync_failed.v1",
          R"({"peer_id":")" + std::string(peer) +
              (ok ? R"(","cards_pulled":1})" : R"(","error":"timeout"})"));
    f.Settle(*runner);
  };
  for (int i = 1; i < kPeerInactiveAfterFailures; ++i) sync("frame-b", false);
  CHECK(status_of("frame-b") == "ACTIVE");
  sync("frame-b", false);
  CHECK(status_of("frame-b") == "INACTIVE");
  sync("frame-b", false);  // already INACTIVE: nothing more
  CHECK(f.CountType("registry.peer.status_changed.v1") == 1);
  sync("frame-b", true);
  CHECK(status_of("frame-b") == "ACTIVE");
  CHECK(f.CountType("registry.peer.status_changed.v1") == 2);

  // A suspended peer stays suspended whatever its syncs do.
  f.Add("registry.peer.status_changed.v1",
        R"({"peer_id":"frame-c","status":"SUSPENDED","reason":"operator"})");
  for (int i = 0; i < kPeerInactiveAfterFailures + 1; ++i) sync("frame-c", false);
  sync("frame-c", true);
  CHECK(status_of("frame-c") == "SUSPENDED");
  CHECK(f.CountType("registry.peer.status_changed.v1") == 3);  // the operator's only
  CHECK(runner->Statuses()[1].emitted == 2);
  runner->Stop();
  f.runner->Stop();
}

// A reactor that emits one event per record, whose first `failures` reactions fail.
class Flaky final : public Reactor {
 public:
  Flaky(int failures, bool emit_invalid) : failures_(failures), emit_invalid_(emit_invalid) {}
  std::string_view name() const override { return "flaky"; }
  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    ++calls;
    if (failures_-- > 0) return Status::Unavailable("not yet");
    std::vector<es::ProposedEvent> events;
    if (record.event().type() != "t.cause.v1") return events;
    events.push_back(testing::Propose(
        testing::MakeEvent(emit_invalid_ ? "" : "t.effect.v1", "/flaky",
                           "effect-" + std::to_string(record.position()))));
    return events;
  }
  std::atomic<int> calls{0};

 private:
  int failures_;
  bool emit_invalid_;
};

TEST_CASE("failures are retried with backoff; a reaction that cannot pass stops the reactor") {
  Fixture f;
  f.Add("t.cause.v1", "{}");
  {
    auto runner = ReactorRunner::Start(f.ledger.get(), [] {
      std::vector<std::unique_ptr<Reactor>> reactors;
      reactors.push_back(std::make_unique<Flaky>(3, false));
      return reactors;
    }());
    REQUIRE(runner.ok());
    f.Settle(**runner);
    const ReactorStatus status = (*runner)->Statuses()[0];
    CHECK(status.retries == 3);
    CHECK(status.emitted == 1);
    CHECK(status.state == "running");
    CHECK(f.CountType("t.effect.v1") == 1);
  }
  f.Add("t.cause.v1", "{}");
  auto runner = ReactorRunner::Start(f.ledger.get(), [] {
    std::vector<std::unique_ptr<Reactor>> reactors;
    reactors.push_back(std::make_unique<Flaky>(0, true));
    return reactors;
  }());
  REQUIRE(runner.ok());
  ReactorStatus status;
  for (int i = 0; i < 1000; ++i) {
    status = (*runner)->Statuses()[0];
    if (status.state == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(status.state == "failed");
  CHECK(status.last_error.find("type") != std::string::npos);
  // It stopped at the cause it could not react to: never past it.
  CHECK(status.position == f.ledger->GetHead().position - 1);
  CHECK(f.CountType("t.effect.v1") == 1);
}

// A reactor that answers each t.cause.v1 with an event in stream "s" expected at revision 5,
// which that stream never reaches.
class StaleExpectation final : public Reactor {
 public:
  std::string_view name() const override { return "stale"; }
  Result<std::vector<es::ProposedEvent>> React(const es::Record& record) override {
    std::vector<es::ProposedEvent> events;
    if (record.event().type() != "t.cause.v1") return events;
    es::ProposedEvent p = testing::Propose(
        testing::MakeEvent("t.effect.v1", "/stale", "effect-" + std::to_string(record.position())));
    p.stream = "s";
    p.expected = es::ExpectedRevision::Exact(5);
    events.push_back(std::move(p));
    return events;
  }
};

TEST_CASE("a reaction whose expected revision no longer holds is dropped, and the reactor goes on") {
  Fixture f;
  f.Add("t.cause.v1", "{}");
  f.Add("t.cause.v1", "{}");
  auto runner = ReactorRunner::Start(f.ledger.get(), [] {
    std::vector<std::unique_ptr<Reactor>> reactors;
    reactors.push_back(std::make_unique<StaleExpectation>());
    return reactors;
  }());
  REQUIRE(runner.ok());
  f.Settle(**runner);
  const ReactorStatus status = (*runner)->Statuses()[0];
  CHECK(status.state == "running");
  CHECK(status.retries == 0);
  CHECK(status.emitted == 0);
  CHECK(status.position == f.ledger->GetHead().position);
  CHECK(f.CountType("t.effect.v1") == 0);
}

// Transfers: events of the saga's four types in the transfer's stream.
constexpr char kLongAgo[] = "2020-01-01T00:00:00Z";
constexpr char kFarAway[] = "2999-01-01T00:00:00Z";

uint64_t AddTransferEvent(Fixture& f, std::string_view type, std::string_view id,
                          std::string_view expires_at = "", std::string_view origin = "") {
  std::string data = R"({"transfer_id":")" + std::string(id) + "\"";
  if (type == "registry.transfer.prepared.v1") {
    data += R"(,"from_agent":"did:web:a.example:agent-1","to_agent":"did:web:b.example:agent-2",)"
            R"("from_registry":"home","to_registry":"frame-b","amount":"10.50","fee":"0.25",)"
            R"("expires_at":")" + std::string(expires_at) + "\"";
  }
  if (type == "registry.transfer.rolled_back.v1") data += R"(,"reason":"operator")";
  data += "}";
  es::ProposedEvent p = testing::Propose(testing::MakeEvent(
      std::string(type), "/test", "tx-" + std::to_string(++f.appended), data));
  p.stream = "transfer-" + std::string(id);
  p.origin = std::string(origin);
  const es::AppendOutcome o = f.ledger->Append(std::move(p));
  REQUIRE_MESSAGE(o.code == es::AppendCode::kAppended, o.error.reason);
  return o.position;
}

// Waits (bounded) until the ledger holds `count` events of `type` and the reactors are at its
// head, then a little more: nothing else may come.
void WaitForCount(Fixture& f, ReactorRunner& runner, std::string_view type, size_t count) {
  for (int i = 0; i < 2000 && f.CountType(type) < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  f.Settle(runner);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.Settle(runner);
}

TEST_CASE("transfer-saga: what nothing settled by its deadline is rolled back, once") {
  Fixture f;
  const uint64_t late = AddTransferEvent(f, "registry.transfer.prepared.v1", "t-late", kLongAgo);
  AddTransferEvent(f, "registry.transfer.prepared.v1", "t-done", kLongAgo);
  AddTransferEvent(f, "registry.transfer.committed.v1", "t-done");
  AddTransferEvent(f, "registry.transfer.prepared.v1", "t-future", kFarAway);  // 72 h from now
  AddTransferEvent(f, "registry.transfer.prepared.v1", "t-peer", kLongAgo, "frame-b");
  {
    auto runner = StartRegistryReactors(f.ledger.get(), f.runner.get());
    WaitForCount(f, *runner, "registry.transfer.rolled_back.v1", 1);
    CHECK(runner->Statuses()[2].emitted == 1);
  }
  auto page = f.ledger->ReadAll(
      {.from_position = 1, .limit = 100, .type = "registry.transfer.rolled_back.v1"});
  REQUIRE(page.ok());
  REQUIRE(page->records.size() == 1);
  const es::Record& rollback = page->records.front();
  CHECK(rollback.stream() == "transfer-t-late");
  CHECK(rollback.revision() == 1);  // right after the prepared event
  CHECK(rollback.idempotency_key() == ReactionKey("transfer-saga", late, 0));
  CHECK(rollback.event().text_data().find(R"("transfer_id":"t-late")") != std::string::npos);

  // A crash between the rollback and the checkpoint, then a later transfer: the replay reads
  // the rollback before it asks what is due (it is in the ledger), and rolls back the new one.
  REQUIRE(f.ledger->SaveCheckpoint("reactor/transfer-saga", 0).ok());
  AddTransferEvent(f, "registry.transfer.prepared.v1", "t-later", kLongAgo);
  auto again = StartRegistryReactors(f.ledger.get(), f.runner.get());
  WaitForCount(f, *again, "registry.transfer.rolled_back.v1", 2);
  CHECK(f.CountType("registry.transfer.rolled_back.v1") == 2);
  CHECK(again->Statuses()[2].emitted == 1);
  again->Stop();

  // Had the first run stopped between deciding and appending, its rollback comes again under
  // the same key with the same content: a Duplicate, never a second event.
  std::vector<es::ProposedEvent> replayed;
  {
    auto saga = MakeTransferSaga(f.ledger.get());
    REQUIRE(saga->Resume(late).ok());  // the checkpoint just past the prepared event
    std::vector<Reactor::DueEvent> due = saga->Due(std::numeric_limits<int64_t>::max());
    REQUIRE(due.size() == 1);
    CHECK(due[0].cause == late);
    due[0].event.idempotency_key = ReactionKey("transfer-saga", late, 0);
    CHECK(f.ledger->Append(std::move(due[0].event)).code == es::AppendCode::kDuplicate);
  }

  // A restart from the checkpoint at the head: what is settled stays settled.
  auto third = StartRegistryReactors(f.ledger.get(), f.runner.get());
  WaitForCount(f, *third, "registry.transfer.rolled_back.v1", 2);
  CHECK(f.CountType("registry.transfer.rolled_back.v1") == 2);
  CHECK(third->Statuses()[2].emitted == 0);
  third->Stop();
  f.runner->Stop();
}

TEST_CASE("transfer-saga: deadlines, and a commit that gets in first") {
  Fixture f;
  auto saga = MakeTransferSaga(f.ledger.get());
  REQUIRE(saga->Resume(0).ok());
  const uint64_t pos = AddTransferEvent(f, "registry.transfer.prepared.v1", "t-1", kFarAway);
  auto prepared = f.ledger->ReadAt(pos);
  REQUIRE(prepared.ok());
  REQUIRE(saga->React(*prepared).ok());
  const int64_t deadline = prepared->recorded_at_ns() +
      std::chrono::duration_cast<std::chrono::nanoseconds>(kTransferCommitWindow).count();
  CHECK(saga->Due(deadline - 1).empty());
  std::vector<Reactor::DueEvent> due = saga->Due(deadline);
  REQUIRE(due.size() == 1);
  CHECK(due[0].cause == pos);
  CHECK(due[0].event.stream == "transfer-t-1");
  CHECK(due[0].event.expected.kind == es::ExpectedRevision::Kind::kExact);
  CHECK(due[0].event.expected.revision == 0);
  CHECK(saga->Due(deadline + 1).empty());  // returned once

  // The commit landed first: the rollback, expected right after the prepared event, is refused.
  AddTransferEvent(f, "registry.transfer.committed.v1", "t-1");
  due[0].event.idempotency_key = ReactionKey("transfer-saga", pos, 0);
  CHECK(f.ledger->Append(std::move(due[0].event)).code == es::AppendCode::kWrongRevision);

  // Read from the start again, the saga finds the transfer settled.
  auto resumed = MakeTransferSaga(f.ledger.get());
  REQUIRE(resumed->Resume(f.ledger->GetHead().position).ok());
  CHECK(resumed->Due(deadline * 2).empty());

  // expires_at before the window ends is the deadline; one past 2262 is the window's end; one
  // in year 1 is long due.
  CHECK(TransferDeadlineNs(1'000'000'000'000'000'000, 1'000'000'100, 5) ==
        1'000'000'100'000'000'005);
  CHECK(TransferDeadlineNs(1'000'000'000'000'000'000, kRfc3339SecondsMax, 0) ==
        1'000'000'000'000'000'000 + 72LL * 3600 * 1'000'000'000);
  CHECK(TransferDeadlineNs(1'000'000'000'000'000'000, kRfc3339SecondsMin, 0) ==
        std::numeric_limits<int64_t>::min());
}

// Webhook deliveries for the outbox tests: each POST recorded; the first `failures` answered
// Unavailable; a target containing "bad" answered InvalidArgument.
struct Deliveries {
  std::mutex mu;
  std::vector<std::string> keys;
  std::vector<std::string> bodies;
  int failures = 0;

  WebhookPost Post() {
    return [this](std::string_view url, std::string_view body, std::string_view key) {
      std::lock_guard lock(mu);
      keys.emplace_back(key);
      bodies.emplace_back(body);
      if (url.find("bad") != std::string_view::npos) return Status::InvalidArgument("not a URL");
      if (failures > 0) {
        --failures;
        return Status::Unavailable("HTTP 503");
      }
      return Status::Ok();
    };
  }
  size_t count() {
    std::lock_guard lock(mu);
    return keys.size();
  }
};

uint64_t RequestNotification(Fixture& f, std::string_view id, std::string_view target,
                             std::string_view origin = "") {
  es::ProposedEvent p = testing::Propose(testing::MakeEvent(
      "registry.notification.requested.v1", "/test", "req-" + std::string(id),
      R"({"notification_id":")" + std::string(id) + R"(","channel":"webhook","target":")" +
          std::string(target) + R"(","subject":"s","body":"b","caused_by":1})"));
  p.stream = "notification-" + std::string(id);
  p.origin = std::string(origin);
  const es::AppendOutcome o = f.ledger->Append(std::move(p));
  REQUIRE_MESSAGE(o.code == es::AppendCode::kAppended, o.error.reason);
  return o.position;
}

std::unique_ptr<ReactorRunner> StartOutbox(Fixture& f, Deliveries& deliveries,
                                           std::string operator_webhook = "") {
  RegistryReactorOptions options;
  options.post_webhook = deliveries.Post();
  options.operator_webhook = std::move(operator_webhook);
  auto runner = ReactorRunner::Start(f.ledger.get(),
                                     RegistryReactors(f.ledger.get(), f.runner.get(), options));
  REQUIRE_MESSAGE(runner.ok(), runner.status().ToString());
  return std::move(runner).value();
}

TEST_CASE("webhook-outbox: delivered once after retries, failed after the last attempt") {
  Fixture f;
  Deliveries deliveries;
  deliveries.failures = 2;
  RequestNotification(f, "n-1", "http://hooks.example/ops");
  RequestNotification(f, "n-peer", "http://hooks.example/ops", "frame-b");  // theirs: not ours
  {
    auto runner = StartOutbox(f, deliveries);
    WaitForCount(f, *runner, "registry.notification.delivered.v1", 1);
  }
  CHECK(deliveries.count() == 3);  // two failures, then the delivery
  CHECK(deliveries.keys.back() == "n-1");
  CHECK(deliveries.bodies.back().find(R"("type":"registry.notification.requested.v1")") !=
        std::string::npos);
  auto delivered = f.ledger->ReadStream("notification-n-1", 0, 10);
  REQUIRE(delivered.ok());
  REQUIRE(delivered->records.size() == 2);
  CHECK(delivered->records[1].event().type() == "registry.notification.delivered.v1");
  CHECK(delivered->records[1].event().text_data().find(R"("attempts":3)") != std::string::npos);

  // A replay from a lost checkpoint finds the outcome in the stream: no second POST.
  REQUIRE(f.ledger->SaveCheckpoint("reactor/webhook-outbox", 0).ok());
  deliveries.failures = 1000;  // every attempt from here on fails
  RequestNotification(f, "n-bad", "bad-target");
  {
    auto runner = StartOutbox(f, deliveries);
    WaitForCount(f, *runner, "registry.notification.failed.v1", 1);
  }
  CHECK(deliveries.count() == 4);  // n-bad once (no retry can help); n-1 not again
  CHECK(f.CountType("registry.notification.delivered.v1") == 1);
  auto failed = f.ledger->ReadStream("notification-n-bad", 1, 10);
  REQUIRE(failed.ok());
  REQUIRE(failed->records.size() == 1);
  CHECK(failed->records[0].event().text_data().find(R"("attempts":1)") != std::string::npos);

  RequestNotification(f, "n-down", "http://hooks.example/down");
  {
    auto runner = StartOutbox(f, deliveries);
    WaitForCount(f, *runner, "registry.notification.failed.v1", 2);
  }
  CHECK(deliveries.count() == 4 + kNotificationAttemptsMax);
  auto down = f.ledger->ReadStream("notification-n-down", 1, 10);
  REQUIRE(down.ok());
  REQUIRE(down->records.size() == 1);
  CHECK(down->records[0].event().type() == "registry.notification.failed.v1");
  CHECK(down->records[0].event().text_data().find(
            R"("attempts":)" + std::to_string(kNotificationAttemptsMax)) != std::string::npos);
  CHECK(down->records[0].event().text_data().find("503") != std::string::npos);
  f.runner->Stop();
}

TEST_CASE("operator-notify: detected drift requests a webhook to the operator, delivered") {
  Fixture f;
  Deliveries deliveries;
  const uint64_t drift = f.Add("registry.compliance.drift_detected.v1",
                               R"({"peer_id":"frame-b","local_policy_hash":"sha256:l",)"
                               R"("peer_policy_hash":"sha256:p","divergent_agents":3,"threshold":2})");
  auto runner = StartOutbox(f, deliveries, "https://ops.example/hooks");
  WaitForCount(f, *runner, "registry.notification.delivered.v1", 1);
  auto request = f.ledger->ReadStream("notification-drift-" + std::to_string(drift), 0, 10);
  REQUIRE(request.ok());
  REQUIRE(request->records.size() == 2);
  const std::string& data = request->records[0].event().text_data();
  CHECK(data.find(R"("target":"https://ops.example/hooks")") != std::string::npos);
  CHECK(data.find(R"("caused_by":)" + std::to_string(drift)) != std::string::npos);
  CHECK(deliveries.count() == 1);
  CHECK(deliveries.keys.front() == "drift-" + std::to_string(drift));
  runner->Stop();
  f.runner->Stop();
}

TEST_CASE("reactor names are checked") {
  Fixture f;
  std::vector<std::unique_ptr<Reactor>> reactors;
  reactors.push_back(std::make_unique<Flaky>(0, false));
  reactors.push_back(std::make_unique<Flaky>(0, false));
  CHECK(ReactorRunner::Start(f.ledger.get(), std::move(reactors)).status().code() ==
        StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace annals::reactors
