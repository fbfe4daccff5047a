// SampleHistory (sample_events.h): a deterministic registry history.
#include "sample_events.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "annals/eventstore/cloudevent.h"
#include "commands.h"

namespace annals::tools {

namespace es = annals::eventstore;

namespace {

// The vocabulary: real words first (the frequent ones under the Zipf law), then generated ones
// for the long tail.
constexpr const char* kWords[] = {
    "agent", "translate", "summarize", "invoice", "search", "schedule", "payment", "document",
    "legal", "medical", "code", "review", "audit", "contract", "image", "speech", "weather",
    "travel", "booking", "support", "ticket", "email", "calendar", "finance", "tax", "report",
    "analytics", "forecast", "inventory", "shipping", "customs", "compliance", "risk", "fraud",
    "identity", "kyc", "onboarding", "recruiting", "resume", "interview", "tutor", "math",
    "physics", "chemistry", "biology", "genomics", "protein", "drug", "trial", "clinical",
    "radiology", "pathology", "insurance", "claims", "underwriting", "mortgage", "loan", "credit",
    "trading", "portfolio", "crypto", "wallet", "token", "ledger", "energy", "grid", "solar",
    "battery", "fleet", "routing", "maps", "geocode", "satellite", "drone", "robot", "warehouse",
    "retail", "pricing", "marketing", "seo", "copywriting", "social", "moderation", "sentiment",
    "survey", "research", "patent", "citation", "library", "archive", "ocr", "pdf", "spreadsheet",
    "database", "sql", "etl", "pipeline", "monitoring", "alerting", "incident", "security"};
constexpr size_t kGeneratedWords = 2000;
constexpr double kZipfExponent = 1.0;
// Seconds between consecutive events' `time`.
constexpr uint64_t kSecondsPerEvent = 7;
constexpr int64_t kEpochSeconds = 1767225600;  // 2026-01-01T00:00:00Z

std::string Did(uint64_t agent) { return "did:web:agents.example:a" + std::to_string(agent); }
std::string PeerId(uint64_t peer) { return "peer-" + std::to_string(peer); }

}  // namespace

SampleHistory::SampleHistory(const SampleOptions& options) : options_(options), rng_(options.seed) {
  for (const char* w : kWords) vocabulary_.emplace_back(w);
  for (size_t i = 0; i < kGeneratedWords; ++i) vocabulary_.push_back("term" + std::to_string(i));
  double sum = 0;
  for (size_t rank = 1; rank <= vocabulary_.size(); ++rank) {
    sum += 1.0 / std::pow(static_cast<double>(rank), kZipfExponent);
    cumulative_.push_back(sum);
  }
  if (options_.agents_only || options_.peers == 0) peers_done_ = true;
}

std::string SampleHistory::Word() {
  std::uniform_real_distribution<double> u(0, cumulative_.back());
  size_t i = std::lower_bound(cumulative_.begin(), cumulative_.end(), u(rng_)) - cumulative_.begin();
  return vocabulary_[std::min(i, vocabulary_.size() - 1)];
}

std::string SampleHistory::Sentence(int words) {
  std::string out;
  for (int i = 0; i < words; ++i) {
    if (i) out.push_back(' ');
    out += Word();
  }
  return out;
}

std::string SampleHistory::Query() {
  return std::uniform_int_distribution<int>(0, 1)(rng_) ? Word() : Word() + " " + Word();
}

std::string SampleHistory::CardJson(uint64_t agent, const std::string& did) {
  JsonWriter w;
  w.BeginObject()
      .Member("name", "agent-" + std::to_string(agent))
      .Member("url", "https://agents.example/a" + std::to_string(agent))
      .Member("version", "1.0.0")
      .Member("did", did)
      .EndObject();
  return w.Release();
}

std::string SampleHistory::AgentData(uint64_t agent, uint64_t revision) {
  std::string did = Did(agent);
  JsonWriter w;
  w.BeginObject()
      .Member("did", did)
      .Member("name", Word() + "-" + Word() + "-" + std::to_string(agent))
      .Member("description", Sentence(12))
      .Member("version", "1." + std::to_string(revision) + ".0")
      .Member("url", "https://agents.example/a" + std::to_string(agent));
  w.Key("skills").BeginArray();
  int skills = std::uniform_int_distribution<int>(1, 3)(rng_);
  for (int s = 0; s < skills; ++s) {
    w.BeginObject()
        .Member("id", "skill-" + std::to_string(s))
        .Member("name", Word() + " " + Word())
        .Member("description", Sentence(6));
    w.Key("tags").BeginArray().String(Word()).String(Word()).EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("tags").BeginArray().String(Word()).String(Word()).String(Word()).EndArray();
  w.Key("provider").BeginObject().Member("organization", "Org " + Word()).Member("url", "https://org.example").EndObject();
  w.Key("card").Raw(CardJson(agent, did));
  w.EndObject();
  return w.Release();
}

es::ProposedEvent SampleHistory::Event(const std::string& type, const std::string& stream,
                                       const std::string& data) {
  es::ProposedEvent p;
  p.event.set_spec_version("1.0");
  p.event.set_type(type);
  p.event.set_source("https://registry.example/annals/sample");
  p.event.set_id("sample-" + std::to_string(options_.seed) + "-" + std::to_string(next_id_++));
  auto& attributes = *p.event.mutable_attributes();
  attributes["datacontenttype"].set_ce_string("application/json");
  attributes["subject"].set_ce_string(stream);
  auto* time = attributes["time"].mutable_ce_timestamp();
  time->set_seconds(kEpochSeconds + static_cast<int64_t>(seconds_));
  seconds_ += kSecondsPerEvent;
  p.event.set_text_data(data);
  p.stream = stream;
  return p;
}

void SampleHistory::Plan() {
  if (!peers_done_) {
    peers_done_ = true;
    pending_.push_back(Event("registry.compliance.policy_hash_published.v1", "compliance-self",
                             R"({"peer_id":"self","policy_hash":"sha256:local-1"})"));
    for (uint64_t p = 0; p < options_.peers; ++p) {
      std::string id = PeerId(p);
      JsonWriter w;
      w.BeginObject()
          .Member("peer_id", id)
          .Member("name", "Registry " + std::to_string(p))
          .Member("base_url", "https://" + id + ".example")
          .Member("spiffe_id", "spiffe://" + id + ".example/registry")
          .Member("kind", p == 0 ? "frame" : "operator")
          .Member("relation", p % 3 == 2 ? "discovered" : "direct")
          .EndObject();
      pending_.push_back(Event("registry.peer.added.v1", "peer-" + id, w.Release()));
      // The license key itself is never in an event: only its hash (EVENTS.md, "Licenses").
      const std::string key_sha256 = ToHex(Sha256("tp_fed_sample_" + id));
      pending_.push_back(Event("registry.license.issued.v1", "license-lic-" + id,
                               R"({"license_id":"lic-)" + id + R"(","peer_id":")" + id +
                                   R"(","key_sha256":")" + key_sha256 + R"(","tier":"standard"})"));
      pending_.push_back(Event("registry.compliance.policy_hash_published.v1", "compliance-" + id,
                               R"({"peer_id":")" + id + R"(","policy_hash":"sha256:local-1"})"));
    }
    return;
  }
  if (next_agent_ >= options_.agents) return;
  uint64_t agent = next_agent_++;
  pending_.push_back(Event("registry.agent.registered.v1", "agent-" + Did(agent), AgentData(agent, 0)));
  std::uniform_int_distribution<int> percent(0, 99);
  auto earlier = [&] { return std::uniform_int_distribution<uint64_t>(0, agent)(rng_); };
  if (percent(rng_) < 10) {
    uint64_t a = earlier();
    pending_.push_back(Event("registry.agent.card_updated.v1", "agent-" + Did(a), AgentData(a, 1)));
  }
  if (options_.agents_only) return;
  if (percent(rng_) < 3) {
    uint64_t a = earlier();
    pending_.push_back(Event("registry.agent.deprecated.v1", "agent-" + Did(a),
                             R"({"did":")" + Did(a) + R"(","reason":"superseded"})"));
  }
  if (percent(rng_) < 1) {
    uint64_t a = earlier();
    pending_.push_back(Event("registry.agent.removed.v1", "agent-" + Did(a), R"({"did":")" + Did(a) + R"("})"));
  }
  if (options_.peers == 0) return;
  std::string peer = PeerId(agent % options_.peers);
  if (agent % 50 == 49) {
    // A sync cycle with this peer: its cards (some are its own, some discovered through it).
    JsonWriter w;
    w.BeginObject()
        .Member("peer_id", peer)
        .Member("source_registry", "Registry " + std::to_string(agent % options_.peers))
        .Member("relation", agent % 100 == 99 ? "discovered" : "direct");
    w.Key("cards").BeginArray();
    for (int c = 0; c < 5; ++c) {
      std::string did = "did:web:" + peer + ".example:f" + std::to_string(agent * 5 + c);
      w.BeginObject()
          .Member("did", did)
          .Member("name", Word() + "-" + Word())
          .Member("description", Sentence(10));
      w.Key("skills").BeginArray().BeginObject().Member("id", "s0").Member("name", Word()).EndObject().EndArray();
      w.Key("tags").BeginArray().String(Word()).EndArray();
      w.Key("card").Raw(CardJson(agent * 5 + c, did));
      w.EndObject();
    }
    w.EndArray().EndObject();
    pending_.push_back(Event("registry.federation.agent_cards_synced.v1", "cards-" + peer, w.Release()));
    pending_.push_back(Event("registry.peer.sync_succeeded.v1", "peer-" + peer,
                             R"({"peer_id":")" + peer + R"(","cards_pulled":5})"));
  }
  if (agent % 200 == 199) {
    pending_.push_back(Event("registry.peer.sync_failed.v1", "peer-" + peer,
                             R"({"peer_id":")" + peer + R"(","error":"connection refused"})"));
  }
  if (agent % 500 == 499) {
    pending_.push_back(Event(
        "registry.compliance.drift_detected.v1", "compliance-" + peer,
        R"({"peer_id":")" + peer +
            R"(","local_policy_hash":"sha256:local-1","peer_policy_hash":"sha256:peer-2","divergent_agents":3,"threshold":0.05})"));
    pending_.push_back(Event("registry.federation.registry_card_fetched.v1", "cards-" + peer,
                             R"({"peer_id":")" + peer + R"(","etag":"\")" + std::to_string(agent) +
                                 R"(\"","card":{"name":"Registry"},"verdict":"verified","reason":""})"));
  }
  if (agent % 500 == 0 && agent > 0) {
    pending_.push_back(Event("registry.compliance.drift_resolved.v1", "compliance-" + peer,
                             R"({"peer_id":")" + peer + R"("})"));
  }
}

bool SampleHistory::Next(es::ProposedEvent* event) {
  if (pending_.empty()) Plan();
  if (pending_.empty()) return false;
  *event = std::move(pending_.front());
  pending_.pop_front();
  return true;
}

}  // namespace annals::tools

namespace annals::tools {

int RunSample(const SampleArgs& args) {
  SampleOptions options;
  options.agents = args.agents;
  options.peers = args.peers;
  options.seed = args.seed;
  SampleHistory history(options);
  es::ProposedEvent event;
  std::string out;
  while (history.Next(&event)) {
    out = es::CloudEventToJson(event.event);
    out.push_back('\n');
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) return kExitError;
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitError;
}

}  // namespace annals::tools
