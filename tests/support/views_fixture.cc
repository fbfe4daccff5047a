#include "annals/testing/views_fixture.h"

#include <doctest/doctest.h>

#include <utility>

namespace annals::testing {

ViewsFixture::ViewsFixture(std::vector<projections::ViewSpec> views, std::string registry_name)
    : registry_name(std::move(registry_name)), views(std::move(views)) {
  Open();
}

void ViewsFixture::Open() {
  auto opened_ledger =
      eventstore::Ledger::Open({.path = dir.Sub("ledger"), .registry_name = registry_name});
  REQUIRE_MESSAGE(opened_ledger.ok(), opened_ledger.status().ToString());
  ledger = std::move(opened_ledger).value();
  auto opened_db = projections::ViewsDb::Open({.path = dir.Sub("views")});
  REQUIRE_MESSAGE(opened_db.ok(), opened_db.status().ToString());
  db = std::move(opened_db).value();
  if (views.empty()) return;
  auto opened_runner = projections::Runner::Open({.ledger = ledger.get(), .db = db.get()}, views);
  REQUIRE_MESSAGE(opened_runner.ok(), opened_runner.status().ToString());
  runner = std::move(opened_runner).value();
}

void ViewsFixture::Close() {
  runner.reset();
  db.reset();
  ledger.reset();
}

uint64_t ViewsFixture::Append(const Event& event) {
  auto cloud_event = MakeEvent(event.type, event.source, "e" + std::to_string(appended + 1),
                               event.data);
  if (event.time_seconds) {
    auto* time = (*cloud_event.mutable_attributes())["time"].mutable_ce_timestamp();
    time->set_seconds(*event.time_seconds);
    time->set_nanos(event.time_nanos);
  }
  auto proposed = Propose(std::move(cloud_event));
  proposed.origin = std::string(event.origin);
  auto outcome = ledger->Append(std::move(proposed));
  REQUIRE_MESSAGE(outcome.code == eventstore::AppendCode::kAppended, event.type, ": ",
                  outcome.error.attribute, ": ", outcome.error.reason);
  ++appended;
  return outcome.position;
}

projections::ViewReader ViewsFixture::Reader(std::string_view view) {
  REQUIRE(runner->CatchUp("", 0).ok());
  auto reader = runner->Reader(view);
  REQUIRE(reader.ok());
  return std::move(reader).value();
}

}  // namespace annals::testing
