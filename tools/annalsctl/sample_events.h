// A registry's history, generated: the events of the catalog (EVENTS.md) as a registry writes
// them (peers added with licenses and policy hashes; agents registered, updated, deprecated and
// removed; cards synced from peers, direct and discovered; registry cards fetched; syncs that
// succeed and fail; drift detected and resolved). Deterministic for a seed. Used by
// `annalsctl sample` (demos, the views crash test) and by `annalsctl bench` (the view workloads).
//
// Text follows a Zipf-like law over a fixed vocabulary, so that a discover query meets postings
// of every length, as in a real catalog.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "annals/eventstore/append.h"

namespace annals::tools {

struct SampleOptions {
  uint64_t agents = 1000;  // agents registered
  uint64_t peers = 5;      // peers added
  uint64_t seed = 1;
  // Only agent registrations and card updates (the rebuild-agents workload): no peers, no
  // lifecycle events. Default: false.
  bool agents_only = false;
};

class SampleHistory {
 public:
  explicit SampleHistory(const SampleOptions& options);

  // The next event of the history; false when the history is complete.
  bool Next(eventstore::ProposedEvent* event);

  // A query of one or two vocabulary words, drawn as the text is (for discover benchmarks).
  std::string Query();

 private:
  std::string Word();
  std::string Sentence(int words);
  std::string AgentData(uint64_t agent, uint64_t revision);
  std::string CardJson(uint64_t agent, const std::string& did);
  eventstore::ProposedEvent Event(const std::string& type, const std::string& stream,
                                  const std::string& data);
  void Plan();

  SampleOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::string> vocabulary_;
  std::vector<double> cumulative_;  // Zipf weights, cumulative
  std::deque<eventstore::ProposedEvent> pending_;
  uint64_t next_agent_ = 0;
  uint64_t next_id_ = 0;
  uint64_t seconds_ = 0;  // event time, advancing
  bool peers_done_ = false;
};

}  // namespace annals::tools
