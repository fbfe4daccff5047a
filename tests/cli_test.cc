// Goal: annalsctl does what docs/cli.md says, as a user runs it: import answers one line per
// input line in input order, refusing bad lines by attribute while the rest are recorded; refused
// input writes nothing; export then import into an empty ledger reproduces the events with their
// streams, keys, origins and positions; read filters; bench --repeat answers with one run's
// figures marked with the number of runs; exit codes are 0, 1 (refused) and 2 (could not run).
#include <doctest/doctest.h>
#include <simdjson.h>

#include <sstream>

#include "annals/testing/child_process.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

using testing::RunCommand;

testing::CommandResult Ctl(const std::string& data, std::vector<std::string> args,
                           const std::string& input = "") {
  std::vector<std::string> argv = {testing::BinDir() + "/annalsctl", "--data", data};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, input);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Field(const std::string& json_line, const char* name) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE_MESSAGE(parser.parse(json_line).get(doc) == simdjson::SUCCESS, json_line);
  simdjson::dom::element value;
  if (doc[name].get(value) != simdjson::SUCCESS) return "<absent>";
  if (value.is_string()) return std::string(value.get_string().value());
  return simdjson::minify(value);
}

const char* kGood =
    R"({"specversion":"1.0","type":"registry.peer.added.v1","source":"/ops","id":"p1","subject":"peer-1","data":{"peer_id":"1","name":"peer one","base_url":"https://peer-1.example","spiffe_id":"spiffe://peer-1.example/registry","kind":"frame","relation":"direct"}})";

TEST_CASE("import: one answer per line, in order; bad lines refused by attribute") {
  testing::TempDir dir;
  const std::string input =
      std::string(kGood) + "\n" +
      R"({"specversion":"1.0","type":"t","source":"/ops"})" + "\n" +                 // no id
      R"({"specversion":"0.3","type":"t","source":"/ops","id":"x"})" + "\n" +        // version
      "not json at all\n" +
      "\n" +                                                                          // blank: skipped
      R"({"specversion":"1.0","type":"t","source":"/ops","id":"y","Bad":"1"})" + "\n" +  // ext name
      R"({"specversion":"1.0","type":"t","source":"/ops","id":"p2","time":"yesterday"})" + "\n" +
      std::string(kGood) + "\n" +                                                     // retry
      R"({"specversion":"1.0","type":"t","source":"/ops","id":"p3"})" + "\n";
  auto result = Ctl(dir.path(), {"import", "-"}, input);
  CHECK(result.exit_code == 1);
  auto lines = Lines(result.out);
  REQUIRE(lines.size() == 8);
  CHECK(Field(lines[0], "result") == "appended");
  CHECK(Field(lines[0], "id") == "p1");
  CHECK(Field(lines[0], "line") == "1");
  CHECK(Field(lines[1], "result") == "invalid");
  CHECK(Field(lines[1], "attribute") == "id");
  CHECK(Field(lines[1], "line") == "2");
  CHECK(Field(lines[2], "attribute") == "specversion");
  CHECK(Field(lines[3], "attribute") == "json");
  CHECK(Field(lines[4], "line") == "6");
  CHECK(Field(lines[4], "result") == "invalid");
  CHECK(Field(lines[5], "attribute") == "time");
  CHECK(Field(lines[6], "result") == "duplicate");
  CHECK(Field(lines[6], "position") == "1");
  CHECK(Field(lines[7], "result") == "appended");
  CHECK(Field(lines[7], "position") == "2");
  auto stats = Ctl(dir.path(), {"stats"});
  CHECK(stats.exit_code == 0);
  CHECK(Field(Lines(stats.out)[0], "events") == "2");
  // The import closed the ledger: its indexer wrote everything before it stopped.
  CHECK(Field(Lines(stats.out)[0], "indexed_position") == "2");
}

TEST_CASE("append: answers, refusals and exit codes") {
  testing::TempDir dir;
  auto ok = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "a",
                             "--subject", "agent-1", "--data", R"({"x":1})"});
  CHECK(ok.exit_code == 0);
  CHECK(Field(ok.out, "result") == "appended");
  CHECK(Field(ok.out, "stream") == "agent-1");
  auto dup = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "a",
                              "--subject", "agent-1", "--data", R"({"x":1})"});
  CHECK(dup.exit_code == 0);
  CHECK(Field(dup.out, "result") == "duplicate");
  auto reuse = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "a",
                                "--data", R"({"x":2})"});
  CHECK(reuse.exit_code == 1);
  CHECK(Field(reuse.out, "result") == "key_reuse");
  auto wrong = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "b",
                                "--stream", "agent-1", "--expected-revision", "3"});
  CHECK(wrong.exit_code == 1);
  CHECK(Field(wrong.out, "result") == "wrong_revision");
  CHECK(Field(wrong.out, "actual_revision") == "0");
  auto bad_data = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "c",
                                   "--data", "{oops"});
  CHECK(bad_data.exit_code == 1);
  CHECK(Field(bad_data.out, "attribute") == "data");
  auto bad_source = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "has space",
                                     "--id", "d"});
  CHECK(bad_source.exit_code == 1);
  CHECK(Field(bad_source.out, "attribute") == "source");
  auto bad_flag = Ctl(dir.path(), {"append", "--type", "t.v1", "--nonsense"});
  CHECK(bad_flag.exit_code == 2);
  auto bad_expected = Ctl(dir.path(), {"append", "--type", "t.v1", "--source", "/s", "--id", "e",
                                       "--expected-revision", "soon"});
  CHECK(bad_expected.exit_code == 2);
  auto read = Ctl(dir.path(), {"read"});
  CHECK(Lines(read.out).size() == 1);  // nothing refused was written
  auto missing = Ctl(dir.path() + "/nowhere", {"read"});
  CHECK(missing.exit_code == 2);
}

TEST_CASE("export then import into an empty ledger reproduces the events") {
  testing::TempDir dir;
  const std::string a = dir.Sub("a");
  const std::string b = dir.Sub("b");
  REQUIRE(Ctl(a, {"import", "-"}, std::string(kGood) + "\n").exit_code == 0);
  REQUIRE(Ctl(a, {"append", "--type", "t.v1", "--source", "/s", "--id", "k", "--stream", "custom",
                  "--idempotency-key", "my-key", "--data", R"({"n":[1,2.5,"x"]})"})
              .exit_code == 0);
  REQUIRE(Ctl(a, {"import", "-"},
              R"({"specversion":"1.0","type":"t","source":"/p","id":"r","annalsorigin":"peer-b","data_base64":"AAECAw=="})"
              "\n")
              .exit_code == 0);
  auto exported = Ctl(a, {"export"});
  REQUIRE(exported.exit_code == 0);
  auto imported = Ctl(b, {"import", "-"}, exported.out);
  REQUIRE(imported.exit_code == 0);
  auto read_a = Lines(Ctl(a, {"read"}).out);
  auto read_b = Lines(Ctl(b, {"read"}).out);
  REQUIRE(read_a.size() == 3);
  REQUIRE(read_b.size() == 3);
  for (size_t i = 0; i < read_a.size(); ++i) {
    for (const char* f : {"id", "source", "type", "subject", "data", "data_base64", "position",
                          "stream", "revision", "idempotency_key", "origin"}) {
      CHECK_MESSAGE(Field(read_a[i], f) == Field(read_b[i], f), f << " of line " << i);
    }
  }
  CHECK(Field(read_b[1], "stream") == "custom");
  CHECK(Field(read_b[1], "idempotency_key") == "my-key");
  CHECK(Field(read_b[2], "origin") == "peer-b");
  CHECK(Ctl(b, {"verify"}).exit_code == 0);
}

TEST_CASE("read filters and pages") {
  testing::TempDir dir;
  std::string input;
  for (int i = 0; i < 20; ++i) {
    input += R"({"specversion":"1.0","source":"/r","id":")" + std::to_string(i) +
             R"(","type":")" + (i % 2 == 0 ? "even.v1" : "odd.v1") + R"(","subject":"s)" +
             std::to_string(i % 4) + "\"}\n";
  }
  REQUIRE(Ctl(dir.path(), {"import", "-"}, input).exit_code == 0);
  CHECK(Lines(Ctl(dir.path(), {"read", "--type", "even.v1"}).out).size() == 10);
  CHECK(Lines(Ctl(dir.path(), {"read", "--stream", "s1"}).out).size() == 5);
  auto page = Lines(Ctl(dir.path(), {"read", "--from", "5", "--limit", "3"}).out);
  REQUIRE(page.size() == 3);
  CHECK(Field(page[0], "position") == "5");
  CHECK(Field(page[2], "position") == "7");
}

TEST_CASE("bench --repeat: each figure is one of its runs, marked with their number") {
  // The rates themselves are never asserted (docs/BENCHMARKS.md); only the shape of the answer.
  testing::TempDir dir;
  auto bench = RunCommand({testing::BinDir() + "/annalsctl", "bench", "--quick", "--only",
                           "single-writer", "--repeat", "3", "--json", "--dir", dir.Sub("b")});
  REQUIRE(bench.exit_code == 0);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(bench.out).get(doc) == simdjson::SUCCESS);
  simdjson::dom::array workloads = doc["workloads"].get_array();
  REQUIRE(workloads.size() == 1);
  CHECK(std::string_view(workloads.at(0)["name"]) == "single-writer");
  CHECK(int64_t(workloads.at(0)["runs"]) == 3);
  CHECK(double(workloads.at(0)["events_per_s"]) > 0);
  CHECK(double(workloads.at(0)["baseline_events_per_s"]) > 0);
  CHECK(RunCommand({testing::BinDir() + "/annalsctl", "bench", "--repeat", "0"}).exit_code == 2);
}

}  // namespace
}  // namespace annals
