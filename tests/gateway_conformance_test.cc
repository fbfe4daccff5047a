// Goal: every v1.0 case of the CloudEvents conformance suite (a copy in tests/data/conformance,
// the YAML files under yaml/: v1.yaml and v1.0/) is accepted by POST /api/v1/events of a real
// annalsd with a 2xx, sent as the suite's own sender sends it (binary mode: attributes as ce-
// headers with surrounding spaces trimmed, datacontenttype as Content-Type, transport
// extensions as headers, Data as the body; Mode: structured as application/cloudevents+json),
// and reads back with GET /api/v1/events/{position} with the same attributes and data: JSON data
// as the same JSON value, any other data as the same text. Each case goes to a fresh annalsd, as
// each is its own test: the two cases of v1.yaml are one event (same source and id) in two
// modes, so a ledger that has the first answers the second 409 duplicate (gateway_append_test
// checks that binary and structured copies of an event are one event).
//
// The YAML files are read by the small reader below, which knows exactly their shape:
// documents split by "---", "#" comment lines, "key: value" maps nested by indentation, plain
// and double-quoted scalars, and "|" literal blocks (clip chomping: one final newline kept).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "annals/base/json_writer.h"
#include "annals/testing/annalsd_process.h"
#include "annals/testing/http_client.h"
#include "annals/testing/test_util.h"
#include "gateway_test_util.h"

namespace annals::testing {
namespace {

// A YAML node of the suite's shape: a scalar or a map.
struct Node {
  std::string scalar;
  std::map<std::string, Node> map;
  const Node* find(const std::string& key) const {
    const auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  }
};

size_t Indent(const std::string& line) { return line.find_first_not_of(' '); }

// Surrounding white space off, as YAML does for plain scalars and Go's strings.TrimSpace does
// for the suite's header values.
std::string Trim(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") + 1 - first);
}

bool Blank(const std::string& line) {
  const std::string t = Trim(line);
  return t.empty() || t[0] == '#';
}

// A "|" block: the lines indented deeper than `parent_indent`, less the first one's indent.
std::string ReadBlock(const std::vector<std::string>& lines, size_t* i, size_t parent_indent) {
  std::string text;
  size_t indent = std::string::npos;
  while (*i < lines.size()) {
    const std::string& line = lines[*i];
    if (!Trim(line).empty()) {
      if (Indent(line) <= parent_indent) break;
      if (indent == std::string::npos) indent = Indent(line);
    }
    text += (line.size() > indent ? line.substr(indent) : "") + "\n";
    ++*i;
  }
  while (text.size() >= 2 && text.ends_with("\n\n")) text.pop_back();  // clip
  return text;
}

std::string Scalar(std::string value) {
  value = Trim(value);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

// The map whose keys are indented exactly `indent`.
Node ReadMap(const std::vector<std::string>& lines, size_t* i, size_t indent) {
  Node node;
  while (*i < lines.size()) {
    const std::string& line = lines[*i];
    if (Blank(line)) {
      ++*i;
      continue;
    }
    if (Indent(line) < indent) break;
    REQUIRE(Indent(line) == indent);
    const size_t colon = line.find(':');
    REQUIRE(colon != std::string::npos);
    const std::string key = Trim(line.substr(0, colon));
    const std::string rest = Trim(line.substr(colon + 1));
    ++*i;
    if (rest == "|") {
      node.map[key].scalar = ReadBlock(lines, i, indent);
    } else if (rest.empty()) {
      size_t next = *i;
      while (next < lines.size() && Blank(lines[next])) ++next;
      if (next < lines.size() && Indent(lines[next]) > indent) {
        node.map[key] = ReadMap(lines, i, Indent(lines[next]));
      }
    } else {
      node.map[key].scalar = Scalar(rest);
    }
  }
  return node;
}

struct Case {
  std::string name;  // file and document number
  Node doc;
};

std::vector<Case> ReadCases(const std::filesystem::path& file) {
  std::ifstream in(file);
  REQUIRE(in);
  std::vector<std::vector<std::string>> documents(1);
  for (std::string line; std::getline(in, line);) {
    if (line == "---") {
      documents.emplace_back();
    } else {
      documents.back().push_back(line);
    }
  }
  std::vector<Case> cases;
  for (size_t d = 0; d < documents.size(); ++d) {
    size_t i = 0;
    cases.push_back({file.filename().string() + " #" + std::to_string(d + 1),
                     ReadMap(documents[d], &i, 0)});
  }
  return cases;
}

std::vector<Case> AllCases() {
  const std::filesystem::path root = ANNALS_CONFORMANCE_DIR;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Case> cases;
  for (const auto& file : files) {
    for (auto& c : ReadCases(file)) {
      const Node* attributes = c.doc.find("ContextAttributes");
      REQUIRE(attributes != nullptr);
      const Node* version = attributes->find("specversion");
      if (version != nullptr && version->scalar == "1.0") cases.push_back(std::move(c));
    }
  }
  return cases;
}

bool IsJson(const std::string& content_type) {
  const std::string type = content_type.substr(0, content_type.find(';'));
  return type.empty() || type == "application/json" || type.ends_with("+json");
}

// The context attributes and extensions of a case as the suite's sender sends them.
std::map<std::string, std::string> Attributes(const Node& doc) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : doc.find("ContextAttributes")->map) {
    if (key == "Extensions") {
      for (const auto& [name, ext] : value.map) out[name] = Trim(ext.scalar);
    } else {
      out[key] = Trim(value.scalar);
    }
  }
  return out;
}

HttpResponse Send(HttpClient& client, const Case& c) {
  const auto attributes = Attributes(c.doc);
  const std::string data = c.doc.find("Data") ? c.doc.find("Data")->scalar : "";
  const std::string content_type =
      attributes.count("datacontenttype") ? attributes.at("datacontenttype") : "";
  HttpHeaders transport;
  if (const Node* t = c.doc.find("TransportExtensions")) {
    for (const auto& [name, value] : t->map) transport.emplace_back(name, Trim(value.scalar));
  }
  const Node* mode = c.doc.find("Mode");
  if (mode != nullptr && mode->scalar == "structured") {
    JsonWriter w;
    w.BeginObject();
    for (const auto& [name, value] : attributes) w.Member(name, value);
    if (IsJson(content_type)) {
      w.Key("data").Raw(Minify(data));
    } else {
      w.Member("data", data);
    }
    w.EndObject();
    return client.Post("/api/v1/events", w.Release(), kStructured, transport);
  }
  HttpHeaders headers = transport;
  for (const auto& [name, value] : attributes) {
    if (name != "datacontenttype") headers.emplace_back("ce-" + name, value);
  }
  return client.Post("/api/v1/events", data, content_type, headers);
}

TEST_CASE("every v1.0 conformance case is accepted and reads back the same") {
  const std::vector<Case> cases = AllCases();
  REQUIRE(cases.size() >= 8);  // v1.yaml: 2, v1.0/v1_minimum.yaml: 6 at the suite's commit
  for (const Case& c : cases) {
    CAPTURE(c.name);
    TempDir dir;
    Annalsd annalsd({.data_dir = dir.Sub("data")});
    REQUIRE(annalsd.listening());
    HttpClient client(annalsd.port());
    const HttpResponse posted = Send(client, c);
    INFO(posted.body);
    REQUIRE(posted.status >= 200);
    REQUIRE(posted.status < 300);
    const uint64_t position = JsonDoc(posted.body).u64("/position");
    const HttpResponse read = client.Get("/api/v1/events/" + std::to_string(position));
    REQUIRE(read.status == 200);
    const JsonDoc record(read.body);
    INFO(read.body);
    for (const auto& [name, value] : Attributes(c.doc)) {
      CAPTURE(name);
      CHECK(record.str("/" + name) == value);
    }
    if (const Node* t = c.doc.find("TransportExtensions")) {
      for (const auto& [name, value] : t->map) CHECK_FALSE(record.has("/" + name));
    }
    const std::string data = c.doc.find("Data")->scalar;
    const auto attributes = Attributes(c.doc);
    const std::string content_type =
        attributes.count("datacontenttype") ? attributes.at("datacontenttype") : "";
    if (IsJson(content_type)) {
      CHECK(record.raw("/data") == Minify(data));
    } else {
      CHECK(record.str("/data") == data);
    }
  }
}

}  // namespace
}  // namespace annals::testing
