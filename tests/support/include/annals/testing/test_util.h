// Test support shared by unit tests and the suites in tests/: temporary directories that clean
// up after themselves, CloudEvents built without JSON, and small process helpers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "annals/eventstore/append.h"

namespace annals::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// A valid CloudEvent: specversion 1.0, the given type/source/id, JSON data `data_json` (may be
// empty: no data) and, when non-empty, a subject.
eventstore::CloudEvent MakeEvent(std::string_view type, std::string_view source,
                                 std::string_view id, std::string_view data_json = "{}",
                                 std::string_view subject = "");

// A proposed event on `stream` ("" : the subject's, or none) with key `key` ("" : derived).
eventstore::ProposedEvent Propose(eventstore::CloudEvent event, std::string_view stream = "",
                                  std::string_view key = "",
                                  eventstore::ExpectedRevision expected = {});

// The directory of the project's binaries (ANNALS_BIN_DIR, set by ctest).
std::string BinDir();

// A free TCP port on 127.0.0.1 (bound and released).
int FreePort();

}  // namespace annals::testing
