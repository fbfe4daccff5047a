#include "annals/projections/registry_views.h"

#include "annals/projections/agents.h"
#include "annals/projections/card_cache.h"
#include "annals/projections/compliance.h"
#include "annals/projections/peers.h"

namespace annals::projections {

std::vector<ViewSpec> RegistryViews() {
  std::vector<ViewSpec> views;
  views.push_back({std::string(kAgentsView), [] { return MakeAgentsView(); }});
  views.push_back({std::string(kPeersView), [] { return MakePeersView(); }});
  views.push_back({std::string(kCardCacheView), [] { return MakeCardCacheView(); }});
  views.push_back({std::string(kComplianceView), [] { return MakeComplianceView(); }});
  return views;
}

}  // namespace annals::projections
