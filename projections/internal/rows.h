// The views' stored rows as the views read and write them: each row is compact JSON (an object,
// but for the few rows a view documents otherwise) under a key of a prefix and an id. These
// helpers are shared so that every view reads and writes the same things the same way; what a
// row holds is each view's own (docs/views/).
//
// Readers take the object a parser made (the object lives until that parser parses again) and
// never fail: a member that is absent, null or of another kind reads as the stated fallback. A
// view that must refuse a malformed row checks what it needs itself and says which row.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/base/json_writer.h"

namespace annals::projections::internal {

// The key of the row of `id` under `prefix`: "p/" and "frame-b" give "p/frame-b".
std::string RowKey(std::string_view prefix, std::string_view id);

// A stored row as a JSON object; nullopt when `text` is not one. The object lives until the
// next parse with the same parser.
std::optional<simdjson::dom::object> ParseRow(simdjson::dom::parser& parser, std::string_view text);

// A member as a string; nullopt when absent, null or not a string.
std::optional<std::string> OptionalStringField(const simdjson::dom::object& object,
                                               std::string_view key);
// A member as a bool: false when absent or not a bool.
bool BoolField(const simdjson::dom::object& object, std::string_view key);
// A member as an unsigned integer: `fallback` when absent or not one.
uint64_t UintField(const simdjson::dom::object& object, std::string_view key, uint64_t fallback);

// Writes member `key`: the string, or null when `value` is nullopt (OptionalStringField reads
// it back).
JsonWriter& OptionalStringMember(JsonWriter& writer, std::string_view key,
                                 const std::optional<std::string>& value);

}  // namespace annals::projections::internal
