// Goal: the router picks the right handler by method and pattern, prefers literals over
// parameters, decodes parameters (a %2F stays inside one parameter), and answers 404, 405 with
// Allow, and 400 for a bad parameter as problems.
#include <doctest/doctest.h>

#include "internal/router.h"

namespace annals::gateway {
namespace {

struct Called {
  std::string route;
  std::map<std::string, std::string, std::less<>> params;
  Response response;
};

Router MakeRouter(Called* called) {
  Router router;
  auto handler = [called](std::string name) {
    return [called, name](Request& request, Reply reply) {
      called->route = name;
      called->params = request.params;
      reply(JsonResponse(200, "{}"));
    };
  };
  router.Add("GET", "/api/v1/events", handler("list"));
  router.Add("POST", "/api/v1/events", handler("append"));
  router.Add("GET", "/api/v1/events/{position}", handler("one"));
  router.Add("GET", "/api/v1/events/live", handler("live"));
  router.Add("POST", "/api/v1/streams/{stream}/events", handler("stream-append"));
  return router;
}

Called Send(const Router& router, std::string method, std::string target) {
  Called called;
  Request request;
  request.method = std::move(method);
  request.target = std::move(target);
  router.Dispatch(&request, [&](Response r) { called.response = std::move(r); });
  return called;
}

TEST_CASE("routes by method and pattern, literals first") {
  Called c;
  const Router router = MakeRouter(&c);
  CHECK(Send(router, "GET", "/api/v1/events?from=3").response.status == 200);
  CHECK(c.route == "list");
  Send(router, "POST", "/api/v1/events");
  CHECK(c.route == "append");
  Send(router, "GET", "/api/v1/events/live");
  CHECK(c.route == "live");
  Send(router, "GET", "/api/v1/events/42");
  CHECK(c.route == "one");
  CHECK(c.params.at("position") == "42");
}

TEST_CASE("parameters are percent-decoded within their segment") {
  Called c;
  const Router router = MakeRouter(&c);
  Send(router, "POST", "/api/v1/streams/acme%2Fagent%40v1%20x+y/events");
  CHECK(c.route == "stream-append");
  CHECK(c.params.at("stream") == "acme/agent@v1 x+y");
  const Called bad = Send(router, "POST", "/api/v1/streams/a%zz/events");
  CHECK(bad.response.status == 400);
  CHECK(bad.response.body.find("\"parameter\":\"stream\"") != std::string::npos);
}

TEST_CASE("404 and 405 are problems; 405 says what is allowed") {
  Called c;
  const Router router = MakeRouter(&c);
  const Called missing = Send(router, "GET", "/api/v2/events");
  CHECK(missing.response.status == 404);
  CHECK(missing.response.content_type == "application/problem+json");
  CHECK(Send(router, "GET", "/api/v1/events/").response.status == 404);  // empty segment
  CHECK(Send(router, "GET", "//api/v1/events").response.status == 404);
  const Called wrong = Send(router, "DELETE", "/api/v1/events");
  CHECK(wrong.response.status == 405);
  REQUIRE(wrong.response.headers.size() == 1);
  CHECK(wrong.response.headers[0].first == "Allow");
  CHECK(wrong.response.headers[0].second == "GET, POST");
  CHECK(c.route.empty());
}

TEST_CASE("SplitPath") {
  std::vector<std::string_view> segments;
  CHECK(SplitPath("/", &segments));
  CHECK(segments.empty());
  CHECK(SplitPath("/a/b", &segments));
  CHECK(segments == std::vector<std::string_view>{"a", "b"});
  CHECK_FALSE(SplitPath("/a/", &segments));
  CHECK_FALSE(SplitPath("a", &segments));
  CHECK_FALSE(SplitPath("", &segments));
}

}  // namespace
}  // namespace annals::gateway
