// What the gateway's suites share: JSON bodies read by JSON pointer, the ledger's head over
// HTTP, CloudEvents built as JSON text or binary-mode headers, and the check of a graceful stop
// with appends in flight.
#pragma once

#include <doctest/doctest.h>
#include <signal.h>
#include <simdjson.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"

namespace annals::testing {

// A parsed JSON body; the accessors take JSON pointers ("/results/0/position") and fail the
// test when the member is missing or of another type.
class JsonDoc {
 public:
  explicit JsonDoc(const std::string& text) : text_(text) {
    INFO(text);
    REQUIRE(parser_.parse(text_).get(root_) == simdjson::SUCCESS);
  }
  bool has(std::string_view pointer) const {
    simdjson::dom::element ignored;
    return root_.at_pointer(pointer).get(ignored) == simdjson::SUCCESS;
  }
  bool is_null(std::string_view pointer) const { return at(pointer).is_null(); }
  std::string str(std::string_view pointer) const {
    std::string_view value;
    INFO(pointer, " in ", text_);
    REQUIRE(at(pointer).get(value) == simdjson::SUCCESS);
    return std::string(value);
  }
  uint64_t u64(std::string_view pointer) const {
    uint64_t value = 0;
    INFO(pointer, " in ", text_);
    REQUIRE(at(pointer).get(value) == simdjson::SUCCESS);
    return value;
  }
  size_t size(std::string_view pointer) const {
    simdjson::dom::array array;
    INFO(pointer, " in ", text_);
    REQUIRE(at(pointer).get(array) == simdjson::SUCCESS);
    return array.size();
  }
  // The member as minified JSON text.
  std::string raw(std::string_view pointer) const { return simdjson::minify(at(pointer)); }
  simdjson::dom::element at(std::string_view pointer) const {
    simdjson::dom::element element;
    INFO(pointer, " in ", text_);
    REQUIRE(root_.at_pointer(pointer).get(element) == simdjson::SUCCESS);
    return element;
  }

 private:
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

// Minified JSON text (for comparing JSON values).
inline std::string Minify(std::string_view json) {
  std::string out(json.size() + simdjson::SIMDJSON_PADDING, '\0');
  size_t size = 0;
  REQUIRE(simdjson::minify(json.data(), json.size(), out.data(), size) == simdjson::SUCCESS);
  out.resize(size);
  return out;
}

inline uint64_t HeadPosition(HttpClient& client) {
  const HttpResponse r = client.Get("/api/v1/ledger/head");
  REQUIRE(r.status == 200);
  return JsonDoc(r.body).u64("/position");
}

// A structured-mode event: specversion 1.0, source /test, the given id and type, JSON data
// {"n":"<id>"}, and `extra` members (",\"subject\":\"s\"", say) spliced in.
inline std::string EventJson(std::string_view id, std::string_view extra = "",
                             std::string_view type = "test.event") {
  return "{\"specversion\":\"1.0\",\"id\":\"" + std::string(id) +
         "\",\"source\":\"/test\",\"type\":\"" + std::string(type) + "\"" + std::string(extra) +
         ",\"data\":{\"n\":\"" + std::string(id) + "\"}}";
}

// Binary-mode attribute headers for an event with that id (source /test, type test.event).
inline HttpHeaders BinaryHeaders(std::string_view id) {
  return {{"ce-specversion", "1.0"},
          {"ce-id", std::string(id)},
          {"ce-source", "/test"},
          {"ce-type", "test.event"}};
}

inline constexpr std::string_view kStructured = "application/cloudevents+json";
inline constexpr std::string_view kBatch = "application/cloudevents-batch+json";

// A structured CloudEvent of a catalog type (source /ops, JSON `data`), posted; REQUIREs 201.
inline void PostEvent(HttpClient& client, std::string_view id, std::string_view type,
                      std::string_view subject, std::string_view data) {
  const std::string event = "{\"specversion\":\"1.0\",\"id\":\"" + std::string(id) +
                            "\",\"source\":\"/ops\",\"type\":\"" + std::string(type) +
                            "\",\"subject\":\"" + std::string(subject) +
                            "\",\"datacontenttype\":\"application/json\",\"data\":" +
                            std::string(data) + "}";
  const HttpResponse r = client.Post("/api/v1/events", event, kStructured);
  INFO(r.body, r.error);
  REQUIRE(r.status == 201);
}

// The problem type URN of a problem body.
inline std::string ProblemTypeOf(const HttpResponse& r) {
  CHECK(r.header("content-type") == "application/problem+json");
  return JsonDoc(r.body).str("/type");
}

// Appends from `count` clients (over TLS with `tls`) until annalsd stops answering; keeps
// (id -> position) of every 201.
struct Writers {
  std::mutex mu;
  std::map<std::string, uint64_t> acknowledged;  // guarded by mu
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;

  Writers(int port, int count, const std::optional<TlsClientOptions>& tls = std::nullopt) {
    for (int w = 0; w < count; ++w) {
      threads.emplace_back([this, port, w, tls] {
        HttpClient client(port, tls);
        for (int n = 0;; ++n) {
          const std::string id = "w" + std::to_string(w) + "-" + std::to_string(n);
          const HttpResponse r = client.Post("/api/v1/events", EventJson(id), kStructured);
          if (r.status == 0) return;  // the server has gone
          answered.fetch_add(1);
          if (r.status != 201) continue;
          std::lock_guard lock(mu);
          acknowledged[id] = JsonDoc(r.body).u64("/position");
        }
      });
    }
  }
  void Join() {
    for (auto& t : threads) t.join();
  }
};

// SIGTERM while 8 clients append (over TLS with `tls`): annalsd, started with `options`, exits
// 0, and after a restart with the same options every event it acknowledged is at the position
// it was acknowledged with.
inline void CheckStopKeepsAcknowledgedAppends(const AnnalsdOptions& options,
                                              const std::optional<TlsClientOptions>& tls = {}) {
  Annalsd annalsd(options);
  REQUIRE(annalsd.listening());
  Writers writers(annalsd.port(), 8, tls);
  while (writers.answered.load() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(annalsd.Stop(SIGTERM) == 0);
  writers.Join();
  REQUIRE(writers.acknowledged.size() >= 300);

  Annalsd restarted(options);
  REQUIRE(restarted.listening());
  HttpClient client(restarted.port(), tls);
  for (const auto& [id, position] : writers.acknowledged) {
    CAPTURE(id);
    const HttpResponse r = client.Get("/api/v1/events/" + std::to_string(position));
    REQUIRE(r.status == 200);
    CHECK(JsonDoc(r.body).str("/id") == id);
  }
  CHECK(HeadPosition(client) >= writers.acknowledged.size());
  CHECK(restarted.Stop(SIGTERM) == 0);
}

}  // namespace annals::testing
