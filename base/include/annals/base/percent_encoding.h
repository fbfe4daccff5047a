// Percent-encoding (RFC 3986): URI paths and queries, and the attribute headers of the
// CloudEvents binary content mode (HTTP and NATS).
// Thread-safety: free functions, no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace annals {

// One round of percent-decoding: "%xy" (either case) becomes the byte 0xxy. With `plus_is_space`
// (query strings, application/x-www-form-urlencoded) '+' becomes a space. nullopt when a '%' is
// not followed by two hex digits. The result is bytes: callers that need text check UTF-8.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// Percent-encodes every byte but the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~),
// upper-case hex: safe in a path segment and in a query value.
std::string PercentEncode(std::string_view bytes);

}  // namespace annals
