// Goal: the card-cache view keeps every rule of docs/views/card-cache.md. The feed: local agents
// and federated cards, with the precedence of internal::MayReplace in every order (a local card
// never overwritten by a federated one, a direct card never by a discovered one, a refused
// upsert changing nothing), one entry per did carrying its latest change number, tombstones
// for removals, and cursor paging bounded by a limit. Peer registry cards: the last fetch per
// peer, a rejected verdict keeping the card accepted before. The own registry card: an ETag
// that hashes only the operator-editable fields and the self policy hash, so counters and times
// never move it, while an edit or a new policy hash does. And a rebuild gives the same rows.
#include "annals/projections/card_cache.h"

#include <doctest/doctest.h>
#include <simdjson.h>

#include <vector>

#include "annals/base/coding.h"
#include "annals/base/json_writer.h"
#include "annals/base/sha256.h"
#include "annals/projections/registry_views.h"
#include "annals/projections/runner.h"
#include "annals/testing/views_fixture.h"

namespace annals::projections {
namespace {

constexpr int64_t kT0Seconds = 1795165200;  // 2026-11-20T09:00:00Z; event n is n minutes later

std::string S(std::string_view text) { return std::string(text); }

// Data of registry.agent.registered.v1 / card_updated.v1, with every field the schema requires.
std::string AgentData(std::string_view did, std::string_view name) {
  return R"({"did":")" + S(did) + R"(","name":")" + S(name) + R"(","description":"about )" +
         S(name) + R"(","version":"1.0","url":"https://agents.example/a",)" +
         R"("skills":[{"id":"s1","name":"Skill one","tags":["x"]}],"tags":["t1"],)" +
         R"("provider":{"organization":"Acme","url":"https://acme.example"},)" +
         R"("card":{"name":")" + S(name) + R"("}})";
}

// One card of registry.federation.agent_cards_synced.v1.
std::string SyncedCard(std::string_view did, std::string_view name, std::string_view more = "") {
  return R"({"did":")" + S(did) + R"(","name":")" + S(name) + R"(","description":"about )" +
         S(name) + R"(","skills":[],"tags":["fed"],"card":{"name":")" + S(name) + R"("})" +
         S(more) + "}";
}

std::string SyncData(std::string_view peer_id, std::string_view source_registry,
                     std::string_view relation, const std::vector<std::string>& cards) {
  std::string list;
  for (const auto& card : cards) list += (list.empty() ? "" : ",") + card;
  return R"({"peer_id":")" + S(peer_id) + R"(","source_registry":")" + S(source_registry) +
         R"(","relation":")" + S(relation) + R"(","cards":[)" + list + "]}";
}

// The JSON value at `pointer` in `json`, minified; "<none>" when there is none.
std::string At(const std::string& json, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  REQUIRE_MESSAGE(parser.parse(json).get(root) == simdjson::SUCCESS, json);
  simdjson::dom::element value;
  if (root.at_pointer(pointer).get(value) != simdjson::SUCCESS) return "<none>";
  return simdjson::minify(value);
}

// "did@change" of each entry of a feed page, in order.
std::vector<std::string> Entries(const std::string& page) {
  simdjson::dom::parser parser;
  simdjson::dom::array cards;
  REQUIRE(parser.parse(page)["cards"].get_array().get(cards) == simdjson::SUCCESS);
  std::vector<std::string> entries;
  for (auto card : cards) {
    std::string_view did;
    uint64_t change = 0;
    REQUIRE(card["did"].get_string().get(did) == simdjson::SUCCESS);
    REQUIRE(card["change"].get_uint64().get(change) == simdjson::SUCCESS);
    entries.push_back(S(did) + "@" + std::to_string(change));
  }
  return entries;
}

// A ledger of registry "home" with the card-cache view over it.
class Fixture : public testing::ViewsFixture {
 public:
  Fixture() : ViewsFixture({{S(kCardCacheView), [] { return MakeCardCacheView(); }}}) {}

  // Appends one event, a minute after the previous one; `origin` non-empty makes it a
  // replicated event from that peer.
  void Append(std::string_view type, const std::string& data, std::string_view origin = "") {
    ViewsFixture::Append({.type = type,
                          .data = data,
                          .time_seconds = kT0Seconds + 60 * (appended + 1),
                          .origin = origin});
  }

  void Register(std::string_view did, std::string_view name, std::string_view origin = "") {
    Append("registry.agent.registered.v1", AgentData(did, name), origin);
  }
  void Sync(std::string_view peer_id, std::string_view relation,
            const std::vector<std::string>& cards, std::string_view source_registry = "") {
    Append("registry.federation.agent_cards_synced.v1",
           SyncData(peer_id, source_registry.empty() ? peer_id : source_registry, relation,
                    cards));
  }
  void AddPeer(std::string_view peer_id, std::string_view origin = "") {
    Append("registry.peer.added.v1",
           R"({"peer_id":")" + S(peer_id) + R"(","name":"Peer","base_url":"https://p.example",)" +
               R"("spiffe_id":"spiffe://p.example/registry","kind":"frame","relation":"direct"})",
           origin);
  }
  void Edit(const std::string& data) { Append("registry.card.edited.v1", data); }
  void SelfPolicy(std::string_view hash, std::string_view peer_id = "self") {
    Append("registry.compliance.policy_hash_published.v1",
           R"({"peer_id":")" + S(peer_id) + R"(","policy_hash":")" + S(hash) + R"("})");
  }

  ViewReader Reader() { return ViewsFixture::Reader(kCardCacheView); }

  std::string Cards(std::string_view cursor = "", size_t limit = kCardFeedLimitDefault) {
    auto json = CardsSinceJson(Reader(), cursor, limit);
    REQUIRE_MESSAGE(json.ok(), json.status().ToString());
    return std::move(json).value();
  }
  std::string OwnCard() {
    auto json = OwnRegistryCardJson(Reader());
    REQUIRE_MESSAGE(json.ok(), json.status().ToString());
    return std::move(json).value();
  }
  std::string Etag() {
    auto etag = OwnRegistryCardEtag(Reader());
    REQUIRE_MESSAGE(etag.ok(), etag.status().ToString());
    return std::move(etag).value();
  }
};

// --- The feed ---

TEST_CASE("local agents: each accepted change is the did's one entry, with the next number") {
  Fixture f;
  f.Register("did:a", "Alpha");
  std::string page = f.Cards();
  CHECK(page ==
        R"({"position":1,"cards":[{"change":1,"did":"did:a","name":"Alpha",)"
        R"("description":"about Alpha","skills":[{"id":"s1","name":"Skill one","tags":["x"]}],)"
        R"("tags":["t1"],"card":{"name":"Alpha"},"source_registry":"home","relation":"local",)"
        R"("deprecated":false,"removed":false}],"next_cursor":"1"})");

  f.Register("did:b", "Beta");
  f.Append("registry.agent.card_updated.v1", AgentData("did:a", "Alpha 2"));
  page = f.Cards();
  CHECK(Entries(page) == std::vector<std::string>{"did:b@2", "did:a@3"});
  CHECK(At(page, "/cards/1/name") == R"("Alpha 2")");
  CHECK(At(page, "/next_cursor") == R"("3")");

  f.Append("registry.agent.deprecated.v1", R"({"did":"did:a","reason":"use did:b"})");
  page = f.Cards("3");
  CHECK(Entries(page) == std::vector<std::string>{"did:a@4"});
  CHECK(At(page, "/cards/0/deprecated") == "true");
  CHECK(At(page, "/cards/0/deprecation_reason") == R"("use did:b")");
  CHECK(At(page, "/cards/0/name") == R"("Alpha 2")");

  // An update keeps the deprecation; the same deprecation again is no change.
  f.Append("registry.agent.card_updated.v1", AgentData("did:a", "Alpha 3"));
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:a","reason":"use did:b"})");
  page = f.Cards("4");
  CHECK(Entries(page) == std::vector<std::string>{"did:a@5"});
  CHECK(At(page, "/cards/0/deprecated") == "true");

  f.Append("registry.agent.removed.v1", R"({"did":"did:a"})");
  page = f.Cards();
  CHECK(Entries(page) == std::vector<std::string>{"did:b@2", "did:a@6"});
  CHECK(At(page, "/cards/1") ==
        R"({"change":6,"did":"did:a","source_registry":"home","relation":"local","removed":true})");

  // Events about dids it does not hold change nothing: an update or deprecation of a removed
  // or unknown did, a second removal.
  f.Append("registry.agent.card_updated.v1", AgentData("did:a", "Ghost"));
  f.Append("registry.agent.card_updated.v1", AgentData("did:zz", "Ghost"));
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:zz","reason":"r"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:a"})");
  CHECK(Entries(f.Cards()) == std::vector<std::string>{"did:b@2", "did:a@6"});

  // A registration after a removal replaces the tombstone.
  f.Register("did:a", "Alpha again");
  page = f.Cards("6");
  CHECK(Entries(page) == std::vector<std::string>{"did:a@7"});
  CHECK(At(page, "/cards/0/deprecated") == "false");
  CHECK(At(page, "/cards/0/removed") == "false");
}

// The four sources a card of one did can come from.
enum class From { kLocal, kDirect, kDiscovered, kReplicated };

void Upsert(Fixture& f, From from, std::string_view name) {
  switch (from) {
    case From::kLocal: f.Register("did:x", name); return;
    case From::kDirect: f.Sync("frame-b", "direct", {SyncedCard("did:x", name)}); return;
    case From::kDiscovered:
      f.Sync("frame-c", "discovered", {SyncedCard("did:x", name)}, "frame-far");
      return;
    case From::kReplicated: f.Register("did:x", name, "frame-r"); return;
  }
}

TEST_CASE("precedence in every order: local over federated, direct over discovered") {
  struct Case {
    From first;
    From second;
    bool replaces;
    const char* relation;  // of the card that stays
    const char* source_registry;
  };
  const Case cases[] = {
      {From::kLocal, From::kLocal, true, "local", "home"},
      {From::kLocal, From::kDirect, false, "local", "home"},
      {From::kLocal, From::kDiscovered, false, "local", "home"},
      {From::kLocal, From::kReplicated, false, "local", "home"},
      {From::kDirect, From::kLocal, true, "local", "home"},
      {From::kDirect, From::kDirect, true, "direct", "frame-b"},
      {From::kDirect, From::kDiscovered, false, "direct", "frame-b"},
      {From::kDirect, From::kReplicated, true, "direct", "frame-r"},
      {From::kDiscovered, From::kLocal, true, "local", "home"},
      {From::kDiscovered, From::kDirect, true, "direct", "frame-b"},
      {From::kDiscovered, From::kDiscovered, true, "discovered", "frame-far"},
      {From::kDiscovered, From::kReplicated, true, "direct", "frame-r"},
      {From::kReplicated, From::kLocal, true, "local", "home"},
      {From::kReplicated, From::kDirect, true, "direct", "frame-b"},
      {From::kReplicated, From::kDiscovered, false, "direct", "frame-r"},
      {From::kReplicated, From::kReplicated, true, "direct", "frame-r"},
  };
  for (const auto& c : cases) {
    CAPTURE(static_cast<int>(c.first));
    CAPTURE(static_cast<int>(c.second));
    Fixture f;
    Upsert(f, c.first, "first");
    const std::string before = f.Cards();
    Upsert(f, c.second, "second");
    const std::string after = f.Cards();
    CHECK(At(after, "/position") == "2");
    CHECK(At(after, "/cards/0/relation") == "\"" + S(c.relation) + "\"");
    CHECK(At(after, "/cards/0/source_registry") == "\"" + S(c.source_registry) + "\"");
    if (c.replaces) {
      CHECK(Entries(after) == std::vector<std::string>{"did:x@2"});
      CHECK(At(after, "/cards/0/name") == R"("second")");
    } else {
      // Refused: the feed is as it was, and no change number was spent.
      CHECK(At(after, "/cards") == At(before, "/cards"));
      CHECK(At(after, "/next_cursor") == R"("1")");
    }
  }
}

TEST_CASE("a refused upsert spends no change number; a re-sync of the same card is no change") {
  Fixture f;
  f.Sync("frame-b", "direct", {SyncedCard("did:x", "X"), SyncedCard("did:y", "Y")});
  // The fan-out's stale mirror of did:x is refused card by card; its new did:z is accepted.
  f.Sync("frame-c", "discovered",
         {SyncedCard("did:x", "X stale"), SyncedCard("did:z", "Z")}, "frame-far");
  f.Sync("frame-b", "direct", {SyncedCard("did:x", "X"), SyncedCard("did:y", "Y")});
  std::string page = f.Cards();
  CHECK(Entries(page) == std::vector<std::string>{"did:x@1", "did:y@2", "did:z@3"});
  CHECK(At(page, "/cards/0/name") == R"("X")");
  CHECK(At(page, "/cards/2/relation") == R"("discovered")");
  CHECK(At(page, "/cards/2/source_registry") == R"("frame-far")");
  f.Sync("frame-b", "direct", {SyncedCard("did:y", "Y edited")});
  CHECK(Entries(f.Cards("3")) == std::vector<std::string>{"did:y@4"});
  // Deprecation travels in a synced card.
  f.Sync("frame-b", "direct",
         {SyncedCard("did:y", "Y edited", R"(,"deprecated":true,"deprecation_reason":"old")")});
  page = f.Cards("4");
  CHECK(Entries(page) == std::vector<std::string>{"did:y@5"});
  CHECK(At(page, "/cards/0/deprecation_reason") == R"("old")");
}

TEST_CASE("removals: only of a card from the same source, as tombstones") {
  Fixture f;
  f.Register("did:local", "L");
  f.Sync("frame-b", "direct", {SyncedCard("did:fed", "F")});
  f.Register("did:rep", "R", "frame-r");
  // Removals from another peer, or of a local card by a peer, change nothing.
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"frame-c","did":"did:fed"})");
  f.Append("registry.federation.agent_card_removed.v1",
           R"({"peer_id":"frame-b","did":"did:local"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:local"})", "frame-r");
  f.Append("registry.agent.removed.v1", R"({"did":"did:fed"})");  // local removal, federated card
  f.Append("registry.agent.deprecated.v1", R"({"did":"did:fed","reason":"r"})", "frame-r");
  CHECK(Entries(f.Cards()) == std::vector<std::string>{"did:local@1", "did:fed@2", "did:rep@3"});

  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"frame-b","did":"did:fed"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:rep"})", "frame-r");
  std::string page = f.Cards();
  CHECK(Entries(page) == std::vector<std::string>{"did:local@1", "did:fed@4", "did:rep@5"});
  CHECK(At(page, "/cards/1") == R"({"change":4,"did":"did:fed","source_registry":"frame-b",)"
                                R"("relation":"direct","removed":true})");
  CHECK(At(page, "/cards/2/removed") == "true");
  CHECK(At(page, "/cards/2/name") == "<none>");

  // A peer's feed tombstone arriving in a sync is a removal from that peer.
  f.Sync("frame-b", "direct", {SyncedCard("did:fed2", "F2")});
  f.Sync("frame-b", "direct", {R"({"did":"did:fed2","name":"F2","description":"","skills":[],)"
                               R"("tags":[],"card":{},"removed":true})"});
  CHECK(Entries(f.Cards("5")) == std::vector<std::string>{"did:fed2@7"});
  CHECK(At(f.Cards("5"), "/cards/0/removed") == "true");

  // After a tombstone any source may hold the did again, a discovered copy too.
  f.Sync("frame-c", "discovered", {SyncedCard("did:fed", "F elsewhere")}, "frame-far");
  page = f.Cards("7");
  CHECK(Entries(page) == std::vector<std::string>{"did:fed@8"});
  CHECK(At(page, "/cards/0/relation") == R"("discovered")");
}

TEST_CASE("replicated agent events are direct cards of their origin; other replicated kinds "
          "are ignored") {
  Fixture f;
  f.Register("did:r", "R", "frame-r");
  f.Append("registry.federation.agent_cards_synced.v1",
           SyncData("frame-q", "frame-q", "direct", {SyncedCard("did:q", "Q")}), "frame-r");
  f.Append("registry.federation.agent_card_removed.v1",
           R"({"peer_id":"frame-r","did":"did:r"})", "frame-r");
  const std::string page = f.Cards();
  CHECK(Entries(page) == std::vector<std::string>{"did:r@1"});
  CHECK(At(page, "/cards/0/relation") == R"("direct")");
  CHECK(At(page, "/cards/0/source_registry") == R"("frame-r")");
  CHECK(At(page, "/position") == "3");
}

TEST_CASE("cursor paging: in change order, bounded by the limit, next_cursor to resume") {
  Fixture f;
  for (char c = 'a'; c <= 'e'; ++c) f.Register(std::string("did:") + c, "N");
  f.Append("registry.agent.card_updated.v1", AgentData("did:b", "N2"));  // did:b moves to 6
  std::string page = f.Cards("", 2);
  CHECK(Entries(page) == std::vector<std::string>{"did:a@1", "did:c@3"});
  CHECK(At(page, "/next_cursor") == R"("3")");
  page = f.Cards("3", 2);
  CHECK(Entries(page) == std::vector<std::string>{"did:d@4", "did:e@5"});
  page = f.Cards("5", 2);
  CHECK(Entries(page) == std::vector<std::string>{"did:b@6"});
  CHECK(At(page, "/next_cursor") == R"("6")");
  page = f.Cards("6", 2);
  CHECK(Entries(page).empty());
  CHECK(At(page, "/next_cursor") == R"("6")");
  CHECK(At(f.Cards("", kCardFeedLimitMax), "/next_cursor") == R"("6")");
  // A cursor past the end, and the largest one, give an empty page that keeps the cursor.
  CHECK(At(f.Cards("99", 1), "/next_cursor") == R"("99")");
  CHECK(Entries(f.Cards("18446744073709551615", 1)).empty());
  // An empty feed: next_cursor stays "".
  Fixture empty;
  CHECK(empty.Cards() == R"({"position":0,"cards":[],"next_cursor":""})");

  auto reader = f.Reader();
  for (size_t limit : {size_t{0}, kCardFeedLimitMax + 1}) {
    CHECK(CardsSinceJson(reader, "", limit).status().code() == StatusCode::kInvalidArgument);
  }
  for (std::string_view cursor : {"x", "-1", "1x", " 1", "+1", "18446744073709551616"}) {
    CAPTURE(cursor);
    CHECK(CardsSinceJson(reader, cursor, 10).status().code() == StatusCode::kInvalidArgument);
  }
}

// --- Peer registry cards ---

std::string FetchData(std::string_view peer_id, std::string_view etag, std::string_view card,
                      std::string_view verdict, std::string_view reason) {
  return R"({"peer_id":")" + S(peer_id) + R"(","etag":")" + S(etag) + R"(","card":)" + S(card) +
         R"(,"verdict":")" + S(verdict) + R"(","reason":")" + S(reason) + R"("})";
}

TEST_CASE("peer registry cards: the last fetch; a rejected one keeps the card accepted before") {
  Fixture f;
  const std::string fetched = "registry.federation.registry_card_fetched.v1";
  CHECK(PeerRegistryCardJson(f.Reader(), "frame-b").status().code() == StatusCode::kNotFound);
  // A first fetch rejected: the verdict is recorded, with no card.
  f.Append(fetched, FetchData("frame-b", "e0", R"({"name":"bad"})", "rejected", "bad signature"));
  auto json = PeerRegistryCardJson(f.Reader(), "frame-b");
  REQUIRE(json.ok());
  CHECK(*json == R"({"position":1,"peer_id":"frame-b","etag":"","verdict":"rejected",)"
                 R"("reason":"bad signature","fetched_at":"2026-11-20T09:01:00Z","card":null})");

  f.Append(fetched, FetchData("frame-b", "e1", R"({"name":"B","v":1})", "verified", ""));
  f.Append(fetched, FetchData("frame-b", "e2", R"({"name":"B evil"})", "rejected", "jwks"));
  json = PeerRegistryCardJson(f.Reader(), "frame-b");
  REQUIRE(json.ok());
  CHECK(*json == R"({"position":3,"peer_id":"frame-b","etag":"e1","verdict":"rejected",)"
                 R"("reason":"jwks","fetched_at":"2026-11-20T09:03:00Z",)"
                 R"("card":{"name":"B","v":1}})");

  f.Append(fetched, FetchData("frame-b", "e3", R"({"name":"B3"})", "unverified", "no jwks"));
  // A replicated fetch is the peer's own business.
  f.Append(fetched, FetchData("frame-b", "e9", R"({"name":"B9"})", "verified", ""), "frame-r");
  json = PeerRegistryCardJson(f.Reader(), "frame-b");
  REQUIRE(json.ok());
  CHECK(At(*json, "/etag") == R"("e3")");
  CHECK(At(*json, "/card") == R"({"name":"B3"})");
  CHECK(At(*json, "/verdict") == R"("unverified")");
  CHECK(At(*json, "/position") == "5");
  CHECK(PeerRegistryCardJson(f.Reader(), "frame-r").status().code() == StatusCode::kNotFound);
}

// --- The own registry card ---

constexpr char kEdit[] =
    R"({"name":"Acme","description":"Acme registry","operator":{"org":"Acme","lat":48.1},)"
    R"("capabilities":["discovery","transfers"],"endpoints":{"api":"https://acme.example"},)"
    R"("fees":{"transfer":"0.5%"},"identity":{"did":"did:web:acme.example"}})";
// The same edit with its members and nested members in another order.
constexpr char kEditReordered[] =
    R"({"identity":{"did":"did:web:acme.example"},"fees":{"transfer":"0.5%"},)"
    R"("endpoints":{"api":"https://acme.example"},"capabilities":["discovery","transfers"],)"
    R"("operator":{"lat":48.1,"org":"Acme"},"description":"Acme registry","name":"Acme"})";
constexpr char kEditCanonical[] =
    R"({"capabilities":["discovery","transfers"],"description":"Acme registry",)"
    R"("endpoints":{"api":"https://acme.example"},"fees":{"transfer":"0.5%"},)"
    R"("identity":{"did":"did:web:acme.example"},"name":"Acme",)"
    R"("operator":{"lat":48.1,"org":"Acme"}})";

std::string QuotedSha256(std::string_view text) { return "\"" + ToHex(Sha256(text)) + "\""; }

TEST_CASE("own registry card: served with counters; NotFound until edited") {
  Fixture f;
  f.Register("did:a", "A");
  f.AddPeer("frame-b");
  CHECK(OwnRegistryCardJson(f.Reader()).status().code() == StatusCode::kNotFound);
  CHECK(OwnRegistryCardEtag(f.Reader()).status().code() == StatusCode::kNotFound);
  f.Edit(kEdit);
  const std::string etag = QuotedSha256(kEditCanonical);
  CHECK(f.Etag() == etag);
  JsonWriter expected_etag;
  expected_etag.String(etag);
  CHECK(f.OwnCard() == R"({"position":3,"etag":)" + expected_etag.str() + R"(,"card":)" +
                           std::string(kEditCanonical, sizeof(kEditCanonical) - 2) +
                           R"(,"policy_hash":null,"counters":{"local_agents":1,"active_peers":1},)"
                           R"("updated_at":"2026-11-20T09:03:00Z"}})");
}

TEST_CASE("own registry card: the ETag ignores counters and times, follows edits and policy") {
  Fixture f;
  f.Edit(kEdit);
  const std::string etag0 = f.Etag();
  CHECK(At(f.OwnCard(), "/card/updated_at") == R"("2026-11-20T09:01:00Z")");

  // Counters move the card and its updated_at, never the ETag.
  f.Register("did:a", "A");
  f.Register("did:b", "B");
  f.Sync("frame-b", "direct", {SyncedCard("did:f", "F")});  // federated: not counted
  f.AddPeer("frame-b");
  f.AddPeer("frame-c");
  f.AddPeer("frame-x", "frame-r");  // a peer's peer: not ours
  f.Append("registry.peer.status_changed.v1",
           R"({"peer_id":"frame-c","status":"SUSPENDED","reason":"license"})");
  f.Append("registry.agent.removed.v1", R"({"did":"did:b"})");
  std::string card = f.OwnCard();
  CHECK(At(card, "/card/counters") == R"({"local_agents":1,"active_peers":1})");
  CHECK(At(card, "/card/updated_at") == R"("2026-11-20T09:09:00Z")");
  CHECK(At(card, "/etag") == At(f.OwnCard(), "/etag"));
  CHECK(f.Etag() == etag0);

  // The same edit again, in another member order: no change at all.
  f.Edit(kEditReordered);
  CHECK(f.Etag() == etag0);
  CHECK(At(f.OwnCard(), "/card/updated_at") == R"("2026-11-20T09:09:00Z")");

  // A real edit changes the ETag; fields left out leave the card.
  f.Edit(R"({"name":"Acme Corp","fees":{"transfer":"0.5%"}})");
  const std::string etag1 = f.Etag();
  CHECK(etag1 != etag0);
  CHECK(etag1 == QuotedSha256(R"({"fees":{"transfer":"0.5%"},"name":"Acme Corp"})"));
  card = f.OwnCard();
  CHECK(At(card, "/card/description") == "<none>");
  CHECK(At(card, "/card/updated_at") == R"("2026-11-20T09:11:00Z")");

  // The self policy hash is in the signed core; another peer's is not this card's business.
  f.SelfPolicy("sha256:p1", "frame-b");
  CHECK(f.Etag() == etag1);
  f.SelfPolicy("sha256:p1");
  const std::string etag2 = f.Etag();
  CHECK(etag2 == QuotedSha256(R"({"fees":{"transfer":"0.5%"},"name":"Acme Corp",)"
                              R"("policy_hash":"sha256:p1"})"));
  CHECK(At(f.OwnCard(), "/card/policy_hash") == R"("sha256:p1")");
  f.SelfPolicy("sha256:p1");
  CHECK(f.Etag() == etag2);
  CHECK(At(f.OwnCard(), "/card/updated_at") == R"("2026-11-20T09:13:00Z")");
  f.SelfPolicy("sha256:p2");
  CHECK(f.Etag() != etag2);
  // The peer's count follows status changes back to ACTIVE and removals.
  f.Append("registry.peer.status_changed.v1",
           R"({"peer_id":"frame-c","status":"ACTIVE","reason":"reinstated"})");
  f.Append("registry.peer.removed.v1", R"({"peer_id":"frame-b"})");
  f.Append("registry.peer.removed.v1", R"({"peer_id":"frame-b"})");
  CHECK(At(f.OwnCard(), "/card/counters/active_peers") == "1");
}

TEST_CASE("a policy hash published before the first edit is in the first ETag") {
  Fixture f;
  f.SelfPolicy("sha256:p0");
  CHECK(OwnRegistryCardEtag(f.Reader()).status().code() == StatusCode::kNotFound);
  f.Edit(R"({"name":"Acme"})");
  CHECK(f.Etag() == QuotedSha256(R"({"name":"Acme","policy_hash":"sha256:p0"})"));
}

TEST_CASE("canonical JSON: keys sorted, minified, numbers and strings normalized") {
  auto canonical = CanonicalJson(
      "{ \"b\" : 1, \"a\" : {\"d\": [1, 2.50, \"x\\u0041\", true], \"c\": null}, \"B\": -0.5e1 }");
  REQUIRE(canonical.ok());
  CHECK(*canonical == R"({"B":-5,"a":{"c":null,"d":[1,2.5,"xA",true]},"b":1})");
  CHECK(CanonicalJson("[1,").status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("a rebuild gives the same rows") {
  Fixture f;
  f.Register("did:a", "A");
  f.Sync("frame-b", "direct", {SyncedCard("did:b", "B"), SyncedCard("did:a", "A fed")});
  f.Append("registry.federation.agent_card_removed.v1", R"({"peer_id":"frame-b","did":"did:b"})");
  f.Edit(kEdit);
  f.SelfPolicy("sha256:p1");
  f.AddPeer("frame-b");
  f.Append("registry.federation.registry_card_fetched.v1",
           FetchData("frame-b", "e1", R"({"name":"B"})", "verified", ""));
  (void)f.Reader();
  auto report = f.runner->Check(kCardCacheView);
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->rows_compared > 0);
  CHECK(report->differences == 0);
}

}  // namespace
}  // namespace annals::projections
