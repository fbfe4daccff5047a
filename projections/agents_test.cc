// Goal: the agents view keeps the discovery rules of docs/views/agents.md: local agents and
// federated ones (replicated from a peer, synced, announced over OSSA) in one index; a local
// agent is never replaced by a federated card and a direct card never by a discovered one, in
// every order; removal hides an agent, deprecation flags it and ranks it after active agents of
// equal score; unknown types and unusable data are ignored; the ranking is deterministic and a
// cursor pages through it; queries answered while the view folds are consistent with the
// position they report; and Load after a reopen answers exactly as before.
#include "annals/projections/agents.h"
#include "annals/projections/limits.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "annals/projections/rebuild_floor.h"
#include "annals/projections/runner.h"
#include "annals/testing/views_fixture.h"
#include "internal/text_index.h"

namespace annals::projections {
namespace {

// Data of registry.agent.registered.v1 / card_updated.v1 with every field the catalog asks for.
std::string AgentData(std::string_view did, std::string_view name,
                      std::string_view description = "An agent",
                      std::string_view skill = "chat", std::string_view tags = R"(["general"])",
                      std::string_view card = R"({"protocolVersion":"0.3.0"})") {
  return std::string(R"({"did":")") + std::string(did) + R"(","name":")" + std::string(name) +
         R"(","description":")" + std::string(description) +
         R"(","version":"1.0.0","url":"https://agents.example/)" + std::string(name) +
         R"(","skills":[{"id":"s1","name":")" + std::string(skill) +
         R"(","description":"a skill","tags":["skilltag"]}],"tags":)" + std::string(tags) +
         R"(,"provider":{"organization":"Example","url":"https://example.org"},"card":)" +
         std::string(card) + "}";
}

// Data of registry.federation.agent_cards_synced.v1 with one card.
std::string SyncData(std::string_view peer_id, std::string_view source_registry,
                     std::string_view relation, std::string_view did, std::string_view name,
                     std::string_view card = R"({"name":"from the card"})") {
  return std::string(R"({"peer_id":")") + std::string(peer_id) + R"(","source_registry":")" +
         std::string(source_registry) + R"(","relation":")" + std::string(relation) +
         R"(","cards":[{"did":")" + std::string(did) + R"(","name":")" + std::string(name) +
         R"(","description":"synced","skills":[{"id":"s1","name":"chat"}],"tags":["general"],)"
         R"("card":)" + std::string(card) + "}]}";
}

std::string OssaData(std::string_view name, std::string_view version,
                     std::string_view capabilities = R"(["financial-analysis","risk-assessment"])") {
  return std::string(R"({"agent":{"name":")") + std::string(name) +
         R"(","namespace":"acme-corp","version":")" + std::string(version) +
         R"(","digest":"sha256:a1b2","capabilities":)" + std::string(capabilities) +
         R"(,"trustTier":"verified","registryUrl":"registry.acme.com/agents/)" +
         std::string(name) + R"("}})";
}

// A value inside a JSON text, by JSON pointer: a string as its text, anything else as minified
// JSON, "<missing>" when absent.
std::string At(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE_MESSAGE(parser.parse(json).get(root) == simdjson::SUCCESS, json);
  simdjson::dom::element value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) return "<missing>";
  std::string_view text;
  if (value.get_string().get(text) == simdjson::SUCCESS) return std::string(text);
  return simdjson::minify(value);
}

struct Page {
  uint64_t position = 0;
  uint64_t total = 0;
  std::vector<std::string> dids;
  std::vector<double> scores;
  std::string next_cursor;  // "" for null
};

Page ParsePage(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE_MESSAGE(parser.parse(json).get(root) == simdjson::SUCCESS, json);
  Page page;
  REQUIRE(root["position"].get_uint64().get(page.position) == simdjson::SUCCESS);
  REQUIRE(root["total"].get_uint64().get(page.total) == simdjson::SUCCESS);
  simdjson::dom::array agents;
  REQUIRE(root["agents"].get_array().get(agents) == simdjson::SUCCESS);
  for (simdjson::dom::element agent : agents) {
    std::string_view did;
    double score = 0;
    REQUIRE(agent["did"].get_string().get(did) == simdjson::SUCCESS);
    REQUIRE(agent["score"].get_double().get(score) == simdjson::SUCCESS);
    page.dids.emplace_back(did);
    page.scores.push_back(score);
  }
  std::string_view next;
  if (root["next_cursor"].get_string().get(next) == simdjson::SUCCESS) page.next_cursor = next;
  return page;
}

// A ledger of registry "home" with the agents view over it.
struct Fixture : testing::ViewsFixture {
  Fixture() : ViewsFixture({{"agents", [] { return MakeAgentsView(); }}}) {}

  // Appends one event, event n at second n of 2026; `origin` non-empty: replicated from that
  // peer.
  uint64_t Append(std::string_view type, const std::string& data, std::string_view origin = "",
                  std::string_view source = "/registry") {
    return ViewsFixture::Append({.type = type,
                                 .data = data,
                                 .time_seconds = 1767225600 + appended + 1,
                                 .origin = origin,
                                 .source = source});
  }

  std::shared_ptr<AgentsView> View() {
    REQUIRE(runner->CatchUp("agents", 0).ok());
    auto live = runner->Live("agents");
    REQUIRE(live.ok());
    auto view = std::dynamic_pointer_cast<AgentsView>(*live);
    REQUIRE(view != nullptr);
    return view;
  }

  // The agent document, or "" when the view has none.
  std::string Agent(std::string_view did) {
    auto json = View()->AgentJson(did);
    if (!json.ok()) {
      REQUIRE(json.status().code() == StatusCode::kNotFound);
      return "";
    }
    return At(*json, "/agent");
  }

  Page Discover(std::string_view text, size_t limit = 100, std::string_view cursor = "") {
    auto json = View()->DiscoverJson(text, limit, cursor);
    REQUIRE_MESSAGE(json.ok(), json.status().ToString());
    return ParsePage(*json);
  }
};

// ---------------------------------------------------------------------------------------------

TEST_CASE("text index: tokens of random text equal those of a byte-at-a-time reference") {
  // The reference: a run of ASCII letters and digits, lower-cased, cut at kTokenBytesMax (the
  // rest of the run skipped); every other byte separates.
  auto reference = [](std::string_view text) {
    std::vector<std::string> tokens;
    std::string token;
    bool cut = false;
    for (char c : text) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        if (!token.empty()) tokens.push_back(token);
        token.clear();
        cut = false;
      } else if (!cut) {
        token.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        if (token.size() == internal::kTokenBytesMax) {
          tokens.push_back(token);
          token.clear();
          cut = true;
        }
      }
    }
    if (!token.empty()) tokens.push_back(token);
    return tokens;
  };
  std::mt19937 rng(11);
  const std::string alphabet = "aZ9 -_.\xc3\xa9\t";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int runs = std::uniform_int_distribution<int>(0, 8)(rng);
    for (int r = 0; r < runs; ++r) {
      // Runs of one to 140 bytes: some longer than kTokenBytesMax.
      const int length = std::uniform_int_distribution<int>(1, 140)(rng);
      for (int k = 0; k < length; ++k) {
        const size_t pick = std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng);
        text.push_back(alphabet[pick]);
      }
      text.push_back(' ');
    }
    std::vector<std::string> tokens;
    internal::Tokenize(text, [&](std::string_view token) { tokens.emplace_back(token); });
    REQUIRE(tokens == reference(text));
  }
}

TEST_CASE("text index: tokens, and every page equals a brute-force ranking") {
  CHECK(internal::DistinctTokens("Translate-EN-FR, translate! x\xc3\xa9y") ==
        std::vector<std::string>{"en", "fr", "translate", "x", "y"});
  CHECK(internal::DistinctTokens(std::string(70, 'a') + " b") ==
        std::vector<std::string>{std::string(internal::kTokenBytesMax, 'a'), "b"});
  // Random upserts, removals and demotions over a small vocabulary (many ties), checked after
  // each step against the ranking computed from a plain map.
  struct Doc {
    bool demoted;
    std::map<std::string, uint32_t> terms;
  };
  std::map<std::string, Doc> model;
  internal::TextIndex index;
  std::mt19937 rng(7);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<std::string> vocabulary = {"a", "b", "c", "d", "e", "f"};
  for (int step = 0; step < 600; ++step) {
    std::string key = "k" + std::to_string(pick(40));
    if (pick(4) == 0) {
      index.Remove(key);
      model.erase(key);
    } else {
      Doc doc{pick(3) == 0, {}};
      for (const auto& term : vocabulary) {
        if (pick(2)) doc.terms[term] = static_cast<uint32_t>(1 + pick(6));
      }
      std::vector<internal::TermWeight> terms;
      for (const auto& [term, weight] : doc.terms) terms.push_back({term, weight});
      index.Upsert(key, doc.demoted, terms);
      model[key] = doc;
    }
    REQUIRE(index.size() == model.size());
    std::vector<std::string> query = {vocabulary[pick(6)], vocabulary[pick(6)]};
    std::sort(query.begin(), query.end());
    query.erase(std::unique(query.begin(), query.end()), query.end());
    struct Expected {
      double score;
      bool demoted;
      std::string key;
    };
    std::vector<Expected> expected;
    for (const auto& [k, doc] : model) {
      double score = 0;
      for (const auto& term : query) {
        auto it = doc.terms.find(term);
        if (it == doc.terms.end()) continue;
        double holders = 0;
        for (const auto& [other, other_doc] : model) holders += other_doc.terms.count(term);
        score += it->second * std::log1p(static_cast<double>(model.size()) / holders);
      }
      if (score > 0) expected.push_back({score, doc.demoted, k});
    }
    std::sort(expected.begin(), expected.end(), [](const Expected& x, const Expected& y) {
      if (x.score != y.score) return x.score > y.score;
      if (x.demoted != y.demoted) return !x.demoted;
      return x.key < y.key;
    });
    size_t offset = static_cast<size_t>(pick(8));
    size_t limit = static_cast<size_t>(1 + pick(6));
    auto page = index.Search(query, offset, limit);
    CHECK(page.total == expected.size());
    std::vector<std::string> want;
    for (size_t i = offset; i < std::min(expected.size(), offset + limit); ++i) {
      want.push_back(expected[i].key);
    }
    std::vector<std::string> got;
    for (const auto& hit : page.hits) got.push_back(hit.key);
    CHECK(got == want);
  }
}

TEST_CASE("precedence: local > direct > discovered, in every order") {
  // Three sources for the same did: this registry's own registration, a peer's replicated
  // registration (direct), and a discovered copy synced through a fan-out.
  struct SourceEvent {
    std::string relation;
    std::string name;
  };
  std::vector<int> order = {0, 1, 2};
  do {
    for (size_t count = 2; count <= 3; ++count) {
      Fixture f;
      std::string best = "discovered";
      std::string expected_name;
      int best_rank = 99;
      for (size_t i = 0; i < count; ++i) {
        int which = order[i];
        if (which == 0) {
          f.Append("registry.agent.registered.v1", AgentData("did:x:1", "LocalName"));
        } else if (which == 1) {
          f.Append("registry.agent.registered.v1", AgentData("did:x:1", "DirectName"), "peer-a");
        } else {
          f.Append("registry.federation.agent_cards_synced.v1",
                   SyncData("peer-q", "registry-q", "discovered", "did:x:1", "DiscoveredName"));
        }
        if (which < best_rank) {
          best_rank = which;
          best = which == 0 ? "local" : which == 1 ? "direct" : "discovered";
          expected_name = which == 0 ? "LocalName" : which == 1 ? "DirectName" : "DiscoveredName";
        }
      }
      std::string agent = f.Agent("did:x:1");
      INFO("order ", order[0], order[1], order[2], " count ", count, ": ", agent);
      CHECK(At(agent, "/relation") == best);
      CHECK(At(agent, "/name") == expected_name);
      if (best == "local") {
        CHECK(At(agent, "/card_data/federation_metadata") == "<missing>");
        CHECK(At(agent, "/source_registry") == "<missing>");
      } else {
        std::string registry = best == "direct" ? "peer-a" : "registry-q";
        CHECK(At(agent, "/source_registry") == registry);
        CHECK(At(agent, "/card_data/federation_metadata/source_registry") == registry);
        CHECK(At(agent, "/card_data/federation_metadata/relation") == best);
      }
      Page page = f.Discover(expected_name);
      CHECK(page.dids == std::vector<std::string>{"did:x:1"});
    }
  } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("precedence: a synced direct card is never replaced by a discovered one") {
  Fixture f;
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-p", "registry-p", "direct", "did:x:2", "Home"));
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-q", "registry-p", "discovered", "did:x:2", "StaleMirror"));
  CHECK(At(f.Agent("did:x:2"), "/name") == "Home");
  // Another direct sync may replace it (the newest direct card wins).
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-p", "registry-p", "direct", "did:x:2", "HomeEdited"));
  std::string agent = f.Agent("did:x:2");
  CHECK(At(agent, "/name") == "HomeEdited");
  CHECK(At(agent, "/peer_id") == "peer-p");
}

TEST_CASE("a peer's federation events are history: only this registry's own sync counts") {
  Fixture f;
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-p", "registry-p", "direct", "did:x:3", "Replicated"), "peer-b");
  CHECK(f.Agent("did:x:3").empty());
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-p", "registry-p", "direct", "did:x:3", "Own"));
  f.Append("registry.federation.agent_card_removed.v1",
           R"({"peer_id":"peer-p","did":"did:x:3"})", "peer-b");
  CHECK(At(f.Agent("did:x:3"), "/name") == "Own");
}

TEST_CASE("removal: gone from Get and Discover, only by the agent's own source") {
  Fixture f;
  f.Append("registry.agent.registered.v1", AgentData("did:l:1", "Translator"));
  f.Append("registry.agent.registered.v1", AgentData("did:p:1", "Translator"), "peer-a");
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("peer-q", "registry-q", "direct", "did:s:1", "Translator"));
  CHECK(f.Discover("translator").total == 3);
  // Not their source: ignored.
  f.Append("registry.agent.removed.v1", R"({"did":"did:l:1"})", "peer-a");
  f.Append("registry.agent.removed.v1", R"({"did":"did:p:1"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:p:1"})", "peer-other");
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"peer-x","did":"did:s:1"})");
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"peer-q","did":"did:l:1"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:never"})");
  CHECK(f.Discover("translator").total == 3);
  // Their source: removed.
  f.Append("registry.agent.removed.v1", R"({"did":"did:l:1"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:p:1"})", "peer-a");
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"peer-q","did":"did:s:1"})");
  CHECK(f.Agent("did:l:1").empty());
  CHECK(f.Agent("did:p:1").empty());
  CHECK(f.Agent("did:s:1").empty());
  Page page = f.Discover("translator");
  CHECK(page.total == 0);
  CHECK(page.dids.empty());
  CHECK(f.Discover("").total == 0);
  auto missing = f.View()->AgentJson("did:l:1");
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(f.View()->AgentJson("").status().code() == StatusCode::kInvalidArgument);
  // An update of a removed agent does not bring it back; a registration does.
  f.Append("registry.agent.card_updated.v1", AgentData("did:l:1", "Translator"));
  CHECK(f.Agent("did:l:1").empty());
  f.Append("registry.agent.registered.v1", AgentData("did:l:1", "Translator"));
  CHECK(At(f.Agent("did:l:1"), "/status") == "active");
}

TEST_CASE("deprecation: flagged, still found, ranked after active agents of equal score") {
  Fixture f;
  f.Append("registry.agent.registered.v1", AgentData("did:a", "Summarizer"));
  f.Append("registry.agent.registered.v1", AgentData("did:b", "Summarizer"));
  f.Append("registry.agent.registered.v1", AgentData("did:c", "Summarizer Summarizer", "text summarizer"));
  CHECK(f.Discover("summarizer").dids == std::vector<std::string>{"did:c", "did:a", "did:b"});
  uint64_t time_of_deprecation =
      f.Append("registry.agent.deprecated.v1", R"({"did":"did:a","reason":"use did:b"})");
  (void)time_of_deprecation;
  std::string agent = f.Agent("did:a");
  CHECK(At(agent, "/status") == "deprecated");
  CHECK(At(agent, "/deprecation_reason") == "use did:b");
  CHECK(At(agent, "/registered_at") == "2026-01-01T00:00:01Z");
  CHECK(At(agent, "/updated_at") == "2026-01-01T00:00:04Z");
  Page page = f.Discover("summarizer");
  CHECK(page.dids == std::vector<std::string>{"did:c", "did:b", "did:a"});
  CHECK(page.scores[1] == page.scores[2]);
  // A better match still ranks first even when deprecated.
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:c","reason":"old"})");
  CHECK(f.Discover("summarizer").dids == std::vector<std::string>{"did:c", "did:b", "did:a"});
  // A card update keeps the status; a re-registration makes it active again.
  f.Append("registry.agent.card_updated.v1", AgentData("did:a", "Summarizer", "v2"));
  agent = f.Agent("did:a");
  CHECK(At(agent, "/status") == "deprecated");
  CHECK(At(agent, "/description") == "v2");
  CHECK(At(agent, "/registered_at") == "2026-01-01T00:00:01Z");
  f.Append("registry.agent.registered.v1", AgentData("did:a", "Summarizer"));
  agent = f.Agent("did:a");
  CHECK(At(agent, "/status") == "active");
  CHECK(At(agent, "/deprecation_reason") == "<missing>");
  CHECK(At(agent, "/registered_at") == "2026-01-01T00:00:07Z");
  // A peer cannot deprecate our agent.
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:b","reason":"x"})", "peer-a");
  CHECK(At(f.Agent("did:b"), "/status") == "active");
}

TEST_CASE("OSSA interop: published, updated, deprecated by the announcing registry") {
  Fixture f;
  const std::string pod = "spiffe://acme.com/registry-pod/us-west-2/pod-0";
  f.Append("io.ossa.agent.updated", OssaData("ghost", "0.1.0"), "", pod);  // unknown: ignored
  f.Append("io.ossa.agent.published", OssaData("financial-analyst", "2.4.1"), "", pod);
  std::string agent = f.Agent("ossa:acme-corp/financial-analyst");
  CHECK(f.Agent("ossa:acme-corp/ghost").empty());
  CHECK(At(agent, "/name") == "financial-analyst");
  CHECK(At(agent, "/version") == "2.4.1");
  CHECK(At(agent, "/url") == "registry.acme.com/agents/financial-analyst");
  CHECK(At(agent, "/relation") == "direct");
  CHECK(At(agent, "/source_registry") == pod);
  CHECK(At(agent, "/skills/1/name") == "risk-assessment");
  CHECK(At(agent, "/card_data/trustTier") == "verified");
  CHECK(At(agent, "/card_data/federation_metadata/source_registry") == pod);
  CHECK(f.Discover("risk").dids == std::vector<std::string>{"ossa:acme-corp/financial-analyst"});
  // Replicated from a peer: still the pod's agent (any origin).
  f.Append("io.ossa.agent.updated", OssaData("financial-analyst", "2.5.0", R"(["forecasting"])"),
           "peer-a", pod);
  agent = f.Agent("ossa:acme-corp/financial-analyst");
  CHECK(At(agent, "/version") == "2.5.0");
  CHECK(f.Discover("risk").total == 0);
  CHECK(f.Discover("forecasting").total == 1);
  // Another registry cannot deprecate it; its own can.
  f.Append("io.ossa.agent.deprecated", OssaData("financial-analyst", "2.5.0"), "",
           "spiffe://other.example/pod");
  CHECK(At(f.Agent("ossa:acme-corp/financial-analyst"), "/status") == "active");
  f.Append("io.ossa.agent.deprecated", OssaData("financial-analyst", "2.5.0"), "", pod);
  CHECK(At(f.Agent("ossa:acme-corp/financial-analyst"), "/status") == "deprecated");
  // A local agent of the same did is never replaced by an OSSA announcement.
  f.Append("registry.agent.registered.v1", AgentData("ossa:acme-corp/local", "Mine"));
  f.Append("io.ossa.agent.published", OssaData("local", "9.0.0"), "", pod);
  CHECK(At(f.Agent("ossa:acme-corp/local"), "/relation") == "local");
}

TEST_CASE("unknown types and unusable data are ignored") {
  Fixture f;
  f.Append("registry.agent.registered.v9", AgentData("did:u:1", "Future"));
  f.Append("com.example.other", R"({"did":"did:u:2"})");
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:u:3","reason":"unknown id"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:u:3"})");
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"p","did":"did:u:3"})");
  f.Append("registry.agent.card_updated.v1", AgentData("did:u:5", "NeverRegistered"));
  uint64_t last = f.Append("registry.agent.registered.v1", AgentData("did:u:4", "Known"));
  Page all = f.Discover("");
  CHECK(all.position == last);
  CHECK(all.dids == std::vector<std::string>{"did:u:4"});
}

TEST_CASE("a federated card's own federation_metadata is replaced, not duplicated") {
  Fixture f;
  const std::string card = R"({"name":"c","federation_metadata":{"source_registry":"forged"}})";
  f.Append("registry.agent.registered.v1",
           AgentData("did:f:1", "Fed", "d", "chat", R"(["general"])", card), "peer-a");
  f.Append("registry.agent.registered.v1",
           AgentData("did:f:2", "Loc", "d", "chat", R"(["general"])", card));
  auto json = f.View()->AgentJson("did:f:1");
  REQUIRE(json.ok());
  CHECK(json->find("forged") == std::string::npos);
  CHECK(At(*json, "/agent/card_data/federation_metadata/source_registry") == "peer-a");
  CHECK(At(*json, "/agent/card_data/name") == "c");
  std::string local = f.Agent("did:f:2");
  CHECK(At(local, "/card_data/federation_metadata") == "<missing>");
  CHECK(At(local, "/card_data/name") == "c");
}

TEST_CASE("ranking: field weights, idf, ties by did, cursor paging, bad arguments") {
  Fixture f;
  // "weather" in the name (4) beats a skill name (2) beats the description (1).
  f.Append("registry.agent.registered.v1", AgentData("did:r:3", "Weather", "forecasts"));
  f.Append("registry.agent.registered.v1",
           AgentData("did:r:2", "Helper", "misc", "weather lookup"));
  f.Append("registry.agent.registered.v1", AgentData("did:r:1", "Helper", "checks the weather"));
  f.Append("registry.agent.registered.v1", AgentData("did:r:4", "Helper", "misc", "chat",
                                                     R"(["weather"])"));
  f.Append("registry.agent.registered.v1", AgentData("did:r:5", "Other", "nothing here"));
  Page page = f.Discover("WEATHER!");
  CHECK(page.dids == std::vector<std::string>{"did:r:3", "did:r:2", "did:r:4", "did:r:1"});
  CHECK(page.total == 4);
  // idf = ln(1 + 5/4); weights 4, 2, 2, 1.
  double idf = std::log1p(5.0 / 4.0);
  CHECK(page.scores[0] == doctest::Approx(4 * idf).epsilon(1e-6));
  CHECK(page.scores[3] == doctest::Approx(1 * idf).epsilon(1e-6));
  CHECK(page.next_cursor.empty());
  // Two terms add up; a rarer term weighs more.
  page = f.Discover("weather forecasts");
  CHECK(page.dids.front() == "did:r:3");
  CHECK(page.scores[0] == doctest::Approx(4 * idf + std::log1p(5.0)).epsilon(1e-6));
  // Paging with limit 1 walks the same ranking.
  std::vector<std::string> walked;
  std::string cursor;
  do {
    Page one = f.Discover("weather", 1, cursor);
    walked.insert(walked.end(), one.dids.begin(), one.dids.end());
    cursor = one.next_cursor;
  } while (!cursor.empty());
  CHECK(walked == f.Discover("weather").dids);
  // Empty text: every agent in did order, paged by did.
  walked.clear();
  do {
    Page two = f.Discover("", 2, cursor);
    CHECK(two.total == 5);
    walked.insert(walked.end(), two.dids.begin(), two.dids.end());
    cursor = two.next_cursor;
  } while (!cursor.empty());
  CHECK(walked == std::vector<std::string>{"did:r:1", "did:r:2", "did:r:3", "did:r:4", "did:r:5"});
  CHECK(f.Discover("  ", 100).total == 5);  // no terms: a listing
  CHECK(f.Discover("nomatch").total == 0);
  // Bad arguments.
  auto view = f.View();
  CHECK(view->DiscoverJson("weather", 0, "").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("weather", kDiscoverLimitMax + 1, "").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("weather", 10, "d00").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("weather", 10, "o1x").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("", 10, "o1").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("", 10, "dzz").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson(std::string(kDiscoverQueryBytesMax + 1, 'a'), 10, "").status().code() ==
        StatusCode::kInvalidArgument);
  std::string many;
  for (size_t i = 0; i <= kDiscoverQueryTermsMax; ++i) many += "t" + std::to_string(i) + " ";
  CHECK(view->DiscoverJson(many, 10, "").status().code() == StatusCode::kInvalidArgument);
  CHECK(view->DiscoverJson("\xff", 10, "").status().code() == StatusCode::kInvalidArgument);
  // A cursor past the end: an empty page.
  Page past = f.Discover("weather", 10, "o99");
  CHECK(past.dids.empty());
  CHECK(past.next_cursor.empty());
}

TEST_CASE("a term counts once for each field it occurs in") {
  Fixture f;
  // did:w:1 has "storm" as a skill name (2) and a tag (2); did:w:2 in its name (4) only, twice;
  // did:w:3 as a tag (2) and in its description (1).
  f.Append("registry.agent.registered.v1",
           AgentData("did:w:1", "Helper", "misc", "storm", R"(["storm"])"));
  f.Append("registry.agent.registered.v1", AgentData("did:w:2", "Storm storm", "misc"));
  f.Append("registry.agent.registered.v1",
           AgentData("did:w:3", "Helper", "storm storm", "chat", R"(["storm"])"));
  Page page = f.Discover("storm");
  CHECK(page.dids == std::vector<std::string>{"did:w:1", "did:w:2", "did:w:3"});
  double idf = std::log1p(3.0 / 3.0);
  CHECK(page.scores[0] == doctest::Approx(4 * idf).epsilon(1e-6));
  CHECK(page.scores[1] == page.scores[0]);
  CHECK(page.scores[2] == doctest::Approx(3 * idf).epsilon(1e-6));
}

TEST_CASE("queries while folding see one consistent position") {
  Fixture f;
  // Every event registers one new agent: at position P the view holds exactly P agents, each
  // named with the term "common".
  constexpr int kAgents = 600;
  f.runner->Start();
  std::atomic<bool> done{false};
  std::atomic<int> checked{0};
  auto view = f.View();
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      while (!done.load()) {
        auto ranked = view->DiscoverJson("common", 5, "");
        auto listed = view->DiscoverJson(t % 2 ? "" : "agent7", 5, "");
        CHECK(ranked.ok());
        CHECK(listed.ok());
        if (!ranked.ok() || !listed.ok()) break;
        Page page = ParsePage(*ranked);
        CHECK(page.total == page.position);
        CHECK(page.dids.size() == std::min<uint64_t>(5, page.position));
        if (t % 2) {
          Page all = ParsePage(*listed);
          CHECK(all.total == all.position);
        }
        if (page.position > 0) {
          auto agent = view->AgentJson(page.dids.front());
          CHECK(agent.ok());
          if (agent.ok()) CHECK(std::stoull(At(*agent, "/position")) >= page.position);
        }
        checked.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < kAgents; ++i) {
    f.Append("registry.agent.registered.v1",
             AgentData("did:c:" + std::to_string(1000 + i), "agent" + std::to_string(i),
                       "common words"));
  }
  CHECK(f.runner->WaitFor("agents", kAgents, std::chrono::seconds(30)) == kAgents);
  done = true;
  for (auto& reader : readers) reader.join();
  CHECK(checked.load() > 0);
  CHECK(f.Discover("common").total == kAgents);
}

// What the view answers: each query's first page and the next one (`limit` per page), then each
// did's agent (or the error).
std::vector<std::string> Answers(Fixture& f, const std::vector<std::string>& queries, size_t limit,
                                 const std::vector<std::string>& dids) {
  std::vector<std::string> out;
  auto view = f.View();
  for (const auto& q : queries) {
    auto json = view->DiscoverJson(q, limit, "");
    REQUIRE(json.ok());
    out.push_back(*json);
    Page page = ParsePage(*json);
    if (!page.next_cursor.empty()) {
      auto more = view->DiscoverJson(q, limit, page.next_cursor);
      REQUIRE(more.ok());
      out.push_back(*more);
    }
  }
  for (const auto& did : dids) {
    auto one = view->AgentJson(did);
    out.push_back(one.ok() ? *one : one.status().ToString());
  }
  return out;
}

TEST_CASE("Load after a reopen answers as before; a rebuild gives the same rows") {
  Fixture f;
  for (int i = 0; i < 50; ++i) {
    std::string did = "did:z:" + std::to_string(i);
    f.Append("registry.agent.registered.v1",
             AgentData(did, "Agent" + std::to_string(i % 7), "alpha beta", "skill" + std::to_string(i % 3)),
             i % 4 == 0 ? "peer-a" : "");
    if (i % 5 == 0) f.Append("registry.agent.deprecated.v1", R"({"did":")" + did + R"(","reason":"r"})");
    if (i % 9 == 0) f.Append("registry.agent.removed.v1", R"({"did":")" + did + R"("})");
  }
  const std::vector<std::string> queries = {"alpha", "agent3 skill1", "skill2", "", "general"};
  auto answers = [&] { return Answers(f, queries, 7, {"did:z:5"}); };
  std::vector<std::string> before = answers();
  f.Close();
  f.Open();
  CHECK(answers() == before);
  auto check = f.runner->Check("agents");
  REQUIRE(check.ok());
  CHECK(check->differences == 0);
  CHECK(check->rows_compared > 0);
  auto rebuilt = f.runner->Rebuild("agents", 0);
  REQUIRE(rebuilt.ok());
  CHECK(answers() == before);
}

TEST_CASE("a rebuild over many fold batches, indexed behind the fold, answers as the live view") {
  // Enough events for several fold batches (limits.h) and the bulk indexer's queue: agents
  // deprecated, removed and updated batches after they were registered (found through the
  // dids the bulk fold has written, not through the index, which trails it).
  Fixture f;
  constexpr int kAgentsHere = 3000;
  for (int i = 0; i < kAgentsHere; ++i) {
    std::string did = "did:bulk:" + std::to_string(i);
    f.Append("registry.agent.registered.v1",
             AgentData(did, "Agent" + std::to_string(i % 11), "gamma delta " + std::to_string(i % 13),
                       "skill" + std::to_string(i % 5)),
             i % 6 == 0 ? "peer-b" : "");
    if (i >= 1000) {
      const std::string earlier = "did:bulk:" + std::to_string(i - 1000);
      if (i % 3 == 0) f.Append("registry.agent.deprecated.v1", R"({"did":")" + earlier + R"(","reason":"old"})");
      if (i % 7 == 0) f.Append("registry.agent.removed.v1", R"({"did":")" + earlier + R"("})");
      if (i % 5 == 0) {
        f.Append("registry.agent.card_updated.v1",
                 AgentData(earlier, "Renamed" + std::to_string(i), "epsilon", "skill9"));
      }
    }
  }
  const std::vector<std::string> queries = {"gamma", "agent3 skill1", "renamed1200 epsilon", "old",
                                            "", "skill9", "delta 7"};
  std::vector<std::string> dids;
  for (int i : {0, 3, 7, 42, 210, 499, 1499, 2999}) dids.push_back("did:bulk:" + std::to_string(i));
  auto answers = [&] { return Answers(f, queries, 50, dids); };
  const std::vector<std::string> live = answers();
  auto rebuilt = f.runner->Rebuild("agents", 0);
  REQUIRE(rebuilt.ok());
  CHECK(rebuilt->events > kFoldBatchEventsMax * 2);
  CHECK(answers() == live);
  auto check = f.runner->Check("agents");
  REQUIRE(check.ok());
  CHECK(check->differences == 0);
}

TEST_CASE("the rebuild floor runs its steps over the agent events only, and cleans up") {
  Fixture f;
  const std::string scratch = f.dir.path() + "/floor";
  auto empty = MeasureRebuildFloor(*f.ledger, scratch, 100);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == StatusCode::kFailedPrecondition);
  for (int i = 0; i < 40; ++i) {
    f.Append("registry.agent.registered.v1",
             AgentData("did:floor:" + std::to_string(i), "Floor Agent " + std::to_string(i)));
    f.Append("registry.agent.deprecated.v1",
             R"({"did":"did:floor:)" + std::to_string(i) + R"(","reason":"old"})");
  }
  f.Append("registry.agent.card_updated.v1", AgentData("did:floor:0", "Renamed"));
  auto floor = MeasureRebuildFloor(*f.ledger, scratch, 100);
  REQUIRE_MESSAGE(floor.ok(), floor.status().ToString());
  CHECK(floor->events == 41);  // the registrations and the update; not the deprecations
  CHECK(floor->parse_us > 0);
  CHECK(floor->index_us > 0);
  CHECK(floor->row_us > 0);
  CHECK(floor->total_us() >= floor->parse_us + floor->index_us + floor->row_us);
  CHECK_FALSE(std::filesystem::exists(scratch));
  auto capped = MeasureRebuildFloor(*f.ledger, scratch, 10);
  REQUIRE(capped.ok());
  CHECK(capped->events == 10);
}

}  // namespace
}  // namespace annals::projections
