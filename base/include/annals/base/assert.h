// Assertions for programmer errors. ANNALS_ASSERT stays on in every build type (release
// included): a broken invariant in a ledger must stop the process before it writes, never be
// carried forward. Operating errors are Status values (annals/base/status.h), not assertions.
#pragma once

namespace annals::internal {
[[noreturn]] void AssertFailed(const char* expr, const char* file, int line, const char* message);
}  // namespace annals::internal

#define ANNALS_ASSERT(cond)                                                          \
  do {                                                                               \
    if (!(cond)) [[unlikely]] ::annals::internal::AssertFailed(#cond, __FILE__, __LINE__, ""); \
  } while (0)

#define ANNALS_ASSERT_MSG(cond, msg)                                                    \
  do {                                                                                  \
    if (!(cond)) [[unlikely]] ::annals::internal::AssertFailed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

#define ANNALS_UNREACHABLE() ::annals::internal::AssertFailed("unreachable", __FILE__, __LINE__, "")
