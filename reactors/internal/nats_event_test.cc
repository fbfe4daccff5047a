// Goal: events cross NATS unchanged: a published message decodes back to the same event, key
// and stream with the peer as origin; binary mode (ce- headers in any case) is read; names
// and subjects are what docs/replication.md says; every malformed message is refused with a
// reason.
#include "internal/nats_event.h"

#include <doctest/doctest.h>

#include "annals/eventstore/ledger.h"
#include "annals/testing/test_util.h"

namespace annals::reactors::internal {
namespace {
namespace es = annals::eventstore;

TEST_CASE("names and subjects") {
  CHECK(IsReplicableRegistryName("a"));
  CHECK(IsReplicableRegistryName("frame-b_2"));
  CHECK_FALSE(IsReplicableRegistryName(""));
  CHECK_FALSE(IsReplicableRegistryName("A"));
  CHECK_FALSE(IsReplicableRegistryName("a.b"));
  CHECK_FALSE(IsReplicableRegistryName("-a"));
  CHECK_FALSE(IsReplicableRegistryName("a*"));
  CHECK_FALSE(IsReplicableRegistryName(std::string(65, 'a')));
  CHECK(StreamName("frame-b") == "ANNALS_FRAME-B");
  CHECK(StreamSubjects("a") == "annals.a.>");
  CHECK(Subject("a", "registry.agent.registered.v1") == "annals.a.registry.agent.registered.v1");
  CHECK(Subject("a", "com.example/odd type*") == "annals.a.com.example_odd_type_");
  CHECK(Subject("a", "x..y.") == "annals.a.x._.y._");
}

TEST_CASE("a published event decodes to the same event, key and stream, from the peer") {
  testing::TempDir dir;
  auto ledger = es::Ledger::Open({.path = dir.path(), .registry_name = "a"});
  REQUIRE(ledger.ok());
  es::ProposedEvent proposed = testing::Propose(
      testing::MakeEvent("registry.agent.deprecated.v1", "/registry/a", "e1",
                         R"({"did":"did:web:a.example:x","reason":"old"})", "agent-x"),
      "explicit-stream", "key-1");
  REQUIRE((*ledger)->Append(proposed).code == es::AppendCode::kAppended);
  auto record = (*ledger)->ReadAt(1);
  REQUIRE(record.ok());
  const OutgoingMessage out = EncodeForNats(*record, "a");
  CHECK(out.subject == "annals.a.registry.agent.deprecated.v1");
  CHECK(out.msg_id == "key-1");
  CHECK(out.position == 1);
  const Headers headers = {{"Content-Type", "application/cloudevents+json"},
                           {"Nats-Msg-Id", out.msg_id},
                           {"Annals-Position", "1"}};
  DecodedMessage in = DecodeFromNats(headers, out.payload, "a");
  REQUIRE_MESSAGE(in.event, in.error);
  CHECK(es::ContentDigest(in.event->event) == record->content_digest());
  CHECK(in.event->idempotency_key == "key-1");
  CHECK(in.event->stream == "explicit-stream");
  CHECK(in.event->origin == "a");
  CHECK(in.peer_position == 1);
}

TEST_CASE("binary mode: ce- headers in any case, Content-Type is datacontenttype") {
  const Headers headers = {{"CE-SpecVersion", "1.0"},
                           {"ce-id", "b1"},
                           {"Ce-Source", "/registry/b"},
                           {"ce-type", "t.v1"},
                           {"ce-subject", "agent-%C3%A9"},
                           {"content-type", "application/json"},
                           {"Nats-Msg-Id", "k-b1"}};
  DecodedMessage in = DecodeFromNats(headers, R"({ "x" : 1 })", "b");
  REQUIRE_MESSAGE(in.event, in.error);
  CHECK(in.event->event.id() == "b1");
  CHECK(in.event->event.attributes().at("subject").ce_string() == "agent-\xC3\xA9");
  CHECK(in.event->event.text_data() == R"({"x":1})");
  CHECK(in.event->idempotency_key == "k-b1");
  CHECK(in.event->origin == "b");
  CHECK(in.peer_position == 0);
}

TEST_CASE("malformed messages are refused with a reason") {
  const std::string good = R"({"specversion":"1.0","id":"1","source":"/s","type":"t.v1"})";
  const Headers structured = {{"Content-Type", "application/cloudevents+json"}};
  struct Case {
    Headers headers;
    std::string payload;
    std::string_view expect;
  };
  const Case cases[] = {
      {{}, good, "not a CloudEvent"},
      {{{"Content-Type", "text/plain"}}, good, "not a CloudEvent"},
      {structured, "{", "invalid event: json"},
      {structured, R"({"specversion":"1.0","id":"1","source":"/s"})", "invalid event: type"},
      {{{"Content-Type", "application/cloudevents+json; charset=latin1"}}, good, "charset"},
      {{{"Content-Type", "application/cloudevents+json"}, {"Nats-Msg-Id", "k"}},
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t.v1","annalskey":"other"})",
       "differ"},
      {structured,
       R"({"specversion":"1.0","id":"1","source":"/s","type":"t.v1","annalsorigin":"c"})",
       "origin is c"},
      {{{"Content-Type", "application/cloudevents+json"}, {"Annals-Position", "x1"}}, good,
       "Annals-Position"},
      {{{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-id", "2"}, {"ce-source", "/s"},
        {"ce-type", "t"}},
       "", "appears twice"},
      {{{"ce-specversion", "1.0"}, {"ce-id", "%zz"}, {"ce-source", "/s"}, {"ce-type", "t"}}, "",
       "percent-encoded"},
      {structured, std::string(3 << 20, ' '), "bytes"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.expect);
    DecodedMessage in = DecodeFromNats(c.headers, c.payload, "b");
    CHECK_FALSE(in.event);
    CHECK(in.error.find(c.expect) != std::string::npos);
  }
  // The same event without those faults is accepted.
  CHECK(DecodeFromNats(structured, good, "b").event);
}

}  // namespace
}  // namespace annals::reactors::internal
