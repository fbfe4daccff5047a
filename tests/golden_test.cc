// Goal: every view rule of EVENTS.md holds as data: for each case, the events of
// tests/golden/<view>/<case>.jsonl are imported into a fresh ledger with annalsctl, then each
// `$ <args>` line of <case>.expected runs `annalsctl <args>`, and its stdout must equal the
// lines that follow (plus "(exit N)" when it exits non-zero). The queries print the JSON the
// gateway serves, so these files are also the views' response contract.
//
// ANNALS_UPDATE_GOLDEN=1 rewrites the .expected files from the actual output; every rewritten
// output must then be read and checked against the rules before it is committed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;
using testing::TempDir;

struct Query {
  std::string args;      // the text after "$ "
  std::string expected;  // the lines after it, each ending in '\n'
};

std::vector<Query> ReadExpected(const fs::path& path) {
  std::vector<Query> queries;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("$ ", 0) == 0) {
      queries.push_back({line.substr(2), ""});
    } else if (!queries.empty()) {
      queries.back().expected += line + "\n";
    }
  }
  return queries;
}

// Splits a command line on spaces; "double quotes" keep spaces (no escapes inside).
std::vector<std::string> SplitArgs(const std::string& text) {
  std::vector<std::string> args;
  std::string current;
  bool quoted = false;
  bool any = false;
  for (char c : text) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) args.push_back(current);
      current.clear();
      any = false;
    } else {
      current.push_back(c);
      any = true;
    }
  }
  if (any) args.push_back(current);
  return args;
}

std::string RunQuery(const std::string& data_dir, const std::string& args) {
  std::vector<std::string> argv = {testing::BinDir() + "/annalsctl", "--data", data_dir};
  for (auto& a : SplitArgs(args)) argv.push_back(a);
  auto result = RunCommand(argv);
  std::string out = result.out;
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  if (result.exit_code != 0) out += "(exit " + std::to_string(result.exit_code) + ")\n";
  return out;
}

void RunCase(const fs::path& events, bool update) {
  fs::path expected_path = events;
  expected_path.replace_extension(".expected");
  INFO("case " << events.string());
  REQUIRE_MESSAGE(fs::exists(expected_path), "missing " << expected_path.string());
  TempDir dir;
  auto import = RunCommand({testing::BinDir() + "/annalsctl", "--data", dir.path(), "import",
                            events.string()});
  REQUIRE_MESSAGE(import.exit_code == 0, "import failed:\n" << import.out);
  std::vector<Query> queries = ReadExpected(expected_path);
  REQUIRE_MESSAGE(!queries.empty(), "no $ lines in " << expected_path.string());
  std::string rewritten;
  for (auto& query : queries) {
    std::string actual = RunQuery(dir.path(), query.args);
    rewritten += "$ " + query.args + "\n" + actual;
    if (!update) {
      INFO("$ annalsctl " << query.args);
      CHECK(actual == query.expected);
    }
  }
  if (update) {
    std::ofstream(expected_path) << rewritten;
  }
}

TEST_CASE("golden view cases") {
  const bool update = std::getenv("ANNALS_UPDATE_GOLDEN") != nullptr;
  std::vector<fs::path> cases;
  for (const auto& entry : fs::recursive_directory_iterator(ANNALS_GOLDEN_DIR)) {
    if (entry.path().extension() == ".jsonl") cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(!cases.empty());
  for (const auto& c : cases) RunCase(c, update);
  MESSAGE(cases.size() << " golden cases");
}

}  // namespace
}  // namespace annals
