// RFC 3339 timestamps: written in UTC, as annals writes them ("2026-11-21T23:59:50Z", with a
// fraction of up to 9 digits, trailing zeros trimmed, when the nanoseconds are not zero), and
// read with any offset.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace annals {

// `seconds` since the Unix epoch and `nanos` in [0, 1e9).
std::string FormatRfc3339(int64_t seconds, int32_t nanos);

// Nanoseconds since the Unix epoch (may be negative).
std::string FormatRfc3339Nanos(int64_t ns);

// The times annals keeps, those of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
inline constexpr int64_t kRfc3339SecondsMin = -62135596800;  // 0001-01-01T00:00:00Z
inline constexpr int64_t kRfc3339SecondsMax = 253402300799;  // 9999-12-31T23:59:59Z

// Reads an RFC 3339 date-time: "T" and "Z" in either case, a fraction of 1 to 9 digits, an
// offset "Z" or +hh:mm / -hh:mm. On success sets *seconds (since the Unix epoch, UTC) and *nanos
// (in [0, 1e9)) and returns nullopt. Otherwise returns why, as a phrase that follows the name of
// what was read ("must be an RFC 3339 timestamp such as ...", "has a date that does not
// exist"), and leaves the outputs unspecified. A leap second (:60) and a time outside
// [kRfc3339SecondsMin, kRfc3339SecondsMax] in UTC are refused.
std::optional<std::string> ParseRfc3339(std::string_view text, int64_t* seconds, int32_t* nanos);

}  // namespace annals
