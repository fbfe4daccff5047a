// The fixture of the views' unit tests: a ledger in a fresh TempDir, the views' database beside
// it, and a Runner folding the views under test over them; events appended at a chosen time and
// from a chosen origin. Every failure to open or append fails the test (doctest REQUIRE).
//
// Thread-safety: one test thread; Append may also run on one other thread while the runner
// folds (the ledger and the runner are thread-safe; the fixture's own state is written only by
// Append).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/eventstore/ledger.h"
#include "annals/projections/runner.h"
#include "annals/projections/views_db.h"
#include "annals/testing/test_util.h"

namespace annals::testing {

struct ViewsFixture {
  // One event for Append.
  struct Event {
    std::string_view type;
    std::string_view data = "{}";  // JSON text; "" : no data
    // The CloudEvent `time` attribute, UTC; nullopt: none (the views then use recorded_at).
    std::optional<int64_t> time_seconds;
    int32_t time_nanos = 0;
    std::string_view origin;  // "" : recorded by this registry; else replicated from that peer
    std::string_view source = "/test";
  };

  // Opens everything (Open). `views` empty: no runner (for a test that opens its own).
  explicit ViewsFixture(std::vector<projections::ViewSpec> views,
                        std::string registry_name = "home");

  // Opens the ledger (of registry `registry_name`), the views' database and the runner over
  // `views`, from what the directory holds: after Close, as a restart would.
  void Open();
  // Closes the runner, the views' database and the ledger, in that order.
  void Close();

  // Appends `event` with id "e<n>", n counting this fixture's appends from 1 (`appended` after
  // it); returns its position. Fails the test unless it was appended.
  uint64_t Append(const Event& event);

  // Folds every view to the ledger's head and returns a snapshot of `view`.
  projections::ViewReader Reader(std::string_view view);

  TempDir dir;  // the ledger in "ledger", the views' database in "views"
  std::string registry_name;
  std::vector<projections::ViewSpec> views;
  std::unique_ptr<eventstore::Ledger> ledger;
  std::unique_ptr<projections::ViewsDb> db;
  std::unique_ptr<projections::Runner> runner;  // null when `views` is empty
  int appended = 0;                             // events Append recorded
};

}  // namespace annals::testing
