#include "annals/base/time_format.h"

#include <fmt/format.h>

#include <chrono>

#include "annals/base/assert.h"

namespace annals {
namespace {

constexpr size_t kFractionDigitsMax = 9;

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `count` decimal digits at text[*i] into *value.
bool ReadDigits(std::string_view text, size_t* i, size_t count, int* value) {
  if (text.size() - *i < count) return false;
  *value = 0;
  for (size_t end = *i + count; *i < end; ++*i) {
    if (!IsAsciiDigit(text[*i])) return false;
    *value = *value * 10 + (text[*i] - '0');
  }
  return true;
}

bool ReadChar(std::string_view text, size_t* i, std::string_view allowed) {
  if (*i >= text.size() || allowed.find(text[*i]) == std::string_view::npos) return false;
  ++*i;
  return true;
}

// The parts of an RFC 3339 date-time as written, before any range check.
struct DateTimeFields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int32_t nanos = 0;
  int offset_minutes = 0;  // local time minus UTC
};

// fraction = "." 1*9DIGIT; absent is zero. False on a '.' without digits or with more than 9.
bool ReadFraction(std::string_view text, size_t* i, int32_t* nanos) {
  *nanos = 0;
  if (!ReadChar(text, i, ".")) return true;
  size_t digit_count = 0;
  for (; *i < text.size() && IsAsciiDigit(text[*i]); ++*i, ++digit_count) {
    if (digit_count == kFractionDigitsMax) return false;
    *nanos = *nanos * 10 + (text[*i] - '0');
  }
  for (size_t k = digit_count; k < kFractionDigitsMax; ++k) *nanos *= 10;
  return digit_count > 0;
}

// time-offset = "Z" / ("+" / "-") hh ":" mm
bool ReadOffset(std::string_view text, size_t* i, int* offset_minutes) {
  *offset_minutes = 0;
  if (ReadChar(text, i, "Zz")) return true;
  const bool negative = *i < text.size() && text[*i] == '-';
  int hours = 0, minutes = 0;
  if (!ReadChar(text, i, "+-") || !ReadDigits(text, i, 2, &hours) || !ReadChar(text, i, ":") ||
      !ReadDigits(text, i, 2, &minutes) || hours > 23 || minutes > 59) {
    return false;
  }
  *offset_minutes = (negative ? -1 : 1) * (hours * 60 + minutes);
  return true;
}

bool ReadDateTimeFields(std::string_view text, DateTimeFields* f) {
  size_t i = 0;
  return ReadDigits(text, &i, 4, &f->year) && ReadChar(text, &i, "-") &&
         ReadDigits(text, &i, 2, &f->month) && ReadChar(text, &i, "-") &&
         ReadDigits(text, &i, 2, &f->day) && ReadChar(text, &i, "Tt") &&
         ReadDigits(text, &i, 2, &f->hour) && ReadChar(text, &i, ":") &&
         ReadDigits(text, &i, 2, &f->minute) && ReadChar(text, &i, ":") &&
         ReadDigits(text, &i, 2, &f->second) && ReadFraction(text, &i, &f->nanos) &&
         ReadOffset(text, &i, &f->offset_minutes) && i == text.size();
}

}  // namespace

std::optional<std::string> ParseRfc3339(std::string_view text, int64_t* seconds, int32_t* nanos) {
  namespace chrono = std::chrono;
  DateTimeFields f;
  if (!ReadDateTimeFields(text, &f)) {
    return "must be an RFC 3339 timestamp such as 2018-04-05T03:56:24Z or "
           "2018-04-05T05:56:24.5+02:00";
  }
  const chrono::year_month_day date{chrono::year{f.year},
                                    chrono::month{static_cast<unsigned>(f.month)},
                                    chrono::day{static_cast<unsigned>(f.day)}};
  if (!date.ok()) return "has a date that does not exist";
  if (f.hour > 23 || f.minute > 59) return "has an hour or minute out of range";
  // google.protobuf.Timestamp has no leap seconds (it is smeared time), so 60 cannot be kept.
  if (f.second > 59) return "has a second out of range (leap seconds are not supported)";
  const int64_t days = chrono::sys_days(date).time_since_epoch().count();
  *seconds = days * 86400 + f.hour * 3600 + f.minute * 60 + f.second -
             int64_t{f.offset_minutes} * 60;
  *nanos = f.nanos;
  if (*seconds < kRfc3339SecondsMin || *seconds > kRfc3339SecondsMax) {
    return "must lie between years 0001 and 9999 in UTC";
  }
  return std::nullopt;
}


std::string FormatRfc3339(int64_t seconds, int32_t nanos) {
  ANNALS_ASSERT(nanos >= 0 && nanos < 1'000'000'000);
  using namespace std::chrono;
  const sys_seconds tp{std::chrono::seconds(seconds)};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{tp - day};
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(ymd.year()),
                                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                                hms.hours().count(), hms.minutes().count(), hms.seconds().count());
  if (nanos != 0) {
    std::string fraction = fmt::format("{:09}", nanos);
    while (fraction.back() == '0') fraction.pop_back();
    out += '.';
    out += fraction;
  }
  out += 'Z';
  return out;
}

std::string FormatRfc3339Nanos(int64_t ns) {
  int64_t seconds = ns / 1'000'000'000;
  int64_t nanos = ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    seconds -= 1;
  }
  return FormatRfc3339(seconds, static_cast<int32_t>(nanos));
}

}  // namespace annals
