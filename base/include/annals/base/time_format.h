// RFC 3339 timestamps in UTC, as annals writes them: "2026-11-21T23:59:50Z", with a fraction of
// up to 9 digits (trailing zeros trimmed) when the nanoseconds are not zero.
#pragma once

#include <cstdint>
#include <string>

namespace annals {

// `seconds` since the Unix epoch and `nanos` in [0, 1e9).
std::string FormatRfc3339(int64_t seconds, int32_t nanos);

// Nanoseconds since the Unix epoch (may be negative).
std::string FormatRfc3339Nanos(int64_t ns);

}  // namespace annals
