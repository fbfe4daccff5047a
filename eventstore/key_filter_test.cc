// Goal: the key filter never forgets a key it was given (a false negative would let a duplicate
// in), keeps its false positives near the designed ~1% at capacity, and takes adds from two
// threads at once (the builder and the writer).
#include "internal/key_filter.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "annals/base/sha256.h"
#include "annals/eventstore/limits.h"
#include "internal/keys.h"

namespace annals::eventstore::internal {
namespace {

std::string KeyOf(uint64_t i) { return IdemKey("/src " + std::to_string(i)); }

TEST_CASE("every added key is found; others rarely") {
  constexpr uint64_t kKeys = 200'000;
  KeyFilter filter(kKeys);
  CHECK(filter.capacity() == kKeys);
  CHECK(filter.bytes() >= kKeys * kKeyFilterBitsPerKey / 8);
  for (uint64_t i = 0; i < kKeys; ++i) filter.Add(KeyOf(i));
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(filter.MayContain(KeyOf(i)));
  uint64_t false_positives = 0;
  for (uint64_t i = kKeys; i < 2 * kKeys; ++i) false_positives += filter.MayContain(KeyOf(i));
  // About 1-2% for a blocked filter at 10 bits a key and 6 probes; 3% would mean a broken layout.
  CHECK(false_positives < kKeys * 3 / 100);
  CHECK(false_positives > 0);  // a filter that answers "no" to everything is not a filter
}

TEST_CASE("an empty filter finds nothing, and the byte cap holds") {
  KeyFilter empty(0);
  CHECK(empty.bytes() >= 64);
  CHECK_FALSE(empty.MayContain(KeyOf(1)));
  KeyFilter huge(uint64_t{1} << 40);
  CHECK(huge.bytes() <= kKeyFilterBytesMax);
}

TEST_CASE("adds from two threads at once are all kept") {
  constexpr uint64_t kKeys = 100'000;
  KeyFilter filter(2 * kKeys);
  std::thread other([&] {
    for (uint64_t i = 0; i < kKeys; ++i) filter.Add(KeyOf(2 * i));
  });
  for (uint64_t i = 0; i < kKeys; ++i) filter.Add(KeyOf(2 * i + 1));
  other.join();
  for (uint64_t i = 0; i < 2 * kKeys; ++i) REQUIRE(filter.MayContain(KeyOf(i)));
}

}  // namespace
}  // namespace annals::eventstore::internal
