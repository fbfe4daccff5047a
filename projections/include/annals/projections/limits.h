// Every limit of the projections, named, with its default. docs/limits.md lists them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace annals::projections {

// One fold batch (one WriteBatch with its checkpoint): at most this many events, or this many
// bytes of rows, whichever comes first.
inline constexpr size_t kFoldBatchEventsMax = 1024;
inline constexpr size_t kFoldBatchBytesMax = 8 << 20;
// WaitFor (read-your-writes) waits at most this long, whatever the caller asks: 30 s.
inline constexpr uint32_t kWaitForMsMax = 30000;
// How long a fold thread sleeps after a storage error before it tries again.
inline constexpr uint32_t kFoldRetryMs = 1000;
// `check` reports at most this many differing rows (and counts all of them).
inline constexpr size_t kCheckDifferencesMax = 100;

static_assert(kFoldBatchEventsMax >= 1);

}  // namespace annals::projections
