// The floor of an agents rebuild: the least CPU any rebuild of the agents view must spend on
// each event after reading it, step by step, each step at its library's speed on one core.
// `annalsctl bench` (rebuild-agents) reports it beside the rebuild, so that the rebuild's target
// (a ratio to a raw scan of the ledger) can be read against what the machine allows at all:
// with C cores and the raw scan taking s per record, no rebuild can beat
// (s + total_us) / C per event, however it is built (docs/BENCHMARKS.md, "The views").
//
// What each step does, and what it leaves out so that the floor stays below any real rebuild:
//   parse     simdjson (DOM) parses the event's data. Left out: decoding the record around it
//             (the data is copied out of the records before the clock starts).
//   tokenize  the text Discover searches (name, description, skill names and tags, tags) cut
//             into tokens by the view's tokenizer, each event's distinct terms collected.
//             Left out: the card fallbacks, field weights.
//   index     the view's text index takes each event's terms (TextIndex::Upsert).
//   row       RocksDB WriteBatches of kFoldBatchEventsMax rows (a fold batch's), keyed by did,
//             into a fresh database with the views database's options; each row is the event's
//             data, shorter than the view's row. Left out: rendering the row, the precedence
//             rules, the flush to SST files.
// Events of other types than agent registrations and card updates are passed over.
//
// Thread-safety: a plain function; it reads the ledger through its thread-safe Scan.
#pragma once

#include <cstdint>
#include <string>

#include "annals/base/status.h"
#include "annals/eventstore/ledger.h"

namespace annals::projections {

struct RebuildFloor {
  uint64_t events = 0;  // the events the steps ran over
  double parse_us = 0;  // each: microseconds of one core per event
  double tokenize_us = 0;
  double index_us = 0;
  double row_us = 0;
  double total_us() const { return parse_us + tokenize_us + index_us + row_us; }
};

// Runs the steps over the agent events of `ledger` (at most `events_max` of them, held in
// memory meanwhile); `scratch_dir` is created for the row step's database and removed after.
Result<RebuildFloor> MeasureRebuildFloor(const eventstore::Ledger& ledger,
                                         const std::string& scratch_dir, uint64_t events_max);

}  // namespace annals::projections
