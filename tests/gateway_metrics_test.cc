// Goal: GET /metrics serves the Prometheus text format (every line a HELP, a TYPE or a sample of
// a declared family), and its counters say exactly what happened: after appends of each result
// kind (appended, duplicate, key_reuse, wrong_revision, invalid, too_large, batch_aborted from a
// real annalsd; unavailable from a server whose ledger is closed), annals_appends_total counts each
// event by its result and annals_append_latency_seconds one latency per append the ledger
// answered; annals_http_requests_total and annals_http_request_duration_seconds count every
// response by method, route pattern and status (requests no route took under "none"); the
// ledger's head and every view's position and lag are those of the moment of the scrape.
#include <doctest/doctest.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <thread>

#include "annals/gateway/server.h"
#include "annals/projections/registry_views.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "annals/testing/views_fixture.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

using Labels = std::map<std::string, std::string>;

// A sample's key: its name and its labels in name order, as the text format writes them.
std::string SampleKey(const std::string& name, const Labels& labels) {
  std::string key = name;
  if (labels.empty()) return key;
  key += "{";
  for (const auto& [label, value] : labels) {
    if (key.back() != '{') key += ",";
    key += label + "=\"" + value + "\"";
  }
  return key + "}";
}

// A scrape, read strictly: every line is a HELP, a TYPE, or a sample of a family whose TYPE
// came before it (a histogram's samples are its _bucket, _sum and _count).
struct Scrape {
  std::map<std::string, std::string> types;  // family -> counter, gauge, histogram, ...
  std::map<std::string, double> samples;     // SampleKey -> value

  explicit Scrape(const std::string& text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      REQUIRE(end != std::string::npos);  // every line ends with a newline
      ReadLine(text.substr(start, end - start));
      start = end + 1;
    }
  }

  // The value of a sample, which must be there.
  double at(const std::string& name, const Labels& labels = {}) const {
    const std::string key = SampleKey(name, labels);
    INFO(key);
    const auto it = samples.find(key);
    REQUIRE(it != samples.end());
    return it->second;
  }
  bool has(const std::string& name, const Labels& labels = {}) const {
    return samples.count(SampleKey(name, labels)) > 0;
  }

 private:
  void ReadLine(const std::string& line) {
    INFO(line);
    if (line.starts_with("# HELP ")) return;
    if (line.starts_with("# TYPE ")) {
      const size_t space = line.find(' ', 7);
      REQUIRE(space != std::string::npos);
      const std::string type = line.substr(space + 1);
      CHECK((type == "counter" || type == "gauge" || type == "histogram" || type == "summary" ||
             type == "untyped"));
      types[line.substr(7, space - 7)] = type;
      return;
    }
    REQUIRE(line[0] != '#');
    size_t i = 0;
    while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) ||
                               line[i] == '_' || line[i] == ':')) {
      ++i;
    }
    const std::string name = line.substr(0, i);
    REQUIRE(!name.empty());
    CHECK(types.count(Family(name)) == 1);
    Labels labels;
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find("=\"", i);
        REQUIRE(eq != std::string::npos);
        const std::string label = line.substr(i, eq - i);
        std::string value;
        for (i = eq + 2; line.at(i) != '"'; ++i) {
          if (line[i] == '\\') ++i;  // \\, \" and \n
          value += line.at(i);
        }
        labels[label] = value;
        ++i;
        if (line.at(i) == ',') ++i;
      }
      ++i;
    }
    REQUIRE(line.at(i) == ' ');
    const std::string value = line.substr(i + 1);
    const double v = value == "+Inf" ? HUGE_VAL : std::stod(value);
    CHECK(samples.emplace(SampleKey(name, labels), v).second);  // no sample twice
  }

  // The family a sample belongs to.
  std::string Family(const std::string& name) const {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix)) {
        const std::string base = name.substr(0, name.size() - suffix.size());
        const auto it = types.find(base);
        if (it != types.end() && it->second == "histogram") return base;
      }
    }
    return name;
  }
};

Scrape ScrapeMetrics(HttpClient& client) {
  const HttpResponse r = client.Get("/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  return Scrape(r.body);
}

Labels Route(const std::string& method, const std::string& route, int status) {
  return {{"method", method}, {"route", route}, {"status", std::to_string(status)}};
}

TEST_CASE("after appends of each result and some reads, /metrics says exactly what happened") {
  TempDir dir;
  Annalsd annalsd({.data_dir = dir.Sub("data")});
  REQUIRE(annalsd.listening());
  HttpClient client(annalsd.port());
  auto post = [&](const std::string& body, std::string_view type = kStructured,
                  const std::string& target = "/api/v1/events", const HttpHeaders& h = {}) {
    return client.Post(target, body, type, h).status;
  };
  const std::string reuse = R"({"specversion":"1.0","id":"e1","source":"/test",)"
                            R"("type":"test.event","data":{"other":true}})";
  CHECK(post(EventJson("e1")) == 201);                                              // appended
  CHECK(post(EventJson("e1")) == 409);                                              // duplicate
  CHECK(post(reuse) == 422);                                                        // key_reuse
  CHECK(post(EventJson("r1"), kStructured, "/api/v1/streams/s/events",
             {{"Expected-Revision", "3"}}) == 412);                                 // wrong_revision
  CHECK(post(R"({"specversion":"1.0","id":"p","source":"/ops","type":"registry.peer.added.v1",)"
             R"("data":{"name":"EU"}})") == 400);                                   // invalid
  CHECK(client.Post("/api/v1/events", std::string(1536 << 10, 'x'), "text/plain",
                    BinaryHeaders("big"))
            .status == 413);                                                        // too_large
  CHECK(post("[" + EventJson("n1") + "," + reuse + "]", kBatch) == 422);  // batch_aborted, reuse
  CHECK(post("[" + EventJson("n2") + "," + EventJson("n3") + "]", kBatch) == 201);  // 2 appended
  // Refused by the gateway before the ledger: counted as the ledger would answer, no latency.
  CHECK(post(R"({"specversion":"1.0","id":"x","source":"/test"})") == 400);  // invalid
  CHECK(post(EventJson("x"), "application/xml") == 415);  // no CloudEvent: nothing
  // Reads, and requests no route takes.
  CHECK(client.Get("/api/v1/events/1").status == 200);
  CHECK(client.Get("/api/v1/events/3").status == 200);
  CHECK(client.Get("/api/v1/events/99").status == 404);
  CHECK(client.Get("/nowhere").status == 404);
  CHECK(client.Request("PUT", "/api/v1/events").status == 405);
  // Views caught up, so that their positions are the head's.
  int readyz = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int ready_status = 0;
  while (ready_status != 200 && std::chrono::steady_clock::now() < deadline) {
    ready_status = client.Get("/readyz").status;
    ++readyz;
    if (ready_status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(ready_status == 200);
  const JsonDoc ready(client.Get("/readyz").body);
  ++readyz;

  const Scrape m = ScrapeMetrics(client);
  CHECK(m.types.at("annals_appends_total") == "counter");
  CHECK(m.types.at("annals_append_latency_seconds") == "histogram");
  CHECK(m.types.at("annals_http_requests_total") == "counter");
  CHECK(m.types.at("annals_http_request_duration_seconds") == "histogram");
  CHECK(m.types.at("annals_view_position") == "gauge");
  CHECK(m.types.at("annals_view_lag") == "gauge");
  CHECK(m.types.at("annals_ledger_head_position") == "gauge");
  const std::map<std::string, double> appends = {
      {"appended", 3},   {"duplicate", 1}, {"key_reuse", 2},   {"wrong_revision", 1},
      {"invalid", 2},    {"too_large", 1}, {"unavailable", 0}, {"batch_aborted", 1}};
  for (const auto& [result, count] : appends) {
    CAPTURE(result);
    CHECK(m.at("annals_appends_total", {{"result", result}}) == count);
  }
  CHECK(m.at("annals_append_latency_seconds_count") == 7);
  CHECK(m.at("annals_append_latency_seconds_bucket", {{"le", "+Inf"}}) == 7);

  const std::string events = "/api/v1/events";
  const std::map<int, double> posts = {{201, 2}, {409, 1}, {422, 2},
                                       {400, 2}, {413, 1}, {415, 1}};
  for (const auto& [status, count] : posts) {
    CAPTURE(status);
    CHECK(m.at("annals_http_requests_total", Route("POST", events, status)) == count);
  }
  CHECK(m.at("annals_http_requests_total",
             Route("POST", "/api/v1/streams/{stream}/events", 412)) == 1);
  CHECK(m.at("annals_http_requests_total", Route("GET", "/api/v1/events/{position}", 200)) == 2);
  CHECK(m.at("annals_http_requests_total", Route("GET", "/api/v1/events/{position}", 404)) == 1);
  CHECK(m.at("annals_http_requests_total", Route("none", "none", 404)) == 1);
  CHECK(m.at("annals_http_requests_total", Route("none", "none", 405)) == 1);
  CHECK(m.at("annals_http_requests_total", Route("GET", "/readyz", 200)) +
            (m.has("annals_http_requests_total", Route("GET", "/readyz", 503))
                 ? m.at("annals_http_requests_total", Route("GET", "/readyz", 503))
                 : 0) ==
        readyz);
  CHECK_FALSE(m.has("annals_http_requests_total", Route("GET", "/metrics", 200)));  // not yet
  CHECK(m.at("annals_http_request_duration_seconds_count",
             {{"method", "POST"}, {"route", events}}) == 9);
  CHECK(m.at("annals_http_request_duration_seconds_bucket",
             {{"method", "GET"}, {"route", "/api/v1/events/{position}"}, {"le", "+Inf"}}) == 3);

  CHECK(m.at("annals_ledger_head_position") == 3);
  CHECK(m.at("annals_ledger_size_bytes") > 0);
  CHECK(m.types.at("annals_ledger_background_jobs") == "gauge");
  CHECK(m.types.at("annals_ledger_pending_compaction_bytes") == "gauge");
  // The filter of a fresh ledger is built at once; sized for kKeyFilterKeysMin keys.
  CHECK(m.types.at("annals_ledger_key_filter_capacity") == "gauge");
  CHECK(m.at("annals_ledger_key_filter_bytes") >= 1 << 20);
  // The indexer trails the head by its last write (a moment): never past it.
  CHECK(m.types.at("annals_ledger_indexed_position") == "gauge");
  CHECK(m.at("annals_ledger_indexed_position") <= 3);
  const size_t views = ready.size("/views");
  CHECK(views == 4);
  for (size_t i = 0; i < views; ++i) {
    const std::string view = ready.str("/views/" + std::to_string(i) + "/name");
    CAPTURE(view);
    CHECK(m.at("annals_view_position", {{"view", view}}) == 3);
    CHECK(m.at("annals_view_lag", {{"view", view}}) == 0);
  }
  CHECK(m.at("annals_sse_streams") == 0);
  CHECK(m.at("annals_sse_slow_clients_total") == 0);

  // The scrape itself is counted once written.
  const Scrape again = ScrapeMetrics(client);
  CHECK(again.at("annals_http_requests_total", Route("GET", "/metrics", 200)) == 1);
  CHECK(client.Get("/metrics?x=1").status == 400);
}

TEST_CASE("an append the ledger refuses as unavailable counts as unavailable") {
  ViewsFixture fixture(projections::RegistryViews());
  gateway::GatewayOptions options;
  options.port = 0;
  options.io_threads = 2;
  auto server = gateway::Server::Start(options, {.ledger = fixture.ledger.get(),
                                                 .runner = fixture.runner.get()});
  REQUIRE(server.ok());
  HttpClient client((*server)->port());
  REQUIRE(client.Post("/api/v1/events", EventJson("before"), kStructured).status == 201);
  fixture.ledger->Close();  // later appends: kUnavailable; reads go on
  CHECK(client.Post("/api/v1/events", EventJson("after"), kStructured).status == 503);
  const Scrape m = ScrapeMetrics(client);
  CHECK(m.at("annals_appends_total", {{"result", "appended"}}) == 1);
  CHECK(m.at("annals_appends_total", {{"result", "unavailable"}}) == 1);
  CHECK(m.at("annals_append_latency_seconds_count") == 2);
  CHECK(m.at("annals_http_requests_total", Route("POST", "/api/v1/events", 503)) == 1);
  CHECK(m.at("annals_ledger_head_position") == 1);
  (*server)->Stop();
}

}  // namespace
}  // namespace annals::testing
