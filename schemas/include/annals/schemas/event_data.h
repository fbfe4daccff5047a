// The schemas of the `data` of the domain events: the types of /work/shared/EVENTS.md
// (docs/events.md has every type with its fields and an example) and their checking at append.
//
// The catalog is one declarative table (event_data.cc): type -> fields, each with a name, a
// kind, whether it is required, and its limit (annals/schemas/limits.h). Rules:
// - The data of a catalog type is a JSON object. Absent data is refused ("data", "required for
//   <type>").
// - A required field must be present and not null; an optional field may be absent or null
//   (null counts as absent, as it does for CloudEvents attributes). Defaults of optional fields
//   are applied by the readers (the views), never written into the event.
// - Members the table does not name are allowed and kept (forward compatibility); a member the
//   table names may appear only once in its object.
// - An event of any type outside the catalog is not looked at (recorded, kept, ignored by the
//   views).
//
// Thread-safety: all functions are thread-safe (the table is constant; the JSON parser used by
// ValidateEventData is one per thread).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace annals::schemas {

// What a field's value must be.
enum class FieldKind {
  kString,          // a JSON string of at most bytes_max bytes (may be empty)
  kNonEmptyString,  // the same, not empty
  kEnum,            // a JSON string, one of `allowed`
  kCount,           // a JSON integer >= 0 that fits 64 bits (counts, limits, positions)
  kNumber,          // a JSON number >= 0, integer or fraction (a threshold)
  kDecimal,         // a JSON string of digits with at most one '.', such as "12.50"
  kTime,            // a JSON string holding an RFC 3339 date-time
  kSha256Hex,       // a JSON string of 64 lower-case hex digits
  kObject,          // a JSON object; its members are checked against `fields` (none: any)
  kAnyJson,         // any JSON value
  kStringArray,     // a JSON array of strings, each at most bytes_max bytes
  kObjectArray,     // a JSON array of objects, each checked against `fields`
};

enum class Presence { kRequired, kOptional };

// One field of an object of data.
struct FieldSchema {
  std::string_view name;
  FieldKind kind;
  Presence presence = Presence::kRequired;
  size_t bytes_max = 0;                         // kString, kNonEmptyString, kStringArray items
  std::span<const std::string_view> allowed{};  // kEnum
  std::span<const FieldSchema> fields{};        // kObject, kObjectArray items
  std::string_view default_value{};             // an optional field's default, as JSON text
};

// The data of one event type.
struct EventSchema {
  std::string_view type;
  std::string_view stream;  // where the event goes by convention, such as "peer-<peer_id>"
  std::span<const FieldSchema> fields;
  // When not empty: at least one of these (optional) fields must be present.
  std::span<const std::string_view> one_of{};
};

// Every type of the catalog, in the order of docs/events.md.
std::span<const EventSchema> EventCatalog();

// The schema of `type`, or nullptr when it is not a catalog type.
const EventSchema* FindEventSchema(std::string_view type);

// True for the types of EVENTS.md (the registry.* types and the three io.ossa.agent.* interop
// types) and registry.card.edited.v1 (annals' own: this registry's registry card).
bool IsCatalogType(std::string_view type);

// Why data breaks its type's schema: the field as a path from the event ("data",
// "data.peer_id", "data.skills[2].name") and what is wrong with it ("required", "must be a
// string", "must be one of: frame, operator", ...).
struct DataError {
  std::string field;
  std::string reason;
};

// Checks `data_json` (the JSON text of the event's data; empty = absent) against the schema of
// `type`. Returns nullopt when the type is not a catalog type or when the data is valid;
// otherwise the first break found (document order, then missing fields in table order).
std::optional<DataError> ValidateEventData(std::string_view type, std::string_view data_json);

}  // namespace annals::schemas
