// Goal: the Runner keeps a view's rows and checkpoint together, resumes from the checkpoint, never
// skips a position, rebuilds on a version bump, serves the old generation while a rebuild fills
// a shadow and swaps atomically, wakes WaitFor on a fold, and `Check` finds a corrupted row.
// The view here is a real projection (events counted per type), not a mock.
#include "annals/projections/runner.h"

#include <doctest/doctest.h>

#include <thread>

#include "annals/testing/views_fixture.h"

namespace annals::projections {
namespace {

// Counts events per type: row "t/<type>" -> decimal count.
class TypeCounts : public Projection {
 public:
  explicit TypeCounts(uint32_t version = 1) : version_(version) {}
  std::string_view name() const override { return "type-counts"; }
  uint32_t version() const override { return version_; }
  Status Apply(const FoldContext&, const eventstore::Record& record, ViewTxn& txn) override {
    std::string key = "t/" + record.event().type();
    ANNALS_ASSIGN_OR_RETURN(auto row, txn.Get(key));
    uint64_t count = row ? std::stoull(*row) : 0;
    txn.Put(key, std::to_string(count + version_));  // version 2 counts double
    ++applied;
    return Status::Ok();
  }
  void Commit(const ViewReader& reader) override { committed_position = reader.position(); }
  uint64_t applied = 0;
  uint64_t committed_position = 0;

 private:
  uint32_t version_;
};

ViewSpec Spec(uint32_t version = 1) {
  return {"type-counts", [version] { return std::make_unique<TypeCounts>(version); }};
}

// A ledger and the views' database, without a runner: each test opens its own.
struct Fixture : testing::ViewsFixture {
  Fixture() : ViewsFixture({}) {}

  std::unique_ptr<Runner> OpenRunner(uint32_t version = 1) {
    auto r = Runner::Open({.ledger = ledger.get(), .db = db.get()}, {Spec(version)});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return std::move(r).value();
  }

  void AppendN(int n, std::string_view type) {
    for (int i = 0; i < n; ++i) Append({.type = type});
  }
};

std::string Count(const ViewReader& reader, std::string_view type) {
  auto row = reader.Get("t/" + std::string(type));
  REQUIRE(row.ok());
  return row->value_or("none");
}

TEST_CASE("folds to the head, resumes from the checkpoint after a reopen") {
  Fixture f;
  f.AppendN(2500, "a.v1");
  f.AppendN(10, "b.v1");
  {
    auto runner = f.OpenRunner();
    REQUIRE(runner->CatchUp("", 0).ok());
    auto reader = runner->Reader("type-counts");
    REQUIRE(reader.ok());
    CHECK(reader->position() == 2510);
    CHECK(Count(*reader, "a.v1") == "2500");
    CHECK(Count(*reader, "b.v1") == "10");
    auto live = runner->Live("type-counts");
    REQUIRE(live.ok());
    CHECK(static_cast<TypeCounts&>(**live).committed_position == 2510);
  }
  f.Close();
  f.Open();
  f.AppendN(5, "b.v1");
  auto runner = f.OpenRunner();
  auto live = runner->Live("type-counts");
  REQUIRE(live.ok());
  REQUIRE(runner->CatchUp("type-counts", 0).ok());
  // Only the five new events were folded after the reopen.
  CHECK(static_cast<TypeCounts&>(**live).applied == 5);
  auto reader = runner->Reader("type-counts");
  CHECK(Count(*reader, "b.v1") == "15");
  auto statuses = runner->Statuses();
  REQUIRE(statuses.size() == 1);
  CHECK(statuses[0].position == 2515);
  CHECK(statuses[0].lag == 0);
  CHECK(statuses[0].state == "caught-up");
}

TEST_CASE("CatchUp to a position stops there") {
  Fixture f;
  f.AppendN(100, "a.v1");
  auto runner = f.OpenRunner();
  REQUIRE(runner->CatchUp("type-counts", 40).ok());
  CHECK(runner->Reader("type-counts")->position() == 40);
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "40");
  CHECK(runner->CatchUp("no-such-view", 0).code() == StatusCode::kNotFound);
}

TEST_CASE("a version bump rebuilds the view at start") {
  Fixture f;
  f.AppendN(30, "a.v1");
  {
    auto runner = f.OpenRunner(1);
    REQUIRE(runner->CatchUp("", 0).ok());
    CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "30");
  }
  auto runner = f.OpenRunner(2);
  CHECK(runner->Reader("type-counts")->position() == 0);
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "none");
  REQUIRE(runner->CatchUp("", 0).ok());
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "60");
  CHECK(runner->Statuses()[0].version == 2);
}

TEST_CASE("fold threads follow the tail; WaitFor wakes on a fold") {
  Fixture f;
  auto runner = f.OpenRunner();
  runner->Start();
  std::thread writer([&] { f.AppendN(300, "a.v1"); });
  uint64_t reached = runner->WaitFor("type-counts", 300, std::chrono::seconds(20));
  writer.join();
  CHECK(reached >= 300);
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "300");
  runner->Stop();
  runner->Stop();  // idempotent
}

TEST_CASE("a rebuild fills a shadow while the old generation serves, then swaps") {
  Fixture f;
  f.AppendN(3000, "a.v1");
  auto runner = f.OpenRunner();
  REQUIRE(runner->CatchUp("", 0).ok());
  auto before = runner->Reader("type-counts");
  REQUIRE(before.ok());
  uint32_t old_generation = before->generation();
  // Corrupt the live view: a rebuild must replace it with the folded truth.
  REQUIRE(f.db->PutRowForTesting("type-counts", "t/a.v1", "7").ok());
  auto stale = runner->Reader("type-counts");
  runner->Start();  // the live view keeps folding during the rebuild
  std::thread writer([&] { f.AppendN(200, "b.v1"); });
  bool seen_progress = false;
  auto report = runner->Rebuild("type-counts", 0, [&](uint64_t, uint64_t) { seen_progress = true; });
  writer.join();
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(seen_progress);
  // A reader taken before the swap still sees its own generation, whole.
  CHECK(Count(*stale, "a.v1") == "7");
  CHECK(stale->generation() == old_generation);
  runner->WaitFor("type-counts", 3200, std::chrono::seconds(20));
  auto after = runner->Reader("type-counts");
  CHECK(after->generation() == old_generation + 1);
  CHECK(Count(*after, "a.v1") == "3000");
  CHECK(Count(*after, "b.v1") == "200");
  runner->Stop();
}

TEST_CASE("rebuild --to leaves the view at that position") {
  Fixture f;
  f.AppendN(50, "a.v1");
  auto runner = f.OpenRunner();
  REQUIRE(runner->CatchUp("", 0).ok());
  auto report = runner->Rebuild("type-counts", 20);
  REQUIRE(report.ok());
  CHECK(report->position == 20);
  CHECK(runner->Reader("type-counts")->position() == 20);
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "20");
}

TEST_CASE("check finds a corrupted, a missing and an extra row") {
  Fixture f;
  f.AppendN(10, "a.v1");
  f.AppendN(10, "b.v1");
  auto runner = f.OpenRunner();
  REQUIRE(runner->CatchUp("", 0).ok());
  auto clean = runner->Check("type-counts");
  REQUIRE(clean.ok());
  CHECK(clean->differences == 0);
  CHECK(clean->rows_compared == 2);
  CHECK(clean->position == 20);

  REQUIRE(f.db->PutRowForTesting("type-counts", "t/a.v1", "11").ok());
  REQUIRE(f.db->PutRowForTesting("type-counts", "t/zzz", "1").ok());
  auto report = runner->Check("type-counts");
  REQUIRE(report.ok());
  CHECK(report->differences == 2);
  REQUIRE(report->first_differences.size() == 2);
  CHECK(report->first_differences[0].key == "t/a.v1");
  CHECK(report->first_differences[0].live == "11");
  CHECK(report->first_differences[0].rebuilt == "10");
  CHECK(report->first_differences[1].key == "t/zzz");
  CHECK(!report->first_differences[1].rebuilt.has_value());
  // The shadow is gone; the live view is untouched by the check.
  CHECK(Count(*runner->Reader("type-counts"), "a.v1") == "11");
}

TEST_CASE("a read-only runner serves the stored rows and refuses to fold") {
  Fixture f;
  f.AppendN(5, "a.v1");
  {
    auto runner = f.OpenRunner();
    REQUIRE(runner->CatchUp("", 0).ok());
  }
  f.db.reset();
  auto ro = ViewsDb::Open({.path = f.dir.Sub("views"), .read_only = true});
  REQUIRE(ro.ok());
  auto runner = Runner::Open({.ledger = f.ledger.get(), .db = ro->get()}, {Spec()});
  REQUIRE(runner.ok());
  CHECK(Count(*(*runner)->Reader("type-counts"), "a.v1") == "5");
  CHECK((*runner)->CatchUp("", 0).code() == StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace annals::projections
