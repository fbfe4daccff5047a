// Projection: a named, versioned fold of the ledger into a view's rows.
//
// The runner (runner.h) calls Apply once per ledger position, in order, from the view's
// checkpoint, on one thread; the rows it writes through `txn` are committed with the new
// checkpoint in one WriteBatch. A projection must be deterministic: the same records give the
// same rows, whenever and however often they are folded (check and rebuild rely on it). So it
// reads only the record and its own rows: never the wall clock, never another view.
//
// An event a view does not understand (another type, data it cannot use, an event about a peer
// it does not know) is ignored, not an error: the ledger already refused malformed catalog
// events at append. Apply returns an error Status only when reading or writing rows fails.
//
// Bump version() whenever the rows a record gives change: the runner rebuilds the view at start
// when the stored version differs.
//
// Thread-safety: Apply, Commit and Abort run on the fold thread only. Query methods of a view
// (its own class) may be called from any thread concurrently with folding.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "annals/base/status.h"
#include "annals/eventstore/record.h"
#include "annals/projections/views_db.h"

namespace annals::projections {

// Who recorded an event, as the views see it (EVENTS.md, "Whose events a view reads").
struct FoldContext {
  // This registry's name: records whose origin is this (or empty) are its own events.
  std::string_view registry_name;
  bool IsOwn(const eventstore::Record& record) const {
    return record.origin().empty() || record.origin() == registry_name;
  }
};

class Projection {
 public:
  virtual ~Projection() = default;

  virtual std::string_view name() const = 0;
  virtual uint32_t version() const = 0;

  // Folds the event at record.position() into the rows.
  virtual Status Apply(const FoldContext& context, const eventstore::Record& record,
                       ViewTxn& txn) = 0;

  // False for an event type Apply ignores whatever the event says: the runner then passes such
  // records without decoding them. A view's Apply starts by asking it, so that the two never
  // disagree. Default: every type.
  virtual bool Wants(std::string_view type) const {
    (void)type;
    return true;
  }

  // Views that keep an in-memory cache of their rows (the agents text index) use these hooks;
  // the defaults do nothing.
  // Load: rebuilds the cache from the rows of `reader` (at open, before any fold).
  virtual Status Load(const ViewReader& reader) {
    (void)reader;
    return Status::Ok();
  }
  // Commit: the events applied since the last Commit or Abort are durable in the rows that
  // `reader` sees; the cache may now show them.
  virtual void Commit(const ViewReader& reader) { (void)reader; }
  // Abort: the events applied since the last Commit or Abort were not committed.
  virtual void Abort() {}
  // Bulk folds: the runner folds a shadow that nobody reads until it is swapped in (a rebuild,
  // a check) between BeginBulk and EndBulk, on a fresh projection with no rows. Meanwhile a
  // view may finish a Commit's cache work later, on a thread of its own. EndBulk returns once
  // every Commit so far shows in the cache; from then on each Commit is complete when it
  // returns. The defaults do nothing (Commit is always complete).
  virtual void BeginBulk() {}
  virtual void EndBulk() {}
};

}  // namespace annals::projections
