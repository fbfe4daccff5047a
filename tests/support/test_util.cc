#include "annals/testing/test_util.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "annals/base/assert.h"
#include "annals/base/loopback.h"

namespace annals::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/annals-test-XXXXXX";
  ANNALS_ASSERT(mkdtemp(tmpl.data()) != nullptr);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

eventstore::CloudEvent MakeEvent(std::string_view type, std::string_view source,
                                 std::string_view id, std::string_view data_json,
                                 std::string_view subject) {
  eventstore::CloudEvent e;
  e.set_spec_version("1.0");
  e.set_type(std::string(type));
  e.set_source(std::string(source));
  e.set_id(std::string(id));
  if (!data_json.empty()) {
    (*e.mutable_attributes())["datacontenttype"].set_ce_string("application/json");
    e.set_text_data(std::string(data_json));
  }
  if (!subject.empty()) (*e.mutable_attributes())["subject"].set_ce_string(std::string(subject));
  return e;
}

eventstore::ProposedEvent Propose(eventstore::CloudEvent event, std::string_view stream,
                                  std::string_view key, eventstore::ExpectedRevision expected) {
  eventstore::ProposedEvent p;
  p.event = std::move(event);
  p.stream = std::string(stream);
  p.idempotency_key = std::string(key);
  p.expected = expected;
  return p;
}

std::string BinDir() {
  const char* dir = std::getenv("ANNALS_BIN_DIR");
  ANNALS_ASSERT_MSG(dir != nullptr, "ANNALS_BIN_DIR is set by ctest");
  return dir;
}

int FreePort() {
  const int port = FreeLoopbackPort();
  ANNALS_ASSERT(port > 0);
  return port;
}

}  // namespace annals::testing
