#include "internal/names.h"

#include <simdjson.h>

namespace annals::eventstore {

bool IsValidUtf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

bool HasControlCharacter(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return true;
    // U+0080-U+009F are encoded as 0xC2 0x80-0x9F.
    if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

bool IsValidName(std::string_view text, size_t bytes_max) {
  return !text.empty() && text.size() <= bytes_max && IsValidUtf8(text) &&
         !HasControlCharacter(text);
}

}  // namespace annals::eventstore
