// The views a registry serves (DESIGN.md, "Views"): agents, peers, card-cache, compliance. The
// server and annalsctl run exactly these, so a query from either folds the same rows.
#pragma once

#include <vector>

#include "annals/projections/runner.h"

namespace annals::projections {

inline constexpr std::string_view kAgentsView = "agents";
inline constexpr std::string_view kPeersView = "peers";
inline constexpr std::string_view kCardCacheView = "card-cache";
inline constexpr std::string_view kComplianceView = "compliance";

std::vector<ViewSpec> RegistryViews();

}  // namespace annals::projections
