#include "internal/query.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "annals/base/coding.h"
#include "internal/problem.h"

namespace annals::gateway {

std::optional<Response> ReadQuery(const Request& request,
                                  std::initializer_list<std::string_view> known, QueryParams* out) {
  auto params = ParseQuery(request.query());
  if (!params) return InvalidParameter("query", "the query string has a malformed percent-encoding");
  for (size_t i = 0; i < params->size(); ++i) {
    const std::string& name = (*params)[i].first;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return InvalidParameter(name, fmt::format("{} takes the parameters {}; not {}",
                                                request.path(), fmt::join(known, ", "), name));
    }
    for (size_t j = 0; j < i; ++j) {
      if ((*params)[j].first == name) {
        return InvalidParameter(name, fmt::format("the parameter {} is given twice", name));
      }
    }
  }
  *out = std::move(*params);
  return std::nullopt;
}

const std::string* QueryValue(const QueryParams& params, std::string_view name) {
  for (const auto& [n, value] : params) {
    if (n == name) return &value;
  }
  return nullptr;
}

std::optional<Response> ReadUint(const QueryParams& params, std::string_view name,
                                 uint64_t fallback, uint64_t min, uint64_t max, uint64_t* out) {
  const std::string* text = QueryValue(params, name);
  if (text == nullptr) {
    *out = fallback;
    return std::nullopt;
  }
  const std::optional<uint64_t> value = ParseDecimal(*text);
  if (!value || *value < min || *value > max) {
    return InvalidParameter(name, fmt::format("{} must be a whole number from {} to {}, not '{}'",
                                              name, min, max, *text));
  }
  *out = *value;
  return std::nullopt;
}

}  // namespace annals::gateway
