// Goal: the audit reads of a real annalsd serve the ledger as `annalsctl read` does: pages by
// position (filtered by type or stream) whose next links (body "next" and Link header) lead
// through every record exactly once and end with null; stream reads by revision; one record
// by position (404 past the head); the head; bad parameters refused by name; /healthz, and
// /readyz turning 200 once the views have caught up. Also the connection limit: one connection
// more than allowed is answered 503 and closed.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

constexpr int kEvents = 25;
constexpr int kPageSizeMax = 10;

struct Server {
  TempDir dir;
  Annalsd annalsd{{.data_dir = dir.Sub("data"),
                   .args = {"--page-size-max", std::to_string(kPageSizeMax)}}};
  HttpClient client{annalsd.port()};

  // kEvents events: even ones on stream "even" of type test.even, odd ones in no stream.
  Server() {
    REQUIRE(annalsd.listening());
    std::string batch = "[";
    for (int i = 1; i <= kEvents; ++i) {
      const bool even = i % 2 == 0;
      if (i > 1) batch += ",";
      batch += EventJson("e" + std::to_string(i), even ? ",\"subject\":\"even\"" : "",
                         even ? "test.even" : "test.odd");
    }
    REQUIRE(client.Post("/api/v1/events", batch + "]", kBatch).status == 201);
  }

  // Follows next links from `url`; returns the ids read, in order.
  std::vector<std::string> Follow(std::string url, size_t* pages) {
    std::vector<std::string> ids;
    *pages = 0;
    while (!url.empty()) {
      const HttpResponse r = client.Get(url);
      REQUIRE(r.status == 200);
      ++*pages;
      const JsonDoc body(r.body);
      for (size_t i = 0; i < body.size("/events"); ++i) {
        ids.push_back(body.str("/events/" + std::to_string(i) + "/id"));
      }
      if (body.is_null("/next")) {
        CHECK(r.header("link").empty());
        url.clear();
      } else {
        url = body.str("/next");
        CHECK(r.header("link") == "<" + url + ">; rel=\"next\"");
      }
      REQUIRE(*pages <= kEvents + 1);
    }
    return ids;
  }
};

std::vector<std::string> Ids(int from, int to, int step) {
  std::vector<std::string> ids;
  for (int i = from; i <= to; i += step) ids.push_back("e" + std::to_string(i));
  return ids;
}

TEST_CASE("audit reads page by position with next links") {
  Server s;
  size_t pages = 0;
  CHECK(s.Follow("/api/v1/events?limit=4", &pages) == Ids(1, kEvents, 1));
  CHECK(pages == 7);
  CHECK(s.Follow("/api/v1/events?from=20", &pages) == Ids(20, kEvents, 1));  // default limit
  CHECK(s.Follow("/api/v1/events?type=test.even&limit=5", &pages) == Ids(2, kEvents, 2));
  CHECK(s.Follow("/api/v1/events?stream=even&limit=3&from=7", &pages) == Ids(8, kEvents, 2));
  CHECK(s.Follow("/api/v1/events?from=26", &pages).empty());

  const JsonDoc one(s.client.Get("/api/v1/events?from=2&limit=1").body);
  CHECK(one.u64("/events/0/position") == 2);
  CHECK(one.str("/events/0/stream") == "even");
  CHECK(one.u64("/events/0/revision") == 0);
  CHECK(one.str("/events/0/origin") == "local");
  CHECK(one.str("/next") == "/api/v1/events?from=3&limit=1");
}

TEST_CASE("stream reads, one record, the head") {
  Server s;
  size_t pages = 0;
  CHECK(s.Follow("/api/v1/streams/even?limit=5", &pages) == Ids(2, kEvents, 2));
  CHECK(pages == 3);
  const JsonDoc page(s.client.Get("/api/v1/streams/even?from_revision=10&limit=5").body);
  CHECK(page.str("/stream") == "even");
  CHECK(page.u64("/events/0/revision") == 10);
  CHECK(page.str("/events/0/id") == "e22");
  CHECK(JsonDoc(s.client.Get("/api/v1/streams/none").body).size("/events") == 0);

  const HttpResponse record = s.client.Get("/api/v1/events/25");
  REQUIRE(record.status == 200);
  const JsonDoc body(record.body);
  CHECK(body.str("/id") == "e25");
  CHECK(body.raw("/data") == "{\"n\":\"e25\"}");
  const HttpResponse head = s.client.Get("/api/v1/ledger/head");
  CHECK(JsonDoc(head.body).u64("/position") == 25);
  CHECK(JsonDoc(head.body).str("/hash") == body.str("/hash"));
  CHECK(s.client.Get("/api/v1/events/26").status == 404);
  CHECK(ProblemTypeOf(s.client.Get("/api/v1/events/26")) == "urn:annals:problem:not-found");
}

TEST_CASE("bad parameters are refused by name") {
  Server s;
  auto refused = [&](const std::string& url, const std::string& parameter) {
    CAPTURE(url);
    const HttpResponse r = s.client.Get(url);
    CHECK(r.status == 400);
    CHECK(JsonDoc(r.body).str("/parameter") == parameter);
  };
  refused("/api/v1/events?limit=0", "limit");
  refused("/api/v1/events?limit=" + std::to_string(kPageSizeMax + 1), "limit");
  refused("/api/v1/events?from=0", "from");
  refused("/api/v1/events?from=-1", "from");
  refused("/api/v1/events?from=1x", "from");
  refused("/api/v1/events?form=3", "form");
  refused("/api/v1/events?from=1&from=2", "from");
  refused("/api/v1/events?type=%zz", "query");
  refused("/api/v1/events/0", "position");
  refused("/api/v1/events/abc", "position");
  refused("/api/v1/streams/even?from_revision=x", "from_revision");
}

TEST_CASE("healthz and readyz") {
  Server s;
  const HttpResponse health = s.client.Get("/healthz");
  CHECK(health.status == 200);
  CHECK(JsonDoc(health.body).str("/status") == "ok");
  // The views fold on their own threads: ready once each has reached the head.
  HttpResponse ready;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    ready = s.client.Get("/readyz");
    if (ready.status == 503) {
      CHECK(ProblemTypeOf(ready) == "urn:annals:problem:not-ready");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } while (ready.status == 503 && std::chrono::steady_clock::now() < deadline);
  REQUIRE(ready.status == 200);
  const JsonDoc body(ready.body);
  CHECK(body.u64("/head") == kEvents);
  CHECK(body.size("/views") == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(body.u64("/views/" + std::to_string(i) + "/lag") == 0);
    CHECK(body.u64("/views/" + std::to_string(i) + "/position") == kEvents);
  }
}

TEST_CASE("one connection over the limit is answered 503 and closed") {
  TempDir dir;
  Annalsd annalsd({.data_dir = dir.Sub("data"), .args = {"--connections-max", "2"}});
  REQUIRE(annalsd.listening());
  HttpClient first(annalsd.port());
  HttpClient second(annalsd.port());
  REQUIRE(first.Get("/healthz").status == 200);
  REQUIRE(second.Get("/healthz").status == 200);
  RawConnection third(annalsd.port());
  std::string received;
  REQUIRE(third.WaitClosed(std::chrono::seconds(10), &received));
  CHECK(received.starts_with("HTTP/1.1 503"));
  CHECK(received.find("urn:annals:problem:unavailable") != std::string::npos);
  // The two admitted connections are still served.
  CHECK(first.Get("/healthz").status == 200);
  CHECK(second.Get("/healthz").status == 200);
}

}  // namespace
}  // namespace annals::testing
