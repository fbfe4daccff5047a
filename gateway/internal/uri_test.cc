// Goal: percent-decoding and encoding are exact (either hex case, '+' only in queries,
// malformed escapes refused), and queries split into decoded pairs.
#include <doctest/doctest.h>

#include "internal/uri.h"

namespace annals::gateway {
namespace {

TEST_CASE("percent-decoding") {
  CHECK(PercentDecode("a%20b%2fc%2F", false) == "a b/c/");
  CHECK(PercentDecode("Euro%20%E2%82%AC%20%F0%9F%98%80", false) == "Euro \u20AC \U0001F600");
  CHECK(PercentDecode("a+b", false) == "a+b");
  CHECK(PercentDecode("a+b", true) == "a b");
  CHECK(PercentDecode("%00", false) == std::string(1, '\0'));
  CHECK_FALSE(PercentDecode("%", false));
  CHECK_FALSE(PercentDecode("%4", false));
  CHECK_FALSE(PercentDecode("%G0", false));
  CHECK_FALSE(PercentDecode("abc%", false));
}

TEST_CASE("percent-encoding keeps only unreserved characters") {
  CHECK(PercentEncode("agent-did:web:x.example/a b~_") == "agent-did%3Aweb%3Ax.example%2Fa%20b~_");
  CHECK(PercentEncode("\xC3\xA9") == "%C3%A9");
  for (const std::string s : {"", "plain", "a/b?c=d&e", "\xF0\x9F\x98\x80 %+"}) {
    CHECK(PercentDecode(PercentEncode(s), true) == s);
  }
}

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
