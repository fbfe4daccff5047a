// Goal: a cached view answer is served only at the exact position it was rendered at; keys
// tell apart every request that could be answered differently (path, parameters with any
// bytes, If-None-Match) and ignore only min_position; the cache stays within its bounds.
#include "internal/answer_cache.h"

#include <doctest/doctest.h>

#include "annals/gateway/limits.h"

namespace annals::gateway {
namespace {

Request Get(std::string target, std::vector<Header> headers = {}) {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  r.headers = std::move(headers);
  return r;
}

std::string KeyOf(const Request& request) {
  auto query = ParseQuery(request.query());
  REQUIRE(query);
  return AnswerCache::Key("agents", request, *query);
}

Response Body(std::string body) {
  Response r;
  r.body = std::move(body);
  return r;
}

TEST_CASE("an answer is served at its own position only") {
  AnswerCache cache;
  const std::string key = KeyOf(Get("/api/v1/discover?query=claims"));
  cache.Store(key, 7, Body("at 7"));
  CHECK(cache.Find(key, 7)->body == "at 7");
  CHECK_FALSE(cache.Find(key, 8));
  CHECK_FALSE(cache.Find(key, 6));
  cache.Store(key, 9, Body("at 9"));
  CHECK(cache.Find(key, 9)->body == "at 9");
  cache.Store(key, 8, Body("at 8"));  // older than what is kept: ignored
  CHECK(cache.Find(key, 9)->body == "at 9");
  CHECK(cache.entries() == 1);
}

TEST_CASE("keys: what can change an answer is in the key; min_position is not") {
  const std::string base = KeyOf(Get("/api/v1/discover?query=claims&limit=5"));
  CHECK(base == KeyOf(Get("/api/v1/discover?query=claims&limit=5&min_position=12")));
  CHECK(base != KeyOf(Get("/api/v1/discover?query=claims&limit=6")));
  CHECK(base != KeyOf(Get("/api/v1/agents/x?query=claims&limit=5")));
  CHECK(base != KeyOf(Get("/api/v1/discover?query=claims&limit=5", {{"if-none-match", "\"a\""}})));
  // Decoded values may hold newlines and '=': no two parameter lists share a key.
  CHECK(KeyOf(Get("/p?a=1%0Ab%3D2")) != KeyOf(Get("/p?a=1&b=2")));
  CHECK(KeyOf(Get("/p?a=1%0A1:b2:2")) != KeyOf(Get("/p?a=1&b=2")));
}

TEST_CASE("the cache stays within its bounds") {
  AnswerCache cache;
  for (size_t i = 0; i < kAnswerCacheEntriesMax + 10; ++i) {
    cache.Store("k" + std::to_string(i), 1, Body("x"));
  }
  CHECK(cache.entries() <= kAnswerCacheEntriesMax);
  cache.Store("huge", 1, Body(std::string(kAnswerCacheBytesMax + 1, 'x')));
  CHECK_FALSE(cache.Find("huge", 1));
}

}  // namespace
}  // namespace annals::gateway
