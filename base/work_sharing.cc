#include "annals/base/work_sharing.h"

#include <pthread.h>

#include "annals/base/thread_slice.h"

namespace annals {

WorkSharing::WorkSharing(const char* thread_name) {
  helper_ = std::thread([this, thread_name] {
    pthread_setname_np(pthread_self(), thread_name);
    // The caller waits for the item the helper is on, and the helper is worth having only if it
    // starts at once when offered a job: ahead of whatever holds its core.
    RequestTimeSlice();
    HelperLoop();
  });
}

WorkSharing::~WorkSharing() {
  offered_.store(&stop_, std::memory_order_release);
  offered_.notify_one();
  helper_.join();
}

void WorkSharing::Work(Job* job) {
  for (size_t i = job->next.fetch_add(1, std::memory_order_relaxed); i < job->n;
       i = job->next.fetch_add(1, std::memory_order_relaxed)) {
    (*job->fn)(i);
  }
}

void WorkSharing::HelperLoop() {
  for (;;) {
    offered_.wait(nullptr, std::memory_order_acquire);
    Job* job = offered_.exchange(nullptr, std::memory_order_acq_rel);
    if (job == &stop_) return;
    if (job == nullptr) continue;  // retracted by a Run that finished first
    Work(job);
    // The job lives on the Run's stack: no touching it after this store.
    helper_in_.store(false, std::memory_order_release);
    helper_in_.notify_one();
  }
}

void WorkSharing::Run(size_t n, const std::function<void(size_t)>& fn) {
  std::unique_lock helper(helper_taken_, std::try_to_lock);
  if (!helper.owns_lock() || n < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Job job;
  job.fn = &fn;
  job.n = n;
  helper_in_.store(true, std::memory_order_relaxed);
  offered_.store(&job, std::memory_order_release);
  offered_.notify_one();
  Work(&job);
  Job* untaken = &job;
  if (offered_.compare_exchange_strong(untaken, nullptr, std::memory_order_acq_rel)) {
    helper_in_.store(false, std::memory_order_relaxed);  // the helper never took it
    return;
  }
  // The helper took the job: wait for the item it is in the middle of, if any. Its calls of fn
  // happen before its store of false (release), which this load sees (acquire).
  while (helper_in_.load(std::memory_order_acquire)) {
    helper_in_.wait(true, std::memory_order_acquire);
  }
}

}  // namespace annals
