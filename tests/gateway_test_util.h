// What the gateway's suites share: JSON bodies read by JSON pointer, the ledger's head over
// HTTP, and CloudEvents built as JSON text or binary-mode headers.
#pragma once

#include <doctest/doctest.h>
#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

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

// The problem type URN of a problem body.
inline std::string ProblemTypeOf(const HttpResponse& r) {
  CHECK(r.header("content-type") == "application/problem+json");
  return JsonDoc(r.body).str("/type");
}

}  // namespace annals::testing
