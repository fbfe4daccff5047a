// Goal: bad input gets a clear refusal naming what is wrong, and changes nothing. Every case of
// tests/data/bad_events.txt (malformed JSON, missing and malformed attributes, bad extensions,
// data and data_base64 together, domain event data that breaks its schema, ...) is imported
// through annalsctl as a client would send it; each must answer "invalid" naming the case's
// attribute, in order, the import must exit 1, and the ledger must hold no event afterwards.
// The same events sent one by one through `annalsctl append`-like library calls are covered by
// cloudevent_test (and the data of domain events by event_data_test).
#include <doctest/doctest.h>
#include <simdjson.h>

#include <fstream>
#include <sstream>

#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

struct Case {
  std::string attribute;
  std::string line;
};

std::vector<Case> LoadCases(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::vector<Case> cases;
  std::string pending;
  for (std::string line; std::getline(in, line);) {
    const std::string marker = "# attribute: ";
    if (line.rfind(marker, 0) == 0) {
      pending = line.substr(marker.size());
    } else if (!line.empty() && line[0] != '#') {
      REQUIRE_MESSAGE(!pending.empty(), "an event without its '# attribute:' line: " << line);
      cases.push_back({pending, line});
      pending.clear();
    }
  }
  return cases;
}

TEST_CASE("every malformed event is refused by attribute and nothing is written") {
  const auto cases = LoadCases(std::string(ANNALS_TEST_DATA) + "/bad_events.txt");
  REQUIRE(cases.size() >= 20);
  std::string input;
  for (const auto& c : cases) input += c.line + "\n";
  testing::TempDir dir;
  const std::string ctl = testing::BinDir() + "/annalsctl";
  auto result = testing::RunCommand({ctl, "--data", dir.path(), "import", "-"}, input);
  CHECK(result.exit_code == 1);
  std::istringstream out(result.out);
  simdjson::dom::parser parser;
  size_t i = 0;
  for (std::string line; std::getline(out, line); ++i) {
    REQUIRE(i < cases.size());
    simdjson::dom::element doc;
    REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
    std::string_view answer;
    std::string_view attribute;
    uint64_t line_number = 0;
    REQUIRE(doc["result"].get_string().get(answer) == simdjson::SUCCESS);
    REQUIRE(doc["attribute"].get_string().get(attribute) == simdjson::SUCCESS);
    REQUIRE(doc["line"].get_uint64().get(line_number) == simdjson::SUCCESS);
    CHECK_MESSAGE(answer == "invalid", cases[i].line);
    CHECK_MESSAGE(attribute == cases[i].attribute, cases[i].line << " -> " << line);
    CHECK(line_number == i + 1);
  }
  CHECK(i == cases.size());
  auto stats = testing::RunCommand({ctl, "--data", dir.path(), "stats"});
  REQUIRE(stats.exit_code == 0);
  CHECK(stats.out.find("\"events\":0") != std::string::npos);
}

}  // namespace
}  // namespace annals
