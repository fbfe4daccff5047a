// Routes requests to handlers by method and path pattern. A pattern is a path whose segments
// are literals or `{name}` parameters ("/api/v1/streams/{stream}/events"); a parameter matches
// one non-empty segment, percent-decoded into Request::params (so "%2F" in a stream name is a
// '/', never a segment break). When several patterns match, the one with a literal at the
// first segment where they differ wins ("/api/v1/events/live" before "/api/v1/events/{position}").
//
// Thread-safety: Add only before serving; Dispatch from any number of threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "internal/http.h"

namespace annals::gateway {

class Router {
 public:
  // Adds a route. REQUIRES: `pattern` starts with '/', has no empty segment, and the same
  // method and pattern were not added before.
  void Add(std::string_view method, std::string_view pattern, Handler handler);

  // Fills request->params and calls the matching handler with `reply`. No pattern matches the
  // path: 404. Patterns match but not for this method: 405 with Allow. A parameter with a
  // malformed percent-encoding, or longer than kParameterBytesMax decoded: 400. All problems.
  void Dispatch(Request* request, const Reply& reply) const;

  // The routes as "METHOD pattern", in the order added (for documentation checks and logs).
  std::vector<std::string> Describe() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for a parameter
    Handler handler;
  };
  std::vector<Route> routes_;
};

// The segments of a path ("/a/b" -> {"a", "b"}); "/" has none. An empty segment ("/a//b", a
// trailing '/') makes the path match no pattern: returns false.
bool SplitPath(std::string_view path, std::vector<std::string_view>* segments);

}  // namespace annals::gateway
