// Goal: POST /api/v1/events and /api/v1/streams/{stream}/events keep the append contract over
// real HTTP against a real annalsd: every status code of DESIGN.md's table (201, 409 with the
// original position, 422, 412 with the actual revision, 400 naming the attribute, 413, 503), in
// binary, structured and batch mode; batches are atomic and answer per event or with the index
// of the event that failed; and every refused request, whatever is wrong with it (malformed
// JSON, wrong content type, invalid attributes, invalid UTF-8, oversized body or headers, a
// client that stops mid-body or sends too slowly, an idle connection), writes nothing: the
// ledger's head is unchanged after each.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "annals/eventstore/ledger.h"
#include "annals/gateway/server.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/projections/views_db.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/fault_fs.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

using std::chrono::milliseconds;

// The server's limits in this suite: small enough to hit quickly.
constexpr int kRequestTimeoutMs = 1000;
constexpr int kIdleTimeoutMs = 2000;
constexpr size_t kBodyBytesMax = 2 << 20;
// How late a timeout may close a connection and still pass (a loaded CI machine).
constexpr milliseconds kTimeoutSlack(3000);

struct Server {
  TempDir dir;
  Annalsd annalsd{{.data_dir = dir.Sub("data"),
                   .args = {"--request-timeout-ms", std::to_string(kRequestTimeoutMs),
                            "--idle-timeout-ms", std::to_string(kIdleTimeoutMs),
                            "--body-bytes-max", std::to_string(kBodyBytesMax)}}};
  HttpClient client{annalsd.port()};
  Server() { REQUIRE(annalsd.listening()); }
};

// The head must not move across `refused`, which must answer `status` with problem `type`.
void CheckRefused(HttpClient& client, int status, std::string_view type,
                  const std::function<HttpResponse()>& refused) {
  const uint64_t before = HeadPosition(client);
  const HttpResponse r = refused();
  INFO(r.body, r.error);
  CHECK(r.status == status);
  if (r.status != 0) CHECK(ProblemTypeOf(r) == "urn:annals:problem:" + std::string(type));
  CHECK(HeadPosition(client) == before);
}

TEST_CASE("appends in the three content modes") {
  Server s;
  SUBCASE("binary") {
    HttpHeaders headers = BinaryHeaders("b1");
    headers.emplace_back("ce-subject", "agent-%F0%9F%8C%8E");
    const HttpResponse r =
        s.client.Post("/api/v1/events", "{ \"n\" : 1 }", "application/json", headers);
    REQUIRE(r.status == 201);
    const JsonDoc body(r.body);
    CHECK(body.str("/result") == "appended");
    CHECK(body.u64("/position") == 1);
    CHECK(body.str("/stream") == "agent-\xF0\x9F\x8C\x8E");
    CHECK(body.u64("/revision") == 0);
    CHECK(body.str("/hash").size() == 64);
    CHECK(r.header("location") == "/api/v1/events/1");
    const JsonDoc record(s.client.Get(r.header("location")).body);
    CHECK(record.str("/id") == "b1");
    CHECK(record.str("/subject") == "agent-\xF0\x9F\x8C\x8E");
    CHECK(record.raw("/data") == "{\"n\":1}");
    CHECK(record.str("/hash") == body.str("/hash"));
  }
  SUBCASE("structured") {
    const HttpResponse r = s.client.Post("/api/v1/events", EventJson("s1"), kStructured);
    REQUIRE(r.status == 201);
    CHECK(JsonDoc(r.body).u64("/position") == 1);
    CHECK_FALSE(JsonDoc(r.body).has("/stream"));
  }
  SUBCASE("batch, atomic, one result per event") {
    const std::string batch = "[" + EventJson("a", ",\"subject\":\"s\"") + "," +
                              EventJson("b", ",\"subject\":\"s\"") + "," + EventJson("c") + "]";
    const HttpResponse r = s.client.Post("/api/v1/events", batch, kBatch);
    REQUIRE(r.status == 201);
    const JsonDoc body(r.body);
    REQUIRE(body.size("/results") == 3);
    for (uint64_t i = 0; i < 3; ++i) {
      const std::string at = "/results/" + std::to_string(i);
      CHECK(body.str(at + "/result") == "appended");
      CHECK(body.u64(at + "/position") == i + 1);
    }
    CHECK(body.u64("/results/1/revision") == 1);
    CHECK(s.client.Post("/api/v1/events", "[]", kBatch).status == 200);
  }
  SUBCASE("the same event in binary and structured mode is one event") {
    REQUIRE(s.client.Post("/api/v1/events", "{\"n\":\"x\"}", "application/json",
                          BinaryHeaders("x")).status == 201);
    const std::string same =
        EventJson("x", ",\"datacontenttype\":\"application/json\"");
    const HttpResponse r = s.client.Post("/api/v1/events", same, kStructured);
    CHECK(r.status == 409);
    CHECK(JsonDoc(r.body).u64("/position") == 1);
  }
}

TEST_CASE("dedup: 409 with the original position, 422 for a key reused for other content") {
  Server s;
  const HttpHeaders key = {{"Idempotency-Key", "order-7"}};
  const HttpResponse first = s.client.Post("/api/v1/events", EventJson("k1"), kStructured, key);
  REQUIRE(first.status == 201);
  REQUIRE(s.client.Post("/api/v1/events", EventJson("k2"), kStructured).status == 201);
  CheckRefused(s.client, 409, "duplicate", [&] {
    const HttpResponse r = s.client.Post("/api/v1/events", EventJson("k1"), kStructured, key);
    const JsonDoc body(r.body);
    CHECK(body.u64("/position") == 1);
    CHECK(body.str("/hash") == JsonDoc(first.body).str("/hash"));
    CHECK(r.header("location") == "/api/v1/events/1");
    return r;
  });
  CheckRefused(s.client, 422, "key-reuse", [&] {
    const HttpResponse r = s.client.Post("/api/v1/events", EventJson("k3"), kStructured, key);
    CHECK(JsonDoc(r.body).u64("/position") == 1);
    CHECK(JsonDoc(r.body).str("/attribute") == "idempotency_key");
    return r;
  });
  // Without a header the key is "<source> <id>": the same id is a duplicate.
  CheckRefused(s.client, 409, "duplicate", [&] {
    return s.client.Post("/api/v1/events", EventJson("k2"), kStructured);
  });
  // A retried batch with Idempotency-Key: every event a duplicate, the whole answers 409.
  const std::string batch = "[" + EventJson("m1") + "," + EventJson("m2") + "]";
  const HttpHeaders batch_key = {{"Idempotency-Key", "batch-1"}};
  REQUIRE(s.client.Post("/api/v1/events", batch, kBatch, batch_key).status == 201);
  CheckRefused(s.client, 409, "duplicate", [&] {
    const HttpResponse r = s.client.Post("/api/v1/events", batch, kBatch, batch_key);
    const JsonDoc body(r.body);
    CHECK(body.str("/results/1/result") == "duplicate");
    CHECK(body.u64("/results/1/position") == 4);
    return r;
  });
  const JsonDoc stored(s.client.Get("/api/v1/events/4").body);
  CHECK(stored.str("/idempotency_key") == "batch-1#1");
}

TEST_CASE("Expected-Revision: 412 with the actual revision") {
  Server s;
  const std::string url = "/api/v1/streams/order-%2F1/events";
  auto post = [&](std::string_view id, std::string_view expected) {
    return s.client.Post(url, EventJson(id), kStructured, {{"Expected-Revision", std::string(expected)}});
  };
  CheckRefused(s.client, 412, "wrong-revision", [&] {
    const HttpResponse r = post("e0", "exists");
    CHECK(JsonDoc(r.body).is_null("/actual_revision"));
    return r;
  });
  const HttpResponse first = post("e1", "no_stream");
  REQUIRE(first.status == 201);
  CHECK(JsonDoc(first.body).str("/stream") == "order-/1");
  CHECK(JsonDoc(first.body).u64("/revision") == 0);
  CheckRefused(s.client, 412, "wrong-revision", [&] {
    const HttpResponse r = post("e2", "no_stream");
    CHECK(JsonDoc(r.body).u64("/actual_revision") == 0);
    return r;
  });
  REQUIRE(post("e3", "0").status == 201);
  REQUIRE(post("e4", "exists").status == 201);
  REQUIRE(post("e5", "any").status == 201);
  CheckRefused(s.client, 412, "wrong-revision", [&] {
    const HttpResponse r = post("e6", "1");
    CHECK(JsonDoc(r.body).u64("/actual_revision") == 3);
    return r;
  });
  // A retry of an append that succeeded is a duplicate, not a wrong revision.
  CHECK(post("e3", "0").status == 409);
  CheckRefused(s.client, 400, "invalid-request", [&] {
    const HttpResponse r = post("e7", "latest");
    CHECK(JsonDoc(r.body).str("/parameter") == "expected-revision");
    return r;
  });
  // A batch on a stream: the check is made before its first event.
  const std::string batch = "[" + EventJson("f1") + "," + EventJson("f2") + "]";
  CheckRefused(s.client, 412, "wrong-revision", [&] {
    const HttpResponse r = s.client.Post(url, batch, kBatch, {{"Expected-Revision", "2"}});
    CHECK(JsonDoc(r.body).u64("/index") == 0);
    return r;
  });
  const HttpResponse ok = s.client.Post(url, batch, kBatch, {{"Expected-Revision", "3"}});
  REQUIRE(ok.status == 201);
  CHECK(JsonDoc(ok.body).u64("/results/1/revision") == 5);
}

TEST_CASE("a batch is written whole or not at all") {
  Server s;
  REQUIRE(s.client.Post("/api/v1/events", EventJson("old"), kStructured).status == 201);
  SUBCASE("an invalid event: 400 with its index") {
    const std::string batch = "[" + EventJson("n1") + "," +
                              R"({"specversion":"1.0","id":"n2","source":"/test"})" + "," +
                              EventJson("n3") + "]";
    CheckRefused(s.client, 400, "invalid-event", [&] {
      const HttpResponse r = s.client.Post("/api/v1/events", batch, kBatch);
      CHECK(JsonDoc(r.body).u64("/index") == 1);
      CHECK(JsonDoc(r.body).str("/attribute") == "type");
      return r;
    });
  }
  SUBCASE("a key reused by one event: 422 with its index") {
    const std::string reuse = R"({"specversion":"1.0","id":"old","source":"/test",)"
                              R"("type":"test.event","data":{"other":true}})";
    const std::string batch = "[" + EventJson("n1") + "," + reuse + "," + EventJson("n3") + "]";
    CheckRefused(s.client, 422, "key-reuse", [&] {
      const HttpResponse r = s.client.Post("/api/v1/events", batch, kBatch);
      CHECK(JsonDoc(r.body).u64("/index") == 1);
      return r;
    });
  }
  CHECK(s.client.Get("/api/v1/events/2").status == 404);
}

TEST_CASE("bad input is refused with a problem naming what is wrong, and writes nothing") {
  Server s;
  REQUIRE(s.client.Post("/api/v1/events", EventJson("first"), kStructured).status == 201);
  auto invalid = [&](std::string_view attribute, const std::function<HttpResponse()>& send) {
    CheckRefused(s.client, 400, "invalid-event", [&] {
      const HttpResponse r = send();
      CHECK(JsonDoc(r.body).str("/attribute") == attribute);
      return r;
    });
  };
  invalid("json", [&] {
    return s.client.Post("/api/v1/events", "{\"specversion\":\"1.0\",", kStructured);
  });
  invalid("json", [&] { return s.client.Post("/api/v1/events", "", kStructured); });
  invalid("json", [&] { return s.client.Post("/api/v1/events", "[{]", kBatch); });
  invalid("data", [&] {
    return s.client.Post("/api/v1/events", "{\"n\":", "application/json", BinaryHeaders("d"));
  });
  invalid("source", [&] {
    return s.client.Post("/api/v1/events",
                         R"({"specversion":"1.0","id":"x","source":"a b","type":"test.event"})",
                         kStructured);
  });
  invalid("id", [&] {
    HttpHeaders h = BinaryHeaders("");
    return s.client.Post("/api/v1/events", "{}", "application/json", h);
  });
  invalid("time", [&] {
    return s.client.Post("/api/v1/events", EventJson("t", ",\"time\":\"2024-02-30T00:00:00Z\""),
                         kStructured);
  });
  invalid("my-ext", [&] {
    HttpHeaders h = BinaryHeaders("x");
    h.emplace_back("ce-my-ext", "1");
    return s.client.Post("/api/v1/events", "{}", "application/json", h);
  });
  invalid("annalsorigin", [&] {
    return s.client.Post("/api/v1/events", EventJson("o", ",\"annalsorigin\":\"frame-eu\""),
                         kStructured);
  });
  invalid("data.peer_id", [&] {
    return s.client.Post(
        "/api/v1/events",
        R"({"specversion":"1.0","id":"p","source":"/ops","type":"registry.peer.added.v1",)"
        R"("data":{"name":"EU"}})",
        kStructured);
  });
  SUBCASE("invalid UTF-8") {
    invalid("json", [&] {
      return s.client.Post("/api/v1/events", EventJson("bad\xC3\x28"), kStructured);
    });
    invalid("subject", [&] {
      HttpHeaders h = BinaryHeaders("u");
      h.emplace_back("ce-subject", "caf%E9");
      return s.client.Post("/api/v1/events", "{}", "application/json", h);
    });
    invalid("data", [&] {
      return s.client.Post("/api/v1/events", "\"caf\xE9\"", "application/json",
                           BinaryHeaders("u2"));
    });
  }
  SUBCASE("wrong content type") {
    CheckRefused(s.client, 415, "unsupported-media-type", [&] {
      return s.client.Post("/api/v1/events", EventJson("w"), "application/json");
    });
    CheckRefused(s.client, 415, "unsupported-media-type", [&] {
      return s.client.Post("/api/v1/events", "<event/>", "application/cloudevents+xml");
    });
    CheckRefused(s.client, 415, "unsupported-media-type", [&] {
      return s.client.Post("/api/v1/events", EventJson("w"), "");
    });
  }
  SUBCASE("routes and methods") {
    CheckRefused(s.client, 404, "not-found", [&] {
      return s.client.Post("/api/v1/event", EventJson("r"), kStructured);
    });
    CheckRefused(s.client, 405, "method-not-allowed", [&] {
      const HttpResponse r = s.client.Request("PUT", "/api/v1/events", {}, EventJson("r"));
      CHECK(r.header("allow") == "GET, POST");
      return r;
    });
  }
}

TEST_CASE("limits: 413 for an event or body too large, 431 for headers too large") {
  Server s;
  REQUIRE(s.client.Post("/api/v1/events", EventJson("first"), kStructured).status == 201);
  CheckRefused(s.client, 413, "too-large", [&] {
    // Within the body limit, over the ledger's event limit (kEventBytesMax, 1 MiB).
    const std::string big = std::string(1536 << 10, 'x');
    const HttpResponse r = s.client.Post("/api/v1/events", big, "text/plain", BinaryHeaders("big"));
    CHECK(JsonDoc(r.body).str("/attribute") == "event");
    return r;
  });
  CheckRefused(s.client, 413, "too-large", [&] {
    return s.client.Post("/api/v1/events", std::string(kBodyBytesMax + 1, 'x'), "text/plain",
                         BinaryHeaders("bigger"));
  });
  CheckRefused(s.client, 413, "too-large", [&] {
    // Refused from Content-Length alone, before the body is read.
    return HttpClient::SendRaw(
        s.annalsd.port(), "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                          "Content-Length: 999999999\r\n\r\nabc");
  });
  CheckRefused(s.client, 431, "headers-too-large", [&] {
    HttpHeaders h = BinaryHeaders("h");
    h.emplace_back("ce-padding", std::string(20 << 10, 'p'));
    return s.client.Post("/api/v1/events", "{}", "application/json", h);
  });
  CheckRefused(s.client, 400, "invalid-request", [&] {
    return HttpClient::SendRaw(s.annalsd.port(), "POST /api/v1/events HTTP/1.1\r\nHost: x\r\n"
                                                 "Content-Length: nope\r\n\r\n");
  });
}

TEST_CASE("slow and silent clients are disconnected, and nothing is written") {
  Server s;
  const uint64_t before = HeadPosition(s.client);
  const std::string head =
      "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/cloudevents+json\r\n"
      "Content-Length: " + std::to_string(EventJson("slow").size()) + "\r\n\r\n";
  SUBCASE("a client that stops mid-body") {
    RawConnection c(s.annalsd.port());
    REQUIRE(c.Send(head + EventJson("slow").substr(0, 20)));
    std::string received;
    const auto closed = c.WaitClosed(milliseconds(kRequestTimeoutMs) + kTimeoutSlack, &received);
    REQUIRE(closed);
    CHECK(*closed >= milliseconds(kRequestTimeoutMs / 2));
    CHECK(received.empty());
  }
  SUBCASE("a client that sends a byte at a time: the deadline covers the whole request") {
    RawConnection c(s.annalsd.port());
    const std::string request = head + EventJson("slow");
    const auto start = std::chrono::steady_clock::now();
    bool open = true;
    for (size_t i = 0; i < request.size() && open; ++i) {
      open = c.Send(request.substr(i, 1));
      std::this_thread::sleep_for(milliseconds(50));
      if (std::chrono::steady_clock::now() - start > milliseconds(kRequestTimeoutMs) + kTimeoutSlack) {
        break;
      }
    }
    std::string received;
    CHECK(c.WaitClosed(kTimeoutSlack, &received));
    CHECK(received.find(" 201 ") == std::string::npos);
  }
  SUBCASE("an idle keep-alive connection is closed after the idle timeout") {
    RawConnection c(s.annalsd.port());
    std::string received;
    const auto closed = c.WaitClosed(milliseconds(kIdleTimeoutMs) + kTimeoutSlack, &received);
    REQUIRE(closed);
    CHECK(*closed >= milliseconds(kIdleTimeoutMs / 2));
  }
  CHECK(HeadPosition(s.client) == before);
}

// 503 needs failing storage: the gateway is run in this process on a ledger whose file system
// can be made full (annals/testing/fault_fs.h), and spoken to over real HTTP.
TEST_CASE("503 while the storage fails; appends resume after") {
  TempDir dir;
  auto fs = std::make_shared<FaultFileSystem>();
  auto env = NewFaultEnv(fs);
  auto ledger = eventstore::Ledger::Open({.path = dir.Sub("ledger"), .env = env.get()});
  REQUIRE(ledger.ok());
  auto views = projections::ViewsDb::Open({.path = dir.Sub("views")});
  REQUIRE(views.ok());
  auto runner = projections::Runner::Open({.ledger = ledger->get(), .db = views->get()},
                                          projections::RegistryViews());
  REQUIRE(runner.ok());
  gateway::GatewayOptions options;
  options.port = 0;
  options.io_threads = 2;
  auto server = gateway::Server::Start(options, {.ledger = ledger->get(), .runner = runner->get()});
  REQUIRE(server.ok());
  HttpClient client((*server)->port());
  REQUIRE(client.Post("/api/v1/events", EventJson("before"), kStructured).status == 201);
  fs->SetFull(true);
  CheckRefused(client, 503, "unavailable", [&] {
    const HttpResponse r = client.Post("/api/v1/events", EventJson("during"), kStructured);
    CHECK(r.header("retry-after") == "1");
    return r;
  });
  // Reads go on.
  CHECK(client.Get("/api/v1/events/1").status == 200);
  fs->SetFull(false);
  // Retrying with the same key is safe: 201, or 409 when the refused write became durable.
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (status != 201 && status != 409 && std::chrono::steady_clock::now() < deadline) {
    status = client.Post("/api/v1/events", EventJson("during"), kStructured).status;
    if (status == 503) std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK((status == 201 || status == 409));
  (*server)->Stop();
  (*ledger)->Close();
}

}  // namespace
}  // namespace annals::testing
