#include "internal/router.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "annals/base/assert.h"
#include "annals/gateway/limits.h"
#include "internal/problem.h"
#include "internal/uri.h"

namespace annals::gateway {
namespace {

bool IsParameter(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// True when `path` matches `pattern`. Ranks the match for "literal first": `rank` gets one
// entry per segment, 1 for a literal, 0 for a parameter, compared lexicographically.
bool Matches(const std::vector<std::string>& pattern, const std::vector<std::string_view>& path,
             std::vector<int>* rank) {
  if (pattern.size() != path.size()) return false;
  rank->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    const bool parameter = IsParameter(pattern[i]);
    if (!parameter && pattern[i] != path[i]) return false;
    rank->push_back(parameter ? 0 : 1);
  }
  return true;
}

// Decodes the parameters of the matched route into `params`; a problem response on failure.
std::optional<Response> BindParameters(const std::vector<std::string>& pattern,
                                       const std::vector<std::string_view>& path,
                                       std::map<std::string, std::string, std::less<>>* params) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (!IsParameter(pattern[i])) continue;
    const std::string name = pattern[i].substr(1, pattern[i].size() - 2);
    auto value = PercentDecode(path[i], /*plus_is_space=*/false);
    if (!value) {
      return InvalidParameter(name, fmt::format("the path segment of {} has a malformed "
                                                "percent-encoding", name));
    }
    if (value->size() > kParameterBytesMax) {
      return InvalidParameter(name, fmt::format("{} is {} bytes long; at most {} are allowed",
                                                name, value->size(), kParameterBytesMax));
    }
    (*params)[name] = std::move(*value);
  }
  return std::nullopt;
}

}  // namespace

bool SplitPath(std::string_view path, std::vector<std::string_view>* segments) {
  segments->clear();
  if (path.empty() || path.front() != '/') return false;
  if (path == "/") return true;
  path.remove_prefix(1);
  for (;;) {
    const size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    if (segment.empty()) return false;
    segments->push_back(segment);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

void Router::Add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route{std::string(method), std::string(pattern), {}, std::move(handler)};
  std::vector<std::string_view> segments;
  ANNALS_ASSERT_MSG(SplitPath(pattern, &segments), "a route pattern is a path without empty segments");
  for (std::string_view s : segments) route.segments.emplace_back(s);
  for (const Route& r : routes_) {
    ANNALS_ASSERT_MSG(!(r.method == method && r.pattern == pattern), "route added twice");
  }
  routes_.push_back(std::move(route));
}

void Router::SetGuard(Guard guard) {
  ANNALS_ASSERT_MSG(!guard_, "one guard per router");
  guard_ = std::move(guard);
}

void Router::Dispatch(Request* request, const Reply& reply) const {
  if (!guard_) return DispatchUnguarded(request, reply);
  guard_(*request, reply, [this](Request& r, const Reply& rep) { DispatchUnguarded(&r, rep); });
}

void Router::DispatchUnguarded(Request* request, const Reply& reply) const {
  std::vector<std::string_view> path;
  const Route* best = nullptr;
  std::vector<int> best_rank;
  std::vector<int> rank;
  std::vector<std::string> allowed;
  if (SplitPath(request->path(), &path)) {
    for (const Route& route : routes_) {
      if (!Matches(route.segments, path, &rank)) continue;
      if (route.method != request->method) {
        allowed.push_back(route.method);
        continue;
      }
      if (best == nullptr || rank > best_rank) {
        best = &route;
        best_rank = rank;
      }
    }
  }
  if (best == nullptr && allowed.empty()) {
    return reply(Problem(ProblemKind::kNotFound,
                         fmt::format("no route for {} {}", request->method, request->path())));
  }
  if (best == nullptr) {
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    const std::string allow = fmt::format("{}", fmt::join(allowed, ", "));
    Response response = Problem(ProblemKind::kMethodNotAllowed,
                                fmt::format("{} allows {}", request->path(), allow));
    response.headers.emplace_back("Allow", allow);
    return reply(std::move(response));
  }
  if (auto problem = BindParameters(best->segments, path, &request->params)) {
    return reply(std::move(*problem));
  }
  best->handler(*request, reply);
}

std::vector<std::string> Router::Describe() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) out.push_back(r.method + " " + r.pattern);
  return out;
}

}  // namespace annals::gateway
