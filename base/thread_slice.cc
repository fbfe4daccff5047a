#include "annals/base/thread_slice.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace annals {

namespace {
// struct sched_attr of sched_setattr(2) (glibc 2.36 does not declare it).
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;  // for SCHED_OTHER (Linux 6.12+): the requested slice, in ns
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};
}  // namespace

bool RequestTimeSlice(std::chrono::microseconds slice) {
  SchedAttr attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  // Keep the thread's nice value: sched_setattr sets it too.
  attr.sched_nice = static_cast<int32_t>(getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())));
  attr.sched_runtime = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count());
  return syscall(SYS_sched_setattr, 0, &attr, 0) == 0;
}

}  // namespace annals
