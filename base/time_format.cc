#include "annals/base/time_format.h"

#include <fmt/format.h>

#include <chrono>

#include "annals/base/assert.h"

namespace annals {

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
