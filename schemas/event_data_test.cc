// Goal: the data of every domain event type is checked against its schema at append, and the
// documented examples are the tested ones. Every line of schemas/testdata/event_examples.jsonl
// (one example per catalog type, every field shown) parses and validates as a CloudEvent, is
// written back unchanged, and stands verbatim in docs/events.md. Breaking any field of any
// example (removing a required one, a value of the wrong kind, a bad enum, count, decimal, time
// or hash, an over-long string, a bad array item) is refused naming exactly that field. Unknown
// types and members the schema does not name pass.
#include "annals/schemas/event_data.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/eventstore/cloudevent.h"
#include "annals/schemas/limits.h"

namespace annals::schemas {
namespace {

namespace es = eventstore;
namespace dom = simdjson::dom;

const std::string kSourceDir = ANNALS_SOURCE_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> ExampleLines() {
  std::istringstream in(ReadFile(kSourceDir + "/schemas/testdata/event_examples.jsonl"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

es::ParsedEvent MustParse(const std::string& line) {
  es::ParseCloudEventResult result = es::ParseCloudEventJson(line);
  INFO("line: " << line);
  REQUIRE_MESSAGE(result.parsed.has_value(),
                  "refused: " << result.error.attribute << ": " << result.error.reason);
  return std::move(*result.parsed);
}

// The attribute the refusal of `line` names, or "<accepted>".
std::string RefusedAttribute(const std::string& line) {
  es::ParseCloudEventResult result = es::ParseCloudEventJson(line);
  if (result.parsed) return "<accepted>";
  CHECK_FALSE(result.error.reason.empty());
  return result.error.attribute;
}

std::string RefusedAttribute(const es::CloudEvent& event) {
  auto refusal = es::ValidateCloudEvent(event);
  if (!refusal) return "<accepted>";
  CHECK_FALSE(refusal->reason.empty());
  return refusal->attribute;
}

// An event of `type` with `data` (JSON text; empty: no data) and the required attributes.
std::string EventLine(std::string_view type, std::string_view data) {
  std::string line =
      R"({"specversion":"1.0","id":"e-1","source":"/tests","type":")" + std::string(type) + "\"";
  if (!data.empty()) line += ",\"data\":" + std::string(data);
  return line + "}";
}

// ---------------------------------------------------------------------------------------------
// Rewriting one value of a JSON document

// A path into data: member names, and "[0]" for the first item of an array.
using Steps = std::vector<std::string>;

std::string FieldName(const Steps& steps) {
  std::string field = "data";
  for (const std::string& step : steps) field += step.front() == '[' ? step : "." + step;
  return field;
}

// Writes `value` with the value at steps[depth...] replaced by `replacement` (nullopt: the
// member removed). Sets *found when the path exists.
void Rewrite(dom::element value, const Steps& steps, size_t depth,
             const std::optional<std::string>& replacement, bool* found, JsonWriter* out) {
  const bool at_end = depth + 1 == steps.size();
  if (depth < steps.size() && value.is_object()) {
    const dom::object object = value.get_object().value_unsafe();
    out->BeginObject();
    for (dom::key_value_pair member : object) {
      const bool on_path = member.key == steps[depth];
      if (on_path && at_end) {
        *found = true;
        if (replacement) out->Key(member.key).Raw(*replacement);
      } else {
        out->Key(member.key);
        Rewrite(member.value, steps, on_path ? depth + 1 : steps.size(), replacement, found, out);
      }
    }
    out->EndObject();
  } else if (depth < steps.size() && value.is_array() && steps[depth] == "[0]") {
    const dom::array array = value.get_array().value_unsafe();
    out->BeginArray();
    bool first = true;
    for (dom::element item : array) {
      if (first && at_end) {
        *found = true;
        if (replacement) out->Raw(*replacement);
      } else {
        Rewrite(item, steps, first ? depth + 1 : steps.size(), replacement, found, out);
      }
      first = false;
    }
    out->EndArray();
  } else {
    out->Raw(simdjson::minify(value));
  }
}

// `data_json` with the value at `steps` replaced (or removed); fails the test when the path is
// not there, so every field of the schema must be shown in its example.
std::string Rewritten(const std::string& data_json, const Steps& steps,
                      const std::optional<std::string>& replacement) {
  dom::parser parser;
  dom::element data;
  REQUIRE(parser.parse(data_json).get(data) == simdjson::SUCCESS);
  JsonWriter out;
  bool found = false;
  Rewrite(data, steps, 0, replacement, &found, &out);
  REQUIRE_MESSAGE(found, FieldName(steps) << " is not in the example " << data_json);
  return out.Release();
}

// ---------------------------------------------------------------------------------------------
// Breaks: for each field of a schema, values its kind refuses

struct Break {
  Steps steps;
  std::optional<std::string> value;  // nullopt: removed
  std::string field;                 // what the refusal must name
};

std::string JsonString(size_t bytes) { return "\"" + std::string(bytes, 'x') + "\""; }

// Values a field of this kind refuses (besides absence).
std::vector<std::string> BadValues(const FieldSchema& field) {
  switch (field.kind) {
    case FieldKind::kString: return {"7", "true", JsonString(field.bytes_max + 1)};
    case FieldKind::kNonEmptyString: return {"7", "\"\"", JsonString(field.bytes_max + 1)};
    case FieldKind::kEnum: return {"7", "\"bogus\"", "\"\""};
    case FieldKind::kCount: return {"\"7\"", "-1", "1.5", "true"};
    case FieldKind::kNumber: return {"\"7\"", "-1", "-0.5", "true", "[1]"};
    case FieldKind::kDecimal:
      return {"12.5",
              "\"12,50\"",
              "\"-1\"",
              "\".5\"",
              "\"1.\"",
              "\"1.2.3\"",
              "\"" + std::string(kDataDecimalBytesMax + 1, '1') + "\""};
    case FieldKind::kTime:
      return {"7", "\"yesterday\"", "\"2026-02-30T00:00:00Z\"", "\"2026-11-20T12:05:00\""};
    case FieldKind::kSha256Hex: return {"7", "\"abc\"", "\"" + std::string(64, 'A') + "\""};
    case FieldKind::kObject: return {"[]", "\"x\"", "7"};
    case FieldKind::kAnyJson: return {};
    case FieldKind::kStringArray:
    case FieldKind::kObjectArray: return {"{}", "\"x\""};
  }
  return {};
}

void CollectBreaks(std::span<const FieldSchema> fields, const Steps& at, std::vector<Break>* out) {
  for (const FieldSchema& field : fields) {
    Steps steps = at;
    steps.push_back(std::string(field.name));
    const std::string name = FieldName(steps);
    if (field.presence == Presence::kRequired) {
      out->push_back({steps, std::nullopt, name});
      out->push_back({steps, "null", name});
    }
    for (std::string& value : BadValues(field)) out->push_back({steps, std::move(value), name});
    if (field.kind == FieldKind::kStringArray || field.kind == FieldKind::kObjectArray) {
      Steps item = steps;
      item.push_back("[0]");
      out->push_back({item, "7", name + "[0]"});
      if (field.kind == FieldKind::kStringArray) {
        out->push_back({item, JsonString(field.bytes_max + 1), name + "[0]"});
      }
      CollectBreaks(field.fields, item, out);
    } else {
      CollectBreaks(field.fields, steps, out);
    }
  }
}

// ---------------------------------------------------------------------------------------------

TEST_CASE("every example parses, validates, is written back unchanged, one per catalog type") {
  const auto lines = ExampleLines();
  std::set<std::string> types;
  for (const std::string& line : lines) {
    const es::ParsedEvent parsed = MustParse(line);
    const std::string& type = parsed.event.type();
    INFO("type: " << type);
    CHECK(IsCatalogType(type));
    CHECK(types.insert(type).second);
    CHECK(parsed.event.attributes().contains("subject"));
    CHECK(parsed.event.attributes().contains("time"));
    CHECK(es::CloudEventToJson(parsed.event) == line);  // canonical: as annals writes it
    CHECK_FALSE(ValidateEventData(type, parsed.event.text_data()).has_value());
  }
  for (const EventSchema& schema : EventCatalog()) {
    CHECK_MESSAGE(types.contains(std::string(schema.type)), "no example of " << schema.type);
  }
  CHECK(types.size() == EventCatalog().size());
}

TEST_CASE("docs/events.md holds every example verbatim and a section per type") {
  const std::string docs = ReadFile(kSourceDir + "/docs/events.md");
  for (const std::string& line : ExampleLines()) {
    CHECK_MESSAGE(docs.find("\n" + line + "\n") != std::string::npos,
                  "docs/events.md lacks the example line " << line);
  }
  for (const EventSchema& schema : EventCatalog()) {
    CHECK_MESSAGE(docs.find("\n### " + std::string(schema.type) + "\n") != std::string::npos,
                  "docs/events.md has no section for " << schema.type);
  }
}

TEST_CASE("breaking any field of any example is refused naming that field") {
  size_t break_count = 0;
  for (const std::string& line : ExampleLines()) {
    const es::ParsedEvent parsed = MustParse(line);
    const EventSchema* schema = FindEventSchema(parsed.event.type());
    REQUIRE(schema != nullptr);
    std::vector<Break> breaks;
    CollectBreaks(schema->fields, {}, &breaks);
    for (const Break& b : breaks) {
      const std::string data = Rewritten(parsed.event.text_data(), b.steps, b.value);
      INFO(schema->type << " data: " << data);
      const auto error = ValidateEventData(schema->type, data);
      REQUIRE(error.has_value());
      CHECK(error->field == b.field);
      if (!b.value || *b.value == "null") CHECK(error->reason == "required");
      es::CloudEvent event = parsed.event;
      event.set_text_data(data);
      CHECK(RefusedAttribute(event) == b.field);  // through the eventstore's own validation
      ++break_count;
    }
  }
  CHECK(break_count > 500);
}

TEST_CASE("data of a catalog type is a JSON object") {
  es::CloudEvent event =
      MustParse(EventLine("registry.peer.removed.v1", R"({"peer_id":"p"})")).event;
  event.clear_text_data();
  auto refusal = es::ValidateCloudEvent(event);
  REQUIRE(refusal.has_value());
  CHECK(refusal->attribute == "data");
  CHECK(refusal->reason == "required for registry.peer.removed.v1");
  CHECK(RefusedAttribute(EventLine("registry.peer.removed.v1", "")) == "data");
  CHECK(RefusedAttribute(EventLine("registry.peer.removed.v1", "null")) == "data");
  CHECK(RefusedAttribute(EventLine("registry.peer.removed.v1", R"(["p"])")) == "data");
  CHECK(RefusedAttribute(EventLine("registry.peer.removed.v1", R"("p")")) == "data");
  CHECK(RefusedAttribute(EventLine("registry.peer.removed.v1", "7")) == "data");
  // JSON only: not under another content type, not as data_base64.
  CHECK(
      RefusedAttribute(
          R"({"specversion":"1.0","id":"e-1","source":"/tests","type":"registry.peer.removed.v1","datacontenttype":"text/plain","data":"{\"peer_id\":\"p\"}"})") ==
      "datacontenttype");
  CHECK(
      RefusedAttribute(
          R"({"specversion":"1.0","id":"e-1","source":"/tests","type":"registry.peer.removed.v1","data_base64":"e30="})") ==
      "data");
  CHECK(
      RefusedAttribute(
          R"({"specversion":"1.0","id":"e-1","source":"/tests","type":"registry.peer.removed.v1","datacontenttype":"application/cloudevents+json","data":{"peer_id":"p"}})") ==
      "<accepted>");
  const auto invalid = ValidateEventData("registry.peer.removed.v1", "{\"peer_id\":");
  REQUIRE(invalid.has_value());
  CHECK(invalid->field == "data");
}

TEST_CASE("peer.updated needs at least one of name, base_url, spiffe_id") {
  const auto only_id = ValidateEventData("registry.peer.updated.v1", R"({"peer_id":"p"})");
  REQUIRE(only_id.has_value());
  CHECK(only_id->field == "data");
  CHECK(only_id->reason == "must hold at least one of: name, base_url, spiffe_id");
  CHECK(ValidateEventData("registry.peer.updated.v1", R"({"peer_id":"p","name":null})")->field ==
        "data");
  for (const char* data : {R"({"peer_id":"p","name":"n"})", R"({"peer_id":"p","base_url":"u"})",
                           R"({"peer_id":"p","spiffe_id":"spiffe://x/y"})"}) {
    CHECK_FALSE(ValidateEventData("registry.peer.updated.v1", data).has_value());
  }
}

TEST_CASE("errors name nested fields by path") {
  const std::string skills =
      R"([{"id":"a","name":"A"},{"id":"b","name":"B","tags":["x"]},{"id":"c","description":"d"}])";
  const std::string agent =
      R"({"did":"d","name":"n","description":"","version":"1","url":"u","skills":)" + skills +
      R"(,"tags":[],"provider":{"organization":"o","url":"u"},"card":{}})";
  auto error = ValidateEventData("registry.agent.registered.v1", agent);
  REQUIRE(error.has_value());
  CHECK(error->field == "data.skills[2].name");
  CHECK(error->reason == "required");
  error = ValidateEventData("registry.agent.registered.v1",
                            R"({"did":"d","name":"n","description":"","version":"1","url":"u",)"
                            R"("skills":[],"tags":["a","b",3],"provider":{"organization":"o",)"
                            R"("url":"u"},"card":{}})");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.tags[2]");
  CHECK(error->reason == "must be a string");
  error = ValidateEventData(
      "io.ossa.agent.updated",
      R"({"agent":{"name":"n","namespace":"ns","version":"1","capabilities":[""],"trustTier":7}})");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.agent.trustTier");
}

TEST_CASE("a named member appears once; enums, counts and limits") {
  auto error = ValidateEventData("registry.peer.removed.v1", R"({"peer_id":"a","peer_id":"b"})");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.peer_id");
  CHECK(error->reason == "appears more than once");
  error = ValidateEventData("registry.license.issued.v1",
                            R"({"license_id":"l","peer_id":"p","key_sha256":")" +
                                std::string(64, 'a') + R"(","tier":"gold"})");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.tier");
  CHECK(error->reason == "must be one of: standard, enterprise");
  // Optional counts may be absent or null (their defaults are the readers' business), and any
  // count that fits 64 bits passes.
  CHECK_FALSE(ValidateEventData("registry.license.issued.v1",
                                R"({"license_id":"l","peer_id":"p","key_sha256":")" +
                                    std::string(64, 'a') +
                                    R"(","tier":"enterprise","max_agents":null})")
                  .has_value());
  CHECK_FALSE(ValidateEventData("registry.peer.sync_succeeded.v1",
                                R"({"peer_id":"p","cards_pulled":18446744073709551615})")
                  .has_value());
  CHECK_FALSE(ValidateEventData("registry.compliance.drift_detected.v1",
                                R"({"peer_id":"p","local_policy_hash":"a","peer_policy_hash":"b",)"
                                R"("divergent_agents":3,"threshold":0.05})")
                  .has_value());  // a threshold may be a fraction; a count may not
  error = ValidateEventData("registry.compliance.drift_detected.v1",
                            R"({"peer_id":"p","local_policy_hash":"a","peer_policy_hash":"b",)"
                            R"("divergent_agents":3.0,"threshold":2})");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.divergent_agents");
  CHECK_FALSE(ValidateEventData("registry.compliance.drift_scan_requested.v1",
                                R"({"requested_by":"operator"})")
                  .has_value());
  // Limits: the longest string passes, one byte more does not; likewise array items.
  const std::string longest_id(kDataIdBytesMax, 'p');
  CHECK_FALSE(ValidateEventData("registry.peer.removed.v1", R"({"peer_id":")" + longest_id + "\"}")
                  .has_value());
  error = ValidateEventData("registry.peer.removed.v1", R"({"peer_id":")" + longest_id + "p\"}");
  REQUIRE(error.has_value());
  CHECK(error->reason == "is 257 bytes long; at most 256 bytes are allowed");
  std::string tags = "[\"t\"";
  for (size_t i = 1; i < kDataArrayItemsMax; ++i) tags += ",\"t\"";
  const std::string card = R"({"name":"r","capabilities":)";
  CHECK_FALSE(ValidateEventData("registry.card.edited.v1", card + tags + "]}").has_value());
  error = ValidateEventData("registry.card.edited.v1", card + tags + ",\"t\"]}");
  REQUIRE(error.has_value());
  CHECK(error->field == "data.capabilities");
  // Times with any offset; decimals without a fraction.
  CHECK_FALSE(ValidateEventData("registry.tokens.transferred.v1",
                                R"({"transfer_id":"t","from_agent":"a","to_agent":"b",)"
                                R"("amount":"12","fee":"0.0"})")
                  .has_value());
}

TEST_CASE("unknown types and unknown members pass") {
  CHECK_FALSE(IsCatalogType("com.example.other"));
  CHECK_FALSE(IsCatalogType("registry.peer.added.v2"));  // a new version is a new type
  CHECK_FALSE(IsCatalogType(""));
  CHECK(FindEventSchema("registry.peer.added.v2") == nullptr);
  CHECK_FALSE(ValidateEventData("registry.peer.added.v2", "{}").has_value());
  CHECK_FALSE(ValidateEventData("com.example.other", "not json").has_value());
  CHECK(RefusedAttribute(EventLine("registry.peer.added.v2", "")) == "<accepted>");
  CHECK(RefusedAttribute(EventLine("com.example.other", R"([1,2])")) == "<accepted>");
  CHECK(
      RefusedAttribute(
          R"({"specversion":"1.0","id":"e-1","source":"/tests","type":"com.example.other","data_base64":"AAAA"})") ==
      "<accepted>");
  CHECK(IsCatalogType("registry.card.edited.v1"));
  CHECK(IsCatalogType("io.ossa.agent.published"));
  // Extra members at every level of every example.
  for (const std::string& line : ExampleLines()) {
    const es::ParsedEvent parsed = MustParse(line);
    std::string data = parsed.event.text_data();
    data.insert(1, R"("x_new_field":{"nested":[1,null,"x"]},)");
    CHECK_FALSE(ValidateEventData(parsed.event.type(), data).has_value());
  }
  CHECK_FALSE(ValidateEventData("registry.agent.removed.v1",
                                R"({"did":"d","skills":7,"reason":{}})")
                  .has_value());  // names the schema of another type does not know are extra
  CHECK_FALSE(ValidateEventData("io.ossa.agent.deprecated",
                                R"({"agent":{"name":"n","namespace":"ns","version":"1",)"
                                R"("artifactType":"application/vnd.ossa.agent.manifest.v1+json"},)"
                                R"("signature":{"algorithm":"ed25519"}})")
                  .has_value());
}

}  // namespace
}  // namespace annals::schemas
