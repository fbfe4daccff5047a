// Goal: `annalsctl check` finds a view row changed behind the projection's back (it rebuilds the
// view into a shadow and compares row by row), names the row and both values, exits 1, and
// leaves the live view as it was; `annalsctl rebuild` then repairs it.
#include <doctest/doctest.h>
#include <simdjson.h>

#include "annals/projections/views_db.h"
#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

using testing::RunCommand;
using testing::TempDir;

std::string Annalsctl() { return testing::BinDir() + "/annalsctl"; }

// The first row of `view` (key and value), read from the views database directly.
std::pair<std::string, std::string> FirstRow(projections::ViewsDb& db, std::string_view view) {
  auto reader = db.Reader(view);
  REQUIRE(reader.ok());
  std::pair<std::string, std::string> row;
  REQUIRE(reader->Scan("", "", [&](std::string_view k, std::string_view v) {
    row = {std::string(k), std::string(v)};
    return false;
  }).ok());
  REQUIRE(!row.first.empty());
  return row;
}

TEST_CASE("check finds a deliberately corrupted row; rebuild repairs it") {
  TempDir dir;
  const std::string data = dir.Sub("data");
  auto sample = RunCommand({Annalsctl(), "sample", "--agents", "300", "--peers", "4"});
  REQUIRE(sample.exit_code == 0);
  REQUIRE(RunCommand({Annalsctl(), "--data", data, "import", "-"}, sample.out).exit_code == 0);
  auto clean = RunCommand({Annalsctl(), "--data", data, "check", "--all"});
  INFO(clean.out);
  REQUIRE(clean.exit_code == 0);

  for (std::string view : {"agents", "peers", "card-cache", "compliance"}) {
    INFO("view " << view);
    std::pair<std::string, std::string> row;
    {
      auto db = projections::ViewsDb::Open({.path = data + "/views"});
      REQUIRE(db.ok());
      row = FirstRow(**db, view);
      std::string forged = row.second;
      forged[forged.size() / 2] = forged[forged.size() / 2] == 'x' ? 'y' : 'x';
      REQUIRE((*db)->PutRowForTesting(view, row.first, forged).ok());
    }
    auto check = RunCommand({Annalsctl(), "--data", data, "check", view});
    INFO(check.out);
    CHECK(check.exit_code == 1);
    simdjson::dom::parser parser;
    simdjson::dom::element report;
    REQUIRE(parser.parse(check.out).get(report) == simdjson::SUCCESS);
    CHECK(std::string_view(report["result"]) == "different");
    CHECK(uint64_t(report["differences"]) == 1);
    simdjson::dom::element first = report["first_differences"].at(0);
    CHECK(std::string_view(first["rebuilt"]) == row.second);
    CHECK(std::string_view(first["live"]) != row.second);
    // The check changed nothing: a second one finds the same row.
    CHECK(RunCommand({Annalsctl(), "--data", data, "check", view}).exit_code == 1);
    REQUIRE(RunCommand({Annalsctl(), "--data", data, "rebuild", view}).exit_code == 0);
    CHECK(RunCommand({Annalsctl(), "--data", data, "check", view}).exit_code == 0);
  }
}

}  // namespace
}  // namespace annals
