// Goal: a fold killed with SIGKILL at any instant leaves views that, after a restart, equal a
// fresh rebuild. A generated registry history (every view's event types) is imported; then, round
// after round, `annalsctl` folds the views (a query's catch-up, or a rebuild into a shadow and its
// swap) and is killed at a random instant. Finally `annalsctl check --all` rebuilds every view
// into a shadow and compares it row by row with the live view, and every view must be at the head.
#include <doctest/doctest.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <random>
#include <thread>

#include "annals/testing/child_process.h"
#include "annals/testing/json_lines.h"
#include "annals/testing/test_util.h"

namespace annals {
namespace {

using testing::ChildProcess;
using testing::ForEachJsonLine;
using testing::RunCommand;
using testing::TempDir;

constexpr int kRounds = 12;
constexpr int kAgents = 20000;

std::string Annalsctl() { return testing::BinDir() + "/annalsctl"; }

TEST_CASE("views survive SIGKILL in the middle of a fold") {
  TempDir dir;
  const std::string data = dir.Sub("data");
  auto sample = RunCommand({Annalsctl(), "sample", "--agents", std::to_string(kAgents), "--peers", "6",
                            "--seed", "7"});
  REQUIRE(sample.exit_code == 0);
  auto import = RunCommand({Annalsctl(), "--data", data, "import", "-"}, sample.out);
  REQUIRE(import.exit_code == 0);

  std::mt19937 rng(std::random_device{}());
  int killed = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::string> argv = {Annalsctl(), "--data", data};
    switch (round % 3) {
      case 0: argv.insert(argv.end(), {"discover", "translate"}); break;  // catch-up
      case 1: argv.insert(argv.end(), {"rebuild", "--all"}); break;       // shadow and swap
      default: argv.insert(argv.end(), {"rebuild", "agents", "--to", "5000"}); break;
    }
    ChildProcess child(argv);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 1500)(rng)));
    child.Kill(SIGKILL);
    int code = child.Wait();
    if (code == 128 + SIGKILL) ++killed;
    INFO("round " << round << " exit " << code);
    CHECK((code == 128 + SIGKILL || code == 0));
  }
  MESSAGE(killed << " of " << kRounds << " folds killed mid-way");

  // A restart folds on from whatever survived; check compares each view with a fresh rebuild.
  auto check = RunCommand({Annalsctl(), "--data", data, "check", "--all"});
  INFO(check.out);
  CHECK(check.exit_code == 0);
  size_t views = 0;
  ForEachJsonLine(check.out, [&](simdjson::dom::element e) {
    CHECK(std::string_view(e["result"]) == "same");
    CHECK(uint64_t(e["rows_compared"]) > 0);
    ++views;
  });
  CHECK(views == 4);

  uint64_t head_position = 0;
  ForEachJsonLine(RunCommand({Annalsctl(), "--data", data, "stats"}).out,
                  [&](simdjson::dom::element e) { head_position = uint64_t(e["head_position"]); });
  CHECK(head_position > uint64_t{kAgents});
  ForEachJsonLine(RunCommand({Annalsctl(), "--data", data, "views"}).out, [&](simdjson::dom::element e) {
    CHECK(uint64_t(e["position"]) == head_position);
  });
}

}  // namespace
}  // namespace annals
