// Goal: docs/openapi.yaml and the gateway agree. Every path and method the document lists is a
// route of the gateway, and every route of the gateway (each area of gateway/internal/routes.h
// registered on one Router, as the server does) is in the document; each operation names the
// security scheme of its access class (internal/auth.h: bearer under /api/v1/admin, the license
// header or a peer's client certificate under /api/v1/federation, none elsewhere); every problem
// type the gateway answers is documented. The document is read by a small reader of its `paths:`
// block (two spaces per level), which also checks that block's shape; a full validation is
// `python3 -m openapi_spec_validator docs/openapi.yaml`.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "internal/auth.h"
#include "internal/problem.h"
#include "internal/router.h"
#include "internal/routes.h"

namespace annals::gateway {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  INFO(path);
  REQUIRE(in.good());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every route area, by the name of its Add*Routes function (the routes are compared as a set:
// the order of registration does not matter).
using AddRoutes = void (*)(Router* router, RouteContext* context);
const std::map<std::string, AddRoutes> kAreas = {
    {"Append", AddAppendRoutes}, {"Read", AddReadRoutes}, {"Health", AddHealthRoutes},
    {"View", AddViewRoutes},     {"Live", AddLiveRoutes}, {"Metrics", AddMetricsRoutes},
    {"Admin", AddAdminRoutes}};

// Every route of the gateway as "METHOD pattern". Registration only stores handlers (none
// dereferences the ledger or the runner before a request), so the context needs neither.
std::set<std::string> GatewayRoutes() {
  Router router;
  RouteContext context;
  for (const auto& [name, add] : kAreas) add(&router, &context);
  const std::vector<std::string> described = router.Describe();
  return {described.begin(), described.end()};
}

// One operation of the document: its method (upper case), path and the lines of its block.
struct Operation {
  std::string method;
  std::string path;
  std::vector<std::string> lines;
};

struct Document {
  std::string openapi;                // the `openapi:` version
  std::vector<Operation> operations;  // in document order
  std::vector<std::string> errors;    // what is wrong with the shape of the `paths:` block
};

size_t Indent(const std::string& line) { return line.find_first_not_of(' '); }

bool Blank(const std::string& line) {
  const size_t i = line.find_first_not_of(' ');
  return i == std::string::npos || line[i] == '#';
}

// The key of a mapping line ("  '/a': x" -> "/a"), quotes removed; "" when there is none.
std::string KeyOf(const std::string& line) {
  std::string text = line.substr(Indent(line));
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return "";
  text.resize(colon);
  if (text.size() >= 2 && (text.front() == '\'' || text.front() == '"') &&
      text.back() == text.front()) {
    text = text.substr(1, text.size() - 2);
  }
  return text;
}

// Whether the line is a key with nothing after it: a block mapping follows.
bool OpensBlock(const std::string& line) { return line.back() == ':'; }

// Reads the `openapi:` line and the `paths:` block: paths at two spaces, their methods (or
// the other members of a path item) at four, each operation's block deeper.
Document ReadDocument(const std::string& text) {
  static const std::set<std::string> kMethods = {"get",     "put",  "post",  "delete",
                                                 "options", "head", "patch", "trace"};
  static const std::set<std::string> kPathItemMembers = {"summary", "description", "parameters",
                                                         "servers"};
  Document doc;
  std::istringstream in(text);
  std::string line;
  bool in_paths = false;
  std::string path;
  Operation* operation = nullptr;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string where = "line " + std::to_string(number) + ": ";
    if (line.find('\t') != std::string::npos) doc.errors.push_back(where + "a tab");
    if (Blank(line)) continue;
    const size_t indent = Indent(line);
    if (indent == 0) {
      in_paths = line == "paths:";
      if (KeyOf(line) == "openapi") doc.openapi = line.substr(line.find_first_not_of(' ', 8));
      continue;
    }
    if (!in_paths) continue;
    if (indent == 2) {
      path = KeyOf(line);
      operation = nullptr;
      if (!path.starts_with("/") || !OpensBlock(line)) {
        doc.errors.push_back(where + "not a path opening its block: " + line);
      }
    } else if (path.empty()) {
      doc.errors.push_back(where + "indented deeper than a path, outside any");
    } else if (indent == 4) {
      const std::string key = KeyOf(line);
      operation = nullptr;
      if (kMethods.contains(key) && OpensBlock(line)) {
        std::string method = key;
        std::transform(method.begin(), method.end(), method.begin(), ::toupper);
        doc.operations.push_back({method, path, {}});
        operation = &doc.operations.back();
      } else if (!kPathItemMembers.contains(key)) {
        doc.errors.push_back(where + "not a method nor a member of a path item: " + line);
      }
    } else if (indent < 4) {
      doc.errors.push_back(where + "indented by 1 or 3 spaces");
    } else if (operation != nullptr) {
      operation->lines.push_back(line.substr(indent));
    }
  }
  return doc;
}

std::string OpenApiText() { return ReadFile(std::string(ANNALS_DOCS_DIR) + "/openapi.yaml"); }

Document TheDocument() { return ReadDocument(OpenApiText()); }

std::string Name(const Operation& op) { return op.method + " " + op.path; }

TEST_CASE("the reader finds paths and methods, and refuses a malformed paths block") {
  const Document good = ReadDocument(
      "openapi: 3.1.0\n"
      "info:\n  title: x\n"
      "paths:\n"
      "  /a/{id}:\n"
      "    parameters: []\n"
      "    get:\n"
      "      security:\n"
      "        - adminToken: []\n"
      "    post:\n"
      "      responses: {}\n"
      "  '/b':\n"
      "    delete:\n"
      "      summary: x\n"
      "components:\n"
      "  get:\n");
  CHECK(good.errors.empty());
  CHECK(good.openapi == "3.1.0");
  REQUIRE(good.operations.size() == 3);
  CHECK(Name(good.operations[0]) == "GET /a/{id}");
  CHECK(good.operations[0].lines == std::vector<std::string>{"security:", "- adminToken: []"});
  CHECK(Name(good.operations[1]) == "POST /a/{id}");
  CHECK(Name(good.operations[2]) == "DELETE /b");

  CHECK_FALSE(ReadDocument("paths:\n  a:\n    get:\n").errors.empty());        // not a path
  CHECK_FALSE(ReadDocument("paths:\n  /a:\n    fetch:\n").errors.empty());     // not a method
  CHECK_FALSE(ReadDocument("paths:\n\t/a:\n").errors.empty());                 // a tab
  CHECK_FALSE(ReadDocument("paths:\n    get:\n").errors.empty());              // no path
}

TEST_CASE("docs/openapi.yaml is OpenAPI 3.1 with a well-formed, non-empty paths block") {
  const Document doc = TheDocument();
  for (const std::string& error : doc.errors) FAIL_CHECK(error);
  CHECK(doc.openapi.starts_with("3.1."));
  REQUIRE(doc.operations.size() >= 10);
  std::set<std::string> seen;
  for (const Operation& op : doc.operations) {
    INFO(Name(op));
    CHECK(seen.insert(Name(op)).second);  // each operation once
    CHECK_FALSE(op.lines.empty());
  }
}

TEST_CASE("every route area of routes.h is registered by this test") {
  // A new area (routes_<area>.cc) is declared in routes.h; this test must register it too.
  const std::string header = ReadFile(std::string(ANNALS_GATEWAY_DIR) + "/internal/routes.h");
  const std::regex declaration(R"(void Add(\w+)Routes\(Router\*)");
  std::set<std::string> declared;
  for (auto it = std::sregex_iterator(header.begin(), header.end(), declaration);
       it != std::sregex_iterator(); ++it) {
    declared.insert((*it)[1]);
  }
  std::set<std::string> registered;
  for (const auto& [name, add] : kAreas) registered.insert(name);
  CHECK(declared == registered);
}

TEST_CASE("every documented operation is a route, and every route is documented") {
  const std::set<std::string> routes = GatewayRoutes();
  REQUIRE_FALSE(routes.empty());
  std::set<std::string> documented;
  for (const Operation& op : TheDocument().operations) documented.insert(Name(op));
  for (const std::string& name : documented) {
    INFO("documented in docs/openapi.yaml but not a route of the gateway: ", name);
    CHECK(routes.contains(name));
  }
  for (const std::string& route : routes) {
    INFO("a route of the gateway missing from docs/openapi.yaml: ", route);
    CHECK(documented.contains(route));
  }
}

TEST_CASE("each operation names the credentials its access class asks for") {
  for (const Operation& op : TheDocument().operations) {
    INFO(Name(op));
    auto has = [&](std::string_view requirement) {
      return std::find(op.lines.begin(), op.lines.end(), requirement) != op.lines.end();
    };
    const Access access = ClassifyPath(op.path);
    CHECK(has("- adminToken: []") == (access == Access::kAdmin));
    CHECK(has("- federationLicense: []") == (access == Access::kFederation));
    CHECK(has("- peerCertificate: []") == (access == Access::kFederation));
    CHECK(has("security:") == (access != Access::kPublic));
  }
}

TEST_CASE("every problem type of the gateway is documented") {
  const std::string text = OpenApiText();
  for (ProblemKind kind :
       {ProblemKind::kInvalidEvent, ProblemKind::kInvalidRequest, ProblemKind::kUnauthorized,
        ProblemKind::kForbidden, ProblemKind::kNotFound, ProblemKind::kMethodNotAllowed,
        ProblemKind::kDuplicate, ProblemKind::kWrongRevision, ProblemKind::kTooLarge,
        ProblemKind::kUnsupportedMediaType, ProblemKind::kKeyReuse, ProblemKind::kHeadersTooLarge,
        ProblemKind::kInternal, ProblemKind::kUnavailable, ProblemKind::kNotReady}) {
    INFO(ProblemType(kind));
    CHECK(text.find("- " + ProblemType(kind) + "\n") != std::string::npos);  // in the enum
    CHECK(text.find("const: '" + ProblemType(kind) + "'") != std::string::npos);  // its schema
  }
}

}  // namespace
}  // namespace annals::gateway
