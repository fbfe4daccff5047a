// Checks on the text the ledger stores outside the CloudEvent: stream names, idempotency keys,
// registry names. Also the UTF-8 and control-character checks CloudEvent validation shares.
#pragma once

#include <cstddef>
#include <string_view>

namespace annals::eventstore {

// Well-formed UTF-8 (simdjson's validator).
bool IsValidUtf8(std::string_view text);

// True when `text` holds a control character: U+0000-U+001F or U+007F-U+009F, the characters
// CloudEvents 1.0.2 disallows in a String.
bool HasControlCharacter(std::string_view text);

// 1 to `bytes_max` bytes of valid UTF-8 without control characters.
bool IsValidName(std::string_view text, size_t bytes_max);

}  // namespace annals::eventstore
