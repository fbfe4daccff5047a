// Goal: the CloudEvents HTTP binding reads each content mode as the spec says: binary headers
// unquoted and percent-decoded (invalid UTF-8 refused), Content-Type as datacontenttype, the
// body as JSON, text or bytes; structured and batch through the JSON event format; and an
// event sent in binary mode equals the same event sent in structured mode (same digest).
#include <doctest/doctest.h>

#include "internal/cloudevents_http.h"

namespace annals::gateway {
namespace es = annals::eventstore;
namespace {

Request Binary(std::string content_type, std::string body,
               std::vector<Header> extra = {}) {
  Request r;
  r.method = "POST";
  r.target = "/api/v1/events";
  r.headers = {{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t.x"}};
  if (!content_type.empty()) r.headers.push_back({"content-type", content_type});
  for (auto& h : extra) r.headers.push_back(std::move(h));
  r.body = std::move(body);
  return r;
}

Request Structured(std::string content_type, std::string body) {
  Request r;
  r.method = "POST";
  r.headers = {{"content-type", std::move(content_type)}};
  r.body = std::move(body);
  return r;
}

const es::CloudEventAttributeValue& Attr(const es::CloudEvent& e, const std::string& name) {
  REQUIRE(e.attributes().count(name) == 1);
  return e.attributes().at(name);
}

TEST_CASE("header values: one quoted-string is unquoted, then one round of percent-decoding") {
  CHECK(es::DecodeAttributeHeaderValue("Euro%20%E2%82%AC%20%F0%9F%98%80") == "Euro \u20AC \U0001F600");
  CHECK(es::DecodeAttributeHeaderValue("%e2%82%ac") == "\u20AC");
  CHECK(es::DecodeAttributeHeaderValue("\"hello world\"") == "hello world");
  CHECK(es::DecodeAttributeHeaderValue("\"a\\\"b\"") == "a\"b");
  CHECK(es::DecodeAttributeHeaderValue("{\"othervalue\": 5}") == "{\"othervalue\": 5}");
  CHECK(es::DecodeAttributeHeaderValue("100%25") == "100%");
  CHECK(es::DecodeAttributeHeaderValue("%2525") == "%25");  // one round only
  CHECK_FALSE(es::DecodeAttributeHeaderValue("%C0%A0"));    // overlong UTF-8
  CHECK_FALSE(es::DecodeAttributeHeaderValue("%FF"));
  CHECK_FALSE(es::DecodeAttributeHeaderValue("50%"));
}

TEST_CASE("media types") {
  CHECK(es::MediaTypeEssence(" Application/CloudEvents+JSON ; charset=UTF-8") ==
        "application/cloudevents+json");
  CHECK(es::MediaTypeEssence("") == "");
}

TEST_CASE("binary mode: attributes from ce- headers, data by content type") {
  Request r = Binary("application/json; charset=utf-8", "{ \"message\" : \"Hello\" }\n",
                     {{"ce-time", "2018-04-05T05:56:24+02:00"},
                      {"ce-subject", "caf%C3%A9"},
                      {"ce-dataschema", "https://schemas.example/x"},
                      {"ce-comexampleextension1", "value"}});
  DecodedEvents d = DecodeEvents(&r);
  REQUIRE_FALSE(d.error);
  REQUIRE(d.events.size() == 1);
  CHECK(d.mode == ContentMode::kBinary);
  const es::CloudEvent& e = d.events[0].event;
  CHECK(e.id() == "1");
  CHECK(e.type() == "t.x");
  CHECK(Attr(e, "datacontenttype").ce_string() == "application/json; charset=utf-8");
  CHECK(Attr(e, "time").ce_timestamp().seconds() == 1522900584);
  CHECK(Attr(e, "subject").ce_string() == "caf\u00e9");
  CHECK(Attr(e, "dataschema").ce_uri() == "https://schemas.example/x");
  CHECK(Attr(e, "comexampleextension1").ce_string() == "value");
  CHECK(e.text_data() == "{\"message\":\"Hello\"}");
}

TEST_CASE("binary mode: text, bytes, no content type, no body") {
  Request text = Binary("text/plain; charset=utf-8", "Hello, \xF0\x9F\x8C\x8E!\n");
  DecodedEvents d = DecodeEvents(&text);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.text_data() == "Hello, \xF0\x9F\x8C\x8E!\n");

  Request bytes = Binary("application/octet-stream", std::string("\x00\xFF\x01", 3));
  d = DecodeEvents(&bytes);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.binary_data() == std::string("\x00\xFF\x01", 3));

  Request latin1 = Binary("text/plain; charset=iso-8859-1", "caf\xE9");
  d = DecodeEvents(&latin1);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.binary_data() == "caf\xE9");

  Request untyped_json = Binary("", " [1, 2] ");
  d = DecodeEvents(&untyped_json);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.text_data() == "[1,2]");
  CHECK(d.events[0].event.attributes().count("datacontenttype") == 0);

  Request untyped_bytes = Binary("", "not json");
  d = DecodeEvents(&untyped_bytes);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.binary_data() == "not json");

  Request empty = Binary("application/json", "");
  d = DecodeEvents(&empty);
  REQUIRE_FALSE(d.error);
  CHECK(d.events[0].event.data_case() == es::CloudEvent::DATA_NOT_SET);
}

TEST_CASE("binary mode refusals name the attribute") {
  auto refused = [](Request r) {
    DecodedEvents d = DecodeEvents(&r);
    REQUIRE(d.error);
    CHECK(d.events.empty());
    return *d.error;
  };
  BindingError e = refused(Binary("application/json", "{\"a\":", {}));
  CHECK(e.kind == ProblemKind::kInvalidEvent);
  CHECK(e.attribute == "data");
  e = refused(Binary("application/json", "{}", {{"ce-datacontenttype", "text/plain"}}));
  CHECK(e.attribute == "datacontenttype");
  e = refused(Binary("application/json", "{}", {{"ce-time", "yesterday"}}));
  CHECK(e.attribute == "time");
  e = refused(Binary("application/json", "{}", {{"ce-subject", "%FF"}}));
  CHECK(e.attribute == "subject");
  e = refused(Binary("application/json", "{}", {{"ce-my-ext", "x"}}));
  CHECK(e.attribute == "my-ext");
  e = refused(Binary("application/json", "{}", {{"ce-annalsorigin", "peer"}}));
  CHECK(e.attribute == "annalsorigin");
  e = refused(Binary("application/json", "{}", {{"ce-id", "2"}}));
  CHECK(e.attribute == "id");  // given twice
  Request no_type = Binary("application/json", "{}");
  no_type.headers.erase(no_type.headers.begin() + 3);
  e = refused(std::move(no_type));
  CHECK(e.attribute == "type");
}

TEST_CASE("content modes: structured, batch, and what is not a CloudEvent") {
  const std::string event =
      R"({"specversion":"1.0","id":"1","source":"/s","type":"t.x","data":{"message":"Hello"}})";
  Request structured = Structured("application/cloudevents+json; charset=UTF-8", event);
  DecodedEvents d = DecodeEvents(&structured);
  REQUIRE_FALSE(d.error);
  CHECK(d.mode == ContentMode::kStructured);

  Request batch = Structured("application/cloudevents-batch+json", "[" + event + "," + event + "]");
  d = DecodeEvents(&batch);
  REQUIRE_FALSE(d.error);
  CHECK(d.mode == ContentMode::kBatch);
  CHECK(d.events.size() == 2);

  Request bad_batch = Structured("application/cloudevents-batch+json", "[" + event + ",{}]");
  d = DecodeEvents(&bad_batch);
  REQUIRE(d.error);
  CHECK(d.error->index == 1u);

  for (const std::string type : {"text/plain", "application/json",
                                 "application/cloudevents+xml",
                                 "application/cloudevents+json; charset=latin1"}) {
    Request r = Structured(type, event);
    d = DecodeEvents(&r);
    REQUIRE(d.error);
    CHECK(d.error->kind == ProblemKind::kUnsupportedMediaType);
  }
}

TEST_CASE("the same event in binary and structured mode has one digest") {
  Request binary = Binary("application/json", "{ \"message\": \"Hello\" }",
                          {{"ce-time", "2018-04-05T03:56:24Z"}});
  Request structured = Structured(
      "application/cloudevents+json",
      R"({"specversion":"1.0","id":"1","source":"/s","type":"t.x","time":"2018-04-05T03:56:24Z",)"
      R"("datacontenttype":"application/json","data":{"message":"Hello"}})");
  DecodedEvents a = DecodeEvents(&binary);
  DecodedEvents b = DecodeEvents(&structured);
  REQUIRE_FALSE(a.error);
  REQUIRE_FALSE(b.error);
  CHECK(es::ContentDigest(a.events[0].event) == es::ContentDigest(b.events[0].event));
}

}  // namespace
}  // namespace annals::gateway
