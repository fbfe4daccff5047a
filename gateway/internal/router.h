// Routes requests to handlers by method and path pattern. A pattern is a path whose segments
// are literals or `{name}` parameters ("/api/v1/streams/{stream}/events"); a parameter matches
// one non-empty segment, percent-decoded into Request::params (so "%2F" in a stream name is a
// '/', never a segment break). When several patterns match, the one with a literal at the
// first segment where they differ wins ("/api/v1/events/live" before "/api/v1/events/{position}").
//
// A guard (SetGuard) sees every request before it is routed: access control (internal/auth.h)
// lives there, so that no route area can forget it.
//
// Thread-safety: Add and SetGuard only before serving; Dispatch from any number of threads.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "internal/http.h"

namespace annals::gateway {

// A check run on every request before routing. It either answers the request itself through
// `reply` (a refusal), or calls `route(request, reply)` exactly once, now or later and from any
// thread; a guard that defers moves the request into storage that lives until it calls `route`,
// and keeps a copy of `route` (valid while the Router is).
using Guard = std::function<void(Request& request, const Reply& reply, const Handler& route)>;

class Router {
 public:
  // Adds a route. REQUIRES: `pattern` starts with '/', has no empty segment, and the same
  // method and pattern were not added before.
  void Add(std::string_view method, std::string_view pattern, Handler handler);

  // Runs every request through `guard` before routing it (default: none). One guard at most.
  void SetGuard(Guard guard);

  // Passes the request through the guard, then fills request->params and calls the matching
  // handler with `reply`. No pattern matches the path: 404. Patterns match but not for this
  // method: 405 with Allow. A parameter with a malformed percent-encoding, or longer than
  // kParameterBytesMax decoded: 400. All problems.
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
  // Dispatch without the guard.
  void DispatchUnguarded(Request* request, const Reply& reply) const;

  std::vector<Route> routes_;
  Guard guard_;
};

// The segments of a path ("/a/b" -> {"a", "b"}); "/" has none. An empty segment ("/a//b", a
// trailing '/') makes the path match no pattern: returns false.
bool SplitPath(std::string_view path, std::vector<std::string_view>* segments);

}  // namespace annals::gateway
