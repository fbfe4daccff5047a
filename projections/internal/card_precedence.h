// Which agent card wins when two sources describe the same did (EVENTS.md, "Precedence"; the
// seeds' federation bug): a local agent is never overwritten by a federated card; a card synced
// `direct` from its home registry is never overwritten by a `discovered` copy from a fan-out.
// Shared by the agents and card-cache views so that both apply the same rule.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace annals::projections::internal {

// Stored in view rows: the numbers never change meaning.
enum class CardRelation : uint8_t {
  kLocal = 1,       // this registry's own agent
  kDirect = 2,      // synced from its home registry, or replicated from the peer that owns it
  kDiscovered = 3,  // a copy learned through a peer's fan-out
};

// Every relation, in number order.
inline constexpr CardRelation kCardRelations[] = {CardRelation::kLocal, CardRelation::kDirect,
                                                  CardRelation::kDiscovered};

// True when a card of relation `incoming` may replace the stored card of relation `stored`.
constexpr bool MayReplace(CardRelation stored, CardRelation incoming) {
  switch (stored) {
    case CardRelation::kLocal: return incoming == CardRelation::kLocal;
    case CardRelation::kDirect: return incoming != CardRelation::kDiscovered;
    case CardRelation::kDiscovered: return true;
  }
  return false;
}

// "local", "direct", "discovered".
constexpr std::string_view CardRelationName(CardRelation relation) {
  switch (relation) {
    case CardRelation::kLocal: return "local";
    case CardRelation::kDirect: return "direct";
    case CardRelation::kDiscovered: return "discovered";
  }
  return "unknown";
}

// The relation CardRelationName gives `name`; nullopt for any other name.
constexpr std::optional<CardRelation> CardRelationNamed(std::string_view name) {
  for (CardRelation relation : kCardRelations) {
    if (CardRelationName(relation) == name) return relation;
  }
  return std::nullopt;
}

static_assert(!MayReplace(CardRelation::kLocal, CardRelation::kDirect));
static_assert(!MayReplace(CardRelation::kDirect, CardRelation::kDiscovered));
static_assert(MayReplace(CardRelation::kDiscovered, CardRelation::kDirect));
static_assert(CardRelationNamed(CardRelationName(CardRelation::kDirect)) == CardRelation::kDirect);
static_assert(!CardRelationNamed("unknown"));

}  // namespace annals::projections::internal
