// Query parameters of a route, read strictly: a parameter the route does not read, or one given
// twice, is a 400 naming it (a misspelt "form=3" must not silently read from 1).
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "internal/http.h"
#include "internal/uri.h"

namespace annals::gateway {

// Decodes the query of `request` into `out`; a problem when it is malformed or names a
// parameter outside `known`, or one twice.
std::optional<Response> ReadQuery(const Request& request,
                                  std::initializer_list<std::string_view> known, QueryParams* out);

// The value of `name`, or nullptr when absent.
const std::string* QueryValue(const QueryParams& params, std::string_view name);

// `name` as a decimal in [min, max]; `fallback` when absent. A problem naming it otherwise.
std::optional<Response> ReadUint(const QueryParams& params, std::string_view name,
                                 uint64_t fallback, uint64_t min, uint64_t max, uint64_t* out);

}  // namespace annals::gateway
