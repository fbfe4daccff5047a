// The query string of a request (percent-decoding itself: annals/base/percent_encoding.h).
// Thread-safety: free functions, no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/base/percent_encoding.h"

namespace annals::gateway {

// A query string split at '&' and '=' and decoded. nullopt when a name or value has a malformed
// percent-encoding.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
std::optional<QueryParams> ParseQuery(std::string_view query);

}  // namespace annals::gateway
