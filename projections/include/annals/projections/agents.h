// The agents view: discovery over the union of this registry's own agents and the federated
// agents it knows (replicated from peers, synced from peers, or announced by OSSA registry
// pods). The rules, the rows and the JSON are in docs/views/agents.md.
//
// Rows (one per did, key "a/<did>") hold the agent document as the queries serve it. The text
// index behind Discover lives in memory and is derived from the rows: by Load from all of them,
// and by Commit from the rows Apply wrote since the last Commit (Abort drops them). Each Commit
// also pins a snapshot of the rows at the committed position, and every query reads that
// snapshot and the index together, so an answer is the view at exactly the position it reports.
// In a bulk fold (BeginBulk..EndBulk: a rebuild's or a check's shadow, which nobody queries)
// Commit hands the rows to a thread of the view's own, which indexes them in commit order while
// the fold goes on; EndBulk waits for it.
//
// Thread-safety: Apply, Load, Commit and Abort run on the fold thread (projection.h). AgentJson
// and DiscoverJson may be called from any number of threads at any time, also while the view
// folds; before the first Load or Commit they answer as an empty view at position 0.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "annals/base/status.h"
#include "annals/projections/projection.h"

namespace annals::projections {

// Discover's page size: `limit` must be in [1, kDiscoverLimitMax]; callers that were given no
// limit pass kDiscoverLimitDefault.
inline constexpr size_t kDiscoverLimitDefault = 20;
inline constexpr size_t kDiscoverLimitMax = 100;
// Discover's query text: at most this many bytes, and this many distinct terms.
inline constexpr size_t kDiscoverQueryBytesMax = 1024;
inline constexpr size_t kDiscoverQueryTermsMax = 32;

static_assert(kDiscoverLimitDefault >= 1 && kDiscoverLimitDefault <= kDiscoverLimitMax);

class AgentsView : public Projection {
 public:
  // {"position":N,"agent":{...}}: the agent of `did`. NotFound when the view has no such agent
  // (never registered, or removed); InvalidArgument for an empty did.
  virtual Result<std::string> AgentJson(std::string_view did) const = 0;

  // {"position":N,"query":"...","total":T,"agents":[{...,"score":S}],"next_cursor":"..."|null}:
  // one page of the ranking of `text` (every agent in did order when `text` has no terms).
  // `cursor` is "" for the first page, else a next_cursor of an earlier answer for the same text.
  // InvalidArgument for a limit outside [1, kDiscoverLimitMax], a text over
  // kDiscoverQueryBytesMax or kDiscoverQueryTermsMax, or a cursor this text did not give.
  virtual Result<std::string> DiscoverJson(std::string_view text, size_t limit,
                                           std::string_view cursor) const = 0;
};

// The view named "agents". Runner::Live("agents") gives it back as a Projection: downcast with
// std::dynamic_pointer_cast<AgentsView>.
std::unique_ptr<Projection> MakeAgentsView();

}  // namespace annals::projections
