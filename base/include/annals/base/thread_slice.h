// Scheduler time slices for the threads others wait on.
//
// Linux's EEVDF scheduler (6.12 and later) lets a thread ask for a time slice shorter than the
// default (about 3 ms on two cores): such a thread gets an earlier deadline whenever it wakes,
// so it runs within microseconds instead of waiting for the running thread's slice to end. The
// ledger asks it for the helper that prepares large batches beside their callers, which would
// otherwise wait behind the indexer holding the other core (docs/decisions.md, "Large batches
// are prepared on two threads").
//
// Thread-safety: changes only the calling thread.
#pragma once

#include <chrono>

namespace annals {

// The shortest slice the kernel grants (it clamps requests to 0.1 ms .. 100 ms).
inline constexpr std::chrono::microseconds kShortTimeSlice{100};

// Asks for `slice` for the calling thread, keeping its policy (SCHED_OTHER) and nice value.
// Returns false where the kernel does not take it (before 6.12: the thread keeps the default);
// nothing else changes either way.
bool RequestTimeSlice(std::chrono::microseconds slice = kShortTimeSlice);

}  // namespace annals
