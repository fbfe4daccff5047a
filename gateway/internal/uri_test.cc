// Goal: queries split into decoded pairs (percent-decoding itself: base/base_test.cc).
#include <doctest/doctest.h>

#include "internal/uri.h"

namespace annals::gateway {
namespace {

TEST_CASE("query strings") {
  auto q = ParseQuery("from=3&type=a.b%2Fc&&flag&x=1+2");
  REQUIRE(q);
  REQUIRE(q->size() == 4);
  CHECK((*q)[0] == std::pair<std::string, std::string>{"from", "3"});
  CHECK((*q)[1].second == "a.b/c");
  CHECK((*q)[2] == std::pair<std::string, std::string>{"flag", ""});
  CHECK((*q)[3].second == "1 2");
  CHECK(ParseQuery("")->empty());
  CHECK_FALSE(ParseQuery("a=%zz"));
}

}  // namespace
}  // namespace annals::gateway
