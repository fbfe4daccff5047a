// Goal: the CloudEvent layer accepts every CloudEvents 1.0.2 conformance event in the JSON event
// format and gives it back unchanged through CloudEventToJson (same canonical bytes, same
// attributes and data); refuses each malformed event naming the attribute at fault; parses
// RFC 3339 times with offsets and fractions; and gives equal events equal digests whatever
// their member order or JSON whitespace.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/eventstore/limits.h"

namespace annals::eventstore {
namespace {

// The four required members, for building events in tests.
constexpr std::string_view kRequired =
    R"("specversion":"1.0","id":"e-1","source":"/tests","type":"com.example.test")";

// An event object with the required members and `extra` members (a JSON fragment).
std::string EventJson(std::string_view extra) {
  std::string json = "{" + std::string(kRequired);
  if (!extra.empty()) json += "," + std::string(extra);
  return json + "}";
}

ParsedEvent MustParse(std::string_view json) {
  ParseCloudEventResult result = ParseCloudEventJson(json);
  INFO("json: " << json);
  REQUIRE_MESSAGE(result.parsed.has_value(),
                  "refused: " << result.error.attribute << ": " << result.error.reason);
  return std::move(*result.parsed);
}

// The attribute the refusal names, or "<accepted>".
std::string RefusedAttribute(std::string_view json) {
  ParseCloudEventResult result = ParseCloudEventJson(json);
  if (result.parsed) return "<accepted>";
  CHECK_FALSE(result.error.reason.empty());
  return result.error.attribute;
}

std::string RefusedAttribute(const CloudEvent& event) {
  auto refusal = ValidateCloudEvent(event);
  if (!refusal) return "<accepted>";
  CHECK_FALSE(refusal->reason.empty());
  return refusal->attribute;
}

const CloudEventAttributeValue& Attribute(const CloudEvent& event, const std::string& name) {
  REQUIRE_MESSAGE(event.attributes().contains(name), "no attribute " << name);
  return event.attributes().at(name);
}

// Writes the parsed event back (with its ledger fields) and parses that: the same event and
// ledger fields come back, and writing is stable.
void CheckRoundTrip(const ParsedEvent& parsed) {
  const LedgerExtensions ledger{parsed.stream, parsed.idempotency_key, parsed.origin};
  const std::string json = CloudEventToJson(parsed.event, &ledger);
  INFO("written: " << json);
  const ParsedEvent again = MustParse(json);
  CHECK(CanonicalBytes(again.event) == CanonicalBytes(parsed.event));
  CHECK(ContentDigest(again.event) == ContentDigest(parsed.event));
  CHECK(again.stream == parsed.stream);
  CHECK(again.idempotency_key == parsed.idempotency_key);
  CHECK(again.origin == parsed.origin);
  CHECK(CloudEventToJson(again.event, &ledger) == json);
}

// One conformance case (yaml/v1.yaml, yaml/v1.0/v1_minimum.yaml) as structured-mode JSON, with
// what the event must hold. YAML block scalars ("|") end in a newline, which text data keeps
// and JSON data loses to minification.
struct ConformanceCase {
  std::string_view name;
  std::string_view json;
  std::string_view id;
  std::string_view source;
  std::string_view type;
  std::string_view datacontenttype;  // empty: absent
  std::string_view text_data;
};

constexpr std::string_view kConformanceSource =
    "//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml";

const std::vector<ConformanceCase>& ConformanceCases() {
  static const std::vector<ConformanceCase> cases = {
      // v1.yaml, binary mode: the headers become members; no content type, so the body is JSON.
      // The extension comexampleextension2 is a header, so a string (without YAML's newline,
      // which a header cannot hold).
      {"v1 binary", R"({"specversion":"1.0","type":"com.example.someevent",
          "time":"2018-04-05T03:56:24Z","id":"4321-4321-4321","source":"/mycontext/subcontext",
          "comexampleextension1":"value","comexampleextension2":"{\"othervalue\": 5}",
          "data":{"world":"hello"}})",
       "4321-4321-4321", "/mycontext/subcontext", "com.example.someevent", "",
       R"({"world":"hello"})"},
      // v1.yaml, structured mode: the same event as a client would send it, laid out by hand.
      {"v1 structured", R"({
          "specversion" : "1.0",
          "type" : "com.example.someevent",
          "time" : "2018-04-05T03:56:24Z",
          "id" : "4321-4321-4321",
          "source" : "/mycontext/subcontext",
          "comexampleextension1" : "value",
          "comexampleextension2" : "{\"othervalue\": 5}",
          "data" : { "world" : "hello" }
        })",
       "4321-4321-4321", "/mycontext/subcontext", "com.example.someevent", "",
       R"({"world":"hello"})"},
      {"minimum text us-ascii", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0001",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"text/plain; charset=us-ascii","data":"Hello, World!\n"})",
       "conformance-0001", kConformanceSource, "io.cloudevents.minimum",
       "text/plain; charset=us-ascii", "Hello, World!\n"},
      {"minimum text utf-8", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0002",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"text/plain; charset=utf-8","data":"Hello, 🌎!\n"})",
       "conformance-0002", kConformanceSource, "io.cloudevents.minimum",
       "text/plain; charset=utf-8", "Hello, 🌎!\n"},
      {"minimum json string", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0003",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"application/json; charset=utf-8","data":"Hello, 🌎!"})",
       "conformance-0003", kConformanceSource, "io.cloudevents.minimum",
       "application/json; charset=utf-8", R"("Hello, 🌎!")"},
      {"minimum json object", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0004",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"application/json; charset=utf-8","data":{"msg":"Hello, 🌎!"}})",
       "conformance-0004", kConformanceSource, "io.cloudevents.minimum",
       "application/json; charset=utf-8", R"({"msg":"Hello, 🌎!"})"},
      {"minimum json array", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0005",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"application/json; charset=utf-8","data":["Hello","🌎!"]})",
       "conformance-0005", kConformanceSource, "io.cloudevents.minimum",
       "application/json; charset=utf-8", R"(["Hello","🌎!"])"},
      {"minimum xml", R"({"specversion":"1.0","type":"io.cloudevents.minimum",
          "id":"conformance-0006",
          "source":"//github.com/cloudevents/cloudeventsconformance/yaml/v1.yaml",
          "datacontenttype":"application/xml; charset=utf-8","data":"<msg>Hello, 🌎!</msg>\n"})",
       "conformance-0006", kConformanceSource, "io.cloudevents.minimum",
       "application/xml; charset=utf-8", "<msg>Hello, 🌎!</msg>\n"},
  };
  return cases;
}

TEST_CASE("conformance events are accepted and round-trip") {
  for (const ConformanceCase& c : ConformanceCases()) {
    CAPTURE(c.name);
    const ParsedEvent parsed = MustParse(c.json);
    const CloudEvent& event = parsed.event;
    CHECK(event.spec_version() == "1.0");
    CHECK(event.id() == c.id);
    CHECK(event.source() == c.source);
    CHECK(event.type() == c.type);
    CHECK(event.text_data() == c.text_data);
    if (c.datacontenttype.empty()) {
      CHECK_FALSE(event.attributes().contains("datacontenttype"));
    } else {
      CHECK(Attribute(event, "datacontenttype").ce_string() == c.datacontenttype);
    }
    CheckRoundTrip(parsed);
  }
}

TEST_CASE("v1.yaml attributes: time and extensions keep their values and types") {
  const ParsedEvent parsed = MustParse(ConformanceCases()[0].json);
  const CloudEvent& event = parsed.event;
  CHECK(event.attributes_size() == 3);
  CHECK(Attribute(event, "time").ce_timestamp().seconds() == 1522900584);
  CHECK(Attribute(event, "time").ce_timestamp().nanos() == 0);
  CHECK(Attribute(event, "comexampleextension1").ce_string() == "value");
  CHECK(Attribute(event, "comexampleextension2").ce_string() == R"({"othervalue": 5})");
  CHECK(CloudEventToJson(event) ==
        R"({"specversion":"1.0","id":"4321-4321-4321","source":"/mycontext/subcontext",)"
        R"("type":"com.example.someevent","comexampleextension1":"value",)"
        R"("comexampleextension2":"{\"othervalue\": 5}","time":"2018-04-05T03:56:24Z",)"
        R"("data":{"world":"hello"}})");
  // Both v1.yaml modes describe one event.
  CHECK(ContentDigest(event) == ContentDigest(MustParse(ConformanceCases()[1].json).event));
}

TEST_CASE("optional attributes and extension kinds") {
  const ParsedEvent parsed = MustParse(EventJson(
      R"("subject":"orders/7","dataschema":"https://example.com/schema.json#/order",)"
      R"("datacontenttype":"application/cloudevents+json","count":-2147483648,"max":2147483647,)"
      R"("flag":true,"note":"","data":{"a":[1,2.5,null,true]})"));
  const CloudEvent& event = parsed.event;
  CHECK(Attribute(event, "subject").ce_string() == "orders/7");
  CHECK(Attribute(event, "dataschema").ce_uri() == "https://example.com/schema.json#/order");
  CHECK(Attribute(event, "count").ce_integer() == -2147483648);
  CHECK(Attribute(event, "max").ce_integer() == 2147483647);
  CHECK(Attribute(event, "flag").ce_boolean());
  CHECK(Attribute(event, "note").ce_string().empty());
  CHECK(event.text_data() == R"({"a":[1,2.5,null,true]})");
  CheckRoundTrip(parsed);
}

TEST_CASE("data handling by content type") {
  SUBCASE("JSON string data keeps its quotes") {
    const ParsedEvent parsed = MustParse(EventJson(R"("data":"Hello")"));
    CHECK(parsed.event.text_data() == R"("Hello")");
    CHECK(CloudEventToJson(parsed.event).ends_with(R"("data":"Hello"})"));
    CheckRoundTrip(parsed);
  }
  SUBCASE("JSON scalars and escapes are kept as JSON text") {
    CHECK(MustParse(EventJson(R"("data": 42 )")).event.text_data() == "42");
    CHECK(MustParse(EventJson(R"("data":false)")).event.text_data() == "false");
    const ParsedEvent parsed = MustParse(EventJson(R"("data":{"k" : "a \"b\" \u00e9\n"})"));
    CHECK(parsed.event.text_data() == R"({"k":"a \"b\" \u00e9\n"})");
    CheckRoundTrip(parsed);
  }
  SUBCASE("text data is unescaped and written back as a JSON string") {
    const ParsedEvent parsed = MustParse(
        EventJson(R"("datacontenttype":"text/plain","data":"line \"1\"\n\ttab \u00e9")"));
    CHECK(parsed.event.text_data() == "line \"1\"\n\ttab \xC3\xA9");
    CheckRoundTrip(parsed);
  }
  SUBCASE("non-string data under a non-JSON type is kept as minified JSON text") {
    const ParsedEvent parsed =
        MustParse(EventJson(R"("datacontenttype":"text/plain","data":{ "a" : 1 })"));
    CHECK(parsed.event.text_data() == R"({"a":1})");
    CHECK(CloudEventToJson(parsed.event).ends_with(R"("data":"{\"a\":1}"})"));
    CheckRoundTrip(parsed);
  }
  SUBCASE("data_base64 becomes binary data") {
    const ParsedEvent parsed = MustParse(
        EventJson(R"("datacontenttype":"application/octet-stream","data_base64":"AAEC/w==")"));
    CHECK(parsed.event.binary_data() == std::string("\x00\x01\x02\xff", 4));
    CHECK(CloudEventToJson(parsed.event).ends_with(R"("data_base64":"AAEC/w=="})"));
    CheckRoundTrip(parsed);
    for (std::string_view text : {"", "QQ==", "QUI=", "QUJD", "QUJDRA=="}) {
      CAPTURE(text);
      CheckRoundTrip(MustParse(EventJson(R"("data_base64":")" + std::string(text) + "\"")));
    }
  }
  SUBCASE("empty text data is data, and null is no data") {
    const ParsedEvent empty = MustParse(EventJson(R"("datacontenttype":"text/plain","data":"")"));
    CHECK(empty.event.has_text_data());
    CheckRoundTrip(empty);
    const ParsedEvent none = MustParse(EventJson(R"("data":null,"subject":null,"ext":null)"));
    CHECK(none.event.data_case() == CloudEvent::DATA_NOT_SET);
    CHECK(none.event.attributes().empty());
    CheckRoundTrip(none);
  }
}

// One malformed event and the attribute its refusal must name.
struct MalformedCase {
  std::string name;
  std::string json;
  std::string attribute;
};

std::vector<MalformedCase> MalformedCases() {
  const std::string long_name(kExtensionNameBytesMax + 1, 'x');
  const std::string max_name(kExtensionNameBytesMax, 'x');
  return {
      {"missing id", R"({"specversion":"1.0","source":"/s","type":"t"})", "id"},
      {"missing source", R"({"specversion":"1.0","id":"1","type":"t"})", "source"},
      {"missing type", R"({"specversion":"1.0","id":"1","source":"/s"})", "type"},
      {"missing specversion", R"({"id":"1","source":"/s","type":"t"})", "specversion"},
      {"null id", R"({"specversion":"1.0","id":null,"source":"/s","type":"t"})", "id"},
      {"wrong specversion", R"({"specversion":"0.3","id":"1","source":"/s","type":"t"})",
       "specversion"},
      {"numeric specversion", R"({"specversion":1.0,"id":"1","source":"/s","type":"t"})",
       "specversion"},
      {"empty id", R"({"specversion":"1.0","id":"","source":"/s","type":"t"})", "id"},
      {"numeric id", R"({"specversion":"1.0","id":7,"source":"/s","type":"t"})", "id"},
      {"oversized id",
       R"({"specversion":"1.0","id":")" + std::string(kIdBytesMax + 1, 'i') +
           R"(","source":"/s","type":"t"})",
       "id"},
      {"control character in id",
       R"({"specversion":"1.0","id":"a\u0001","source":"/s","type":"t"})", "id"},
      {"noncharacter in type", R"({"specversion":"1.0","id":"1","source":"/s","type":"\uFFFE"})",
       "type"},
      {"space in source", R"({"specversion":"1.0","id":"1","source":"/a b","type":"t"})", "source"},
      {"bad percent-encoding in source",
       R"({"specversion":"1.0","id":"1","source":"/a%zz","type":"t"})", "source"},
      {"bad scheme in source", R"({"specversion":"1.0","id":"1","source":"1a:b","type":"t"})",
       "source"},
      {"invalid date", EventJson(R"("time":"2018-02-30T00:00:00Z")"), "time"},
      {"not a leap year", EventJson(R"("time":"2019-02-29T00:00:00Z")"), "time"},
      {"time without offset", EventJson(R"("time":"2018-04-05T03:56:24")"), "time"},
      {"time with a space", EventJson(R"("time":"2018-04-05 03:56:24Z")"), "time"},
      {"hour 24", EventJson(R"("time":"2018-04-05T24:00:00Z")"), "time"},
      {"leap second", EventJson(R"("time":"2016-12-31T23:59:60Z")"), "time"},
      {"ten fraction digits", EventJson(R"("time":"2018-04-05T03:56:24.1234567890Z")"), "time"},
      {"empty fraction", EventJson(R"("time":"2018-04-05T03:56:24.Z")"), "time"},
      {"bad offset", EventJson(R"("time":"2018-04-05T03:56:24+0200")"), "time"},
      {"before year 1 in UTC", EventJson(R"("time":"0001-01-01T00:00:00+01:00")"), "time"},
      {"numeric time", EventJson(R"("time":1522900584)"), "time"},
      {"upper-case extension name", EventJson(R"("comExample":"x")"), "comExample"},
      {"extension name with a dash", EventJson(R"("com-example":"x")"), "com-example"},
      {"too long extension name", EventJson("\"" + long_name + "\":\"x\""), long_name},
      {"float extension", EventJson(R"("ext":1.5)"), "ext"},
      {"exponent extension", EventJson(R"("ext":1e3)"), "ext"},
      {"object extension", EventJson(R"("ext":{"a":1})"), "ext"},
      {"array extension", EventJson(R"("ext":[1])"), "ext"},
      {"integer above int32", EventJson(R"("ext":2147483648)"), "ext"},
      {"integer below int32", EventJson(R"("ext":-2147483649)"), "ext"},
      {"integer above int64", EventJson(R"("ext":18446744073709551616)"), "ext"},
      {"reserved extension", EventJson(R"("annalsfoo":"x")"), "annalsfoo"},
      {"ledger extension not a string", EventJson(R"("annalsstream":5)"), "annalsstream"},
      {"empty ledger extension", EventJson(R"("annalskey":"")"), "annalskey"},
      {"relative dataschema", EventJson(R"("dataschema":"/schema.json")"), "dataschema"},
      {"datacontenttype not a media type", EventJson(R"("datacontenttype":"json")"),
       "datacontenttype"},
      {"datacontenttype with a broken parameter",
       EventJson(R"("datacontenttype":"text/plain; charset")"), "datacontenttype"},
      {"empty subject", EventJson(R"("subject":"")"), "subject"},
      {"both data and data_base64", EventJson(R"("data":{},"data_base64":"AA==")"),
       "data_base64"},
      {"base64 of bad length", EventJson(R"("data_base64":"abc")"), "data_base64"},
      {"base64 with inner padding", EventJson(R"("data_base64":"ab=c")"), "data_base64"},
      {"base64 with non-zero padding bits", EventJson(R"("data_base64":"QR==")"), "data_base64"},
      {"base64 with a newline", EventJson(R"("data_base64":"QUJD\nRA==")"), "data_base64"},
      {"invalid JSON data", EventJson(R"("data":{"a":[1 2]})"), "data"},
      {"invalid JSON literal in data", EventJson(R"("data":tru)"), "data"},
      {"invalid literal in an extension", EventJson(R"("ext":tru)"), "json"},
      {"invalid null", EventJson(R"("ext":nul)"), "json"},
      {"invalid escape", EventJson(R"("ext":"\q")"), "json"},
      {"lone surrogate in text data",
       EventJson(R"("datacontenttype":"text/plain","data":"\ud800")"), "json"},
      {"data under an attribute name", EventJson(R"("id":"again")"), "id"},
      {"duplicate member spelled with an escape", EventJson(R"("\u0069d":"again")"), "id"},
      {"duplicate extension", EventJson(R"("ext":"a","ext":"b")"), "ext"},
      {"syntax error", R"({"specversion":"1.0","id": })", "json"},
      {"trailing comma", EventJson(R"("ext":"a",)"), "json"},
      {"text after the object", EventJson("") + " {}", "json"},
      {"unterminated object", R"({"specversion":"1.0")", "json"},
      {"empty input", "", "json"},
      {"top-level array", "[" + EventJson("") + "]", "json"},
      {"top-level string", R"("event")", "json"},
      {"invalid UTF-8", EventJson("\"ext\":\"\xC3\x28\""), "json"},
      {"max extension name is fine: sanity of the table", EventJson("\"" + max_name + "\":1"),
       "<accepted>"},
  };
}

TEST_CASE("malformed events are refused naming their attribute") {
  for (const MalformedCase& c : MalformedCases()) {
    CAPTURE(c.name);
    CAPTURE(c.json);
    CHECK(RefusedAttribute(c.json) == c.attribute);
  }
}

TEST_CASE("too many attributes are refused") {
  std::string extra;
  for (size_t i = 0; i <= kAttributesMax; ++i) {
    if (i > 0) extra += ",";
    extra += "\"x" + std::to_string(i) + "\":1";
  }
  CHECK(RefusedAttribute(EventJson(extra)) == "x64");
}

CloudEvent ValidEvent() {
  CloudEvent event;
  event.set_spec_version("1.0");
  event.set_id("e-1");
  event.set_source("https://example.com/source");
  event.set_type("com.example.test");
  return event;
}

TEST_CASE("ValidateCloudEvent on events built in code") {
  CHECK(RefusedAttribute(ValidEvent()) == "<accepted>");

  SUBCASE("text data under a JSON content type must be JSON") {
    CloudEvent event = ValidEvent();
    event.set_text_data("not json");
    CHECK(RefusedAttribute(event) == "data");
    (*event.mutable_attributes())["datacontenttype"].set_ce_string("application/json");
    CHECK(RefusedAttribute(event) == "data");
    (*event.mutable_attributes())["datacontenttype"].set_ce_string("text/plain");
    CHECK(RefusedAttribute(event) == "<accepted>");
  }
  SUBCASE("a domain event's data is JSON: its schema check parses it, once") {
    CloudEvent event = ValidEvent();
    event.set_type("registry.peer.removed.v1");
    event.set_text_data(R"({"peer_id":"p1"})");
    CHECK(RefusedAttribute(event) == "<accepted>");
    for (const char* broken : {"not json", R"({"peer_id":)", "{\"peer_id\":\"p1\"}}"}) {
      CAPTURE(broken);
      event.set_text_data(broken);
      CHECK(RefusedAttribute(event) == "data");
      (*event.mutable_attributes())["datacontenttype"].set_ce_string("application/json");
      CHECK(RefusedAttribute(event) == "data");
      event.mutable_attributes()->erase("datacontenttype");
    }
  }
  SUBCASE("protobuf data is not supported") {
    CloudEvent event = ValidEvent();
    event.mutable_proto_data()->set_type_url("type.googleapis.com/x");
    CHECK(RefusedAttribute(event) == "data");
  }
  SUBCASE("context attributes must have their kind") {
    CloudEvent event = ValidEvent();
    (*event.mutable_attributes())["time"].set_ce_string("2018-04-05T03:56:24Z");
    CHECK(RefusedAttribute(event) == "time");
    event = ValidEvent();
    (*event.mutable_attributes())["dataschema"].set_ce_uri_ref("/relative");
    CHECK(RefusedAttribute(event) == "dataschema");
  }
  SUBCASE("required attributes are fields, not attributes") {
    CloudEvent event = ValidEvent();
    (*event.mutable_attributes())["id"].set_ce_string("x");
    CHECK(RefusedAttribute(event) == "id");
  }
  SUBCASE("an attribute must have a value") {
    CloudEvent event = ValidEvent();
    (*event.mutable_attributes())["ext"];
    CHECK(RefusedAttribute(event) == "ext");
  }
  SUBCASE("timestamps must be in range") {
    CloudEvent event = ValidEvent();
    auto* time = (*event.mutable_attributes())["time"].mutable_ce_timestamp();
    time->set_seconds(1);
    time->set_nanos(1000000000);
    CHECK(RefusedAttribute(event) == "time");
  }
  SUBCASE("extension value sizes are limited") {
    CloudEvent event = ValidEvent();
    const std::string too_long(kAttributeValueBytesMax + 1, 'b');
    (*event.mutable_attributes())["ext"].set_ce_bytes(too_long);
    CHECK(RefusedAttribute(event) == "ext");
  }
  SUBCASE("unknown protobuf fields are refused") {
    CloudEvent event = ValidEvent();
    event.GetReflection()->MutableUnknownFields(&event)->AddVarint(99, 1);
    CHECK(RefusedAttribute(event) == "event");
  }
}

TEST_CASE("every attribute kind is written in the JSON event format") {
  CloudEvent event = ValidEvent();
  auto& attributes = *event.mutable_attributes();
  attributes["ref"].set_ce_uri_ref("../x?y=%20");
  attributes["uri"].set_ce_uri("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66");
  attributes["bin"].set_ce_bytes("\x01\x02\x03");
  attributes["when"].mutable_ce_timestamp()->set_seconds(0);
  attributes["when"].mutable_ce_timestamp()->set_nanos(120000);
  attributes["num"].set_ce_integer(-5);
  attributes["yes"].set_ce_boolean(false);
  REQUIRE(RefusedAttribute(event) == "<accepted>");
  CHECK(CloudEventToJson(event) ==
        R"({"specversion":"1.0","id":"e-1","source":"https://example.com/source",)"
        R"("type":"com.example.test","bin":"AQID","num":-5,"ref":"../x?y=%20",)"
        R"("uri":"urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",)"
        R"("when":"1970-01-01T00:00:00.00012Z","yes":false})");
}

TEST_CASE("WriteCloudEventMembers writes into an open object") {
  JsonWriter out;
  out.BeginObject().Member("position", uint64_t{7});
  WriteCloudEventMembers(MustParse(EventJson(R"("data":[1])")).event, &out);
  out.EndObject();
  CHECK(out.str() == R"({"position":7,"specversion":"1.0","id":"e-1","source":"/tests",)"
                     R"("type":"com.example.test","data":[1]})");
}

// The Timestamp the event's time member parses to.
google::protobuf::Timestamp ParsedTime(std::string_view time) {
  const ParsedEvent parsed = MustParse(EventJson(R"("time":")" + std::string(time) + "\""));
  return Attribute(parsed.event, "time").ce_timestamp();
}

// How the event's time member is written back.
std::string WrittenTime(std::string_view time) {
  const std::string json = CloudEventToJson(
      MustParse(EventJson(R"("time":")" + std::string(time) + "\"")).event);
  const size_t begin = json.find(R"("time":")") + 8;
  return json.substr(begin, json.find('"', begin) - begin);
}

TEST_CASE("RFC 3339 times: offsets, fractions and range") {
  constexpr int64_t kUtc = 1522900584;  // 2018-04-05T03:56:24Z
  CHECK(ParsedTime("2018-04-05T03:56:24Z").seconds() == kUtc);
  CHECK(ParsedTime("2018-04-05t03:56:24z").seconds() == kUtc);
  CHECK(ParsedTime("2018-04-05T05:56:24+02:00").seconds() == kUtc);
  CHECK(ParsedTime("2018-04-04T22:26:24-05:30").seconds() == kUtc);
  CHECK(ParsedTime("2018-04-05T03:56:24-00:00").seconds() == kUtc);
  CHECK(ParsedTime("2018-04-05T03:56:24.5Z").nanos() == 500000000);
  CHECK(ParsedTime("2018-04-05T03:56:24.000000001Z").nanos() == 1);
  CHECK(ParsedTime("2018-04-05T03:56:24.123456789+01:00").nanos() == 123456789);
  CHECK(ParsedTime("2020-02-29T00:00:00Z").seconds() == 1582934400);
  CHECK(ParsedTime("1969-12-31T23:59:59.9Z").seconds() == -1);
  CHECK(ParsedTime("0001-01-01T00:00:00Z").seconds() == -62135596800);
  CHECK(ParsedTime("9999-12-31T23:59:59.999999999Z").seconds() == 253402300799);

  // Written back in UTC, the fraction only when there is one, without trailing zeros.
  CHECK(WrittenTime("2018-04-05T05:56:24+02:00") == "2018-04-05T03:56:24Z");
  CHECK(WrittenTime("2018-04-05T03:56:24.5Z") == "2018-04-05T03:56:24.5Z");
  CHECK(WrittenTime("2018-04-05T03:56:24.0Z") == "2018-04-05T03:56:24Z");
  CHECK(WrittenTime("2018-04-05T03:56:24.1234Z") == "2018-04-05T03:56:24.1234Z");
  CHECK(WrittenTime("2018-04-05T03:56:24.1234567Z") == "2018-04-05T03:56:24.1234567Z");
  CHECK(WrittenTime("1969-12-31T23:59:59.9Z") == "1969-12-31T23:59:59.9Z");
  CHECK(WrittenTime("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z");
  CHECK(WrittenTime("9999-12-31T23:59:59.999999999Z") == "9999-12-31T23:59:59.999999999Z");
}

TEST_CASE("IsJsonContentType") {
  for (std::string_view json_type :
       {"", " ", "application/json", "APPLICATION/JSON", "application/json; charset=utf-8",
        "application/json;charset=utf-8", "text/json", "application/cloudevents+json",
        "application/vnd.example+JSON; v=2", " application/json ",
        "application/json-patch+json"}) {
    CAPTURE(json_type);
    CHECK(IsJsonContentType(json_type));
  }
  for (std::string_view other :
       {"text/plain", "application/xml", "application/jsonx", "application/json-seq",
        "application/octet-stream", "json", "text/plain; note=application/json"}) {
    CAPTURE(other);
    CHECK_FALSE(IsJsonContentType(other));
  }
}

TEST_CASE("equal events have equal digests whatever their JSON layout") {
  const CloudEvent a = MustParse(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "zext":"z","aext":7,"time":"2018-04-05T05:56:24+02:00","data":{"k":[1, 2],"m":"x y"}})")
                           .event;
  const CloudEvent b = MustParse(R"({ "data" : { "k" : [ 1 ,
      2 ] , "m" : "x y" } , "aext" : 7, "time":"2018-04-05T03:56:24Z", "type" : "t",
      "zext" : "z", "source":"/s", "id" : "1", "specversion" : "1.0" })")
                           .event;
  CHECK(CanonicalBytes(a) == CanonicalBytes(b));
  CHECK(ContentDigest(a) == ContentDigest(b));
  CHECK(ContentDigest(a) == Sha256(CanonicalBytes(a)));
  CHECK(ContentDigest(a).size() == kSha256Size);

  // Any difference in attributes or data changes the digest.
  const CloudEvent c = MustParse(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "zext":"z","aext":7,"time":"2018-04-05T03:56:24Z","data":{"k":[1,2],"m":"x  y"}})")
                           .event;
  const CloudEvent d = MustParse(R"({"specversion":"1.0","id":"1","source":"/s","type":"t",
      "zext":"z","aext":"7","time":"2018-04-05T03:56:24Z","data":{"k":[1,2],"m":"x y"}})")
                           .event;
  CHECK(ContentDigest(a) != ContentDigest(c));
  CHECK(ContentDigest(a) != ContentDigest(d));
}

TEST_CASE("reserved ledger extensions are extracted and written back") {
  const ParsedEvent parsed = MustParse(EventJson(
      R"("annalsstream":"orders-7","annalskey":"client-key-1","annalsorigin":"eu-west",)"
      R"("ext":"kept")"));
  CHECK(parsed.stream == "orders-7");
  CHECK(parsed.idempotency_key == "client-key-1");
  CHECK(parsed.origin == "eu-west");
  CHECK(parsed.event.attributes_size() == 1);
  CHECK(Attribute(parsed.event, "ext").ce_string() == "kept");
  CheckRoundTrip(parsed);

  // Without ledger fields, no reserved member is written; absent fields stay empty.
  CHECK(CloudEventToJson(parsed.event).find("annals") == std::string::npos);
  const LedgerExtensions stream_only{"orders-7", {}, {}};
  const ParsedEvent again = MustParse(CloudEventToJson(parsed.event, &stream_only));
  CHECK(again.stream == "orders-7");
  CHECK(again.idempotency_key.empty());
  CHECK(again.origin.empty());
}

TEST_CASE("batches") {
  const std::string good = EventJson("");
  const std::string bad = R"({"specversion":"1.0","id":"2","source":"/s"})";

  const ParseBatchResult two = ParseCloudEventBatchJson("[" + good + ", " + good + "]");
  CHECK(two.ok);
  CHECK(two.events.size() == 2);

  const ParseBatchResult empty = ParseCloudEventBatchJson(" [ ] ");
  CHECK(empty.ok);
  CHECK(empty.events.empty());

  const ParseBatchResult second_bad = ParseCloudEventBatchJson("[" + good + "," + bad + "]");
  CHECK_FALSE(second_bad.ok);
  CHECK(second_bad.bad_index == 1);
  CHECK(second_bad.error.attribute == "type");
  CHECK(second_bad.events.empty());

  const ParseBatchResult not_object = ParseCloudEventBatchJson("[" + good + ",3]");
  CHECK_FALSE(not_object.ok);
  CHECK(not_object.bad_index == 1);
  CHECK(not_object.error.attribute == "json");

  const ParseBatchResult not_array = ParseCloudEventBatchJson(good);
  CHECK_FALSE(not_array.ok);
  CHECK(not_array.error.attribute == "json");

  const ParseBatchResult broken = ParseCloudEventBatchJson("[" + good + ",");
  CHECK_FALSE(broken.ok);
  CHECK(broken.error.attribute == "json");

  std::string too_many = "[";
  for (size_t i = 0; i <= kBatchEventsMax; ++i) too_many += (i ? "," : "") + good;
  const ParseBatchResult over = ParseCloudEventBatchJson(too_many + "]");
  CHECK_FALSE(over.ok);
  CHECK(over.bad_index == kBatchEventsMax);
}

TEST_CASE("syntax errors carry simdjson's message and a byte offset") {
  const ParseCloudEventResult result = ParseCloudEventJson(R"({"id":"1",})");
  REQUIRE_FALSE(result.parsed);
  CHECK(result.error.attribute == "json");
  CHECK(result.error.reason.find("byte") != std::string::npos);
}

}  // namespace
}  // namespace annals::eventstore
