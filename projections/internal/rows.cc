#include "internal/rows.h"

namespace annals::projections::internal {

std::string RowKey(std::string_view prefix, std::string_view id) {
  return std::string(prefix).append(id);
}

std::optional<simdjson::dom::object> ParseRow(simdjson::dom::parser& parser,
                                              std::string_view text) {
  simdjson::dom::object object;
  if (parser.parse(text.data(), text.size()).get_object().get(object) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  return object;
}

std::optional<std::string> OptionalStringField(const simdjson::dom::object& object,
                                               std::string_view key) {
  std::string_view value;
  if (object[key].get_string().get(value) != simdjson::SUCCESS) return std::nullopt;
  return std::string(value);
}

bool BoolField(const simdjson::dom::object& object, std::string_view key) {
  bool value = false;
  return object[key].get_bool().get(value) == simdjson::SUCCESS && value;
}

uint64_t UintField(const simdjson::dom::object& object, std::string_view key, uint64_t fallback) {
  uint64_t value = 0;
  if (object[key].get_uint64().get(value) != simdjson::SUCCESS) return fallback;
  return value;
}

JsonWriter& OptionalStringMember(JsonWriter& writer, std::string_view key,
                                 const std::optional<std::string>& value) {
  writer.Key(key);
  return value ? writer.String(*value) : writer.Null();
}

}  // namespace annals::projections::internal
