// WorkSharing: a loop over independent items, shared between the calling thread and one helper
// thread.
//
// Run(n, fn) calls fn(i) exactly once for every i in [0, n) and returns when all n calls have
// returned. The caller and the helper each take the next item from a shared counter, one at a
// time, so neither waits for the other to finish a share fixed in advance: a helper that is
// asleep, busy with another Run, or descheduled takes nothing and the caller does every item.
// The caller waits for the helper only for the one item the helper is in the middle of.
//
// Thread-safety: Run may be called from any thread, concurrently; one Run at a time has the
// helper, any other runs on its caller alone. fn must be safe to call from two threads at once
// for different i (each call touching only its own item's data).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace annals {

class WorkSharing {
 public:
  // Starts the helper thread, named `thread_name` (at most 15 characters).
  explicit WorkSharing(const char* thread_name);
  // Stops and joins the helper. No Run may be in progress.
  ~WorkSharing();
  WorkSharing(const WorkSharing&) = delete;
  WorkSharing& operator=(const WorkSharing&) = delete;

  void Run(size_t n, const std::function<void(size_t)>& fn);

 private:
  struct Job {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    std::atomic<size_t> next{0};  // the next item to take
  };
  // Takes items of `job` until none is left.
  static void Work(Job* job);
  void HelperLoop();

  std::mutex helper_taken_;  // held by the Run that offers the helper a job
  // The job offered to the helper, or nullptr. The helper takes it by exchanging it for nullptr;
  // the Run retracts it the same way when it finishes first.
  std::atomic<Job*> offered_{nullptr};
  // Set by the Run that offers a job; cleared by the helper once it no longer touches the job it
  // took (or by the Run itself, when it retracts the job untaken).
  std::atomic<bool> helper_in_{false};
  Job stop_;  // offered by the destructor: the helper returns when it takes it
  std::thread helper_;
};

}  // namespace annals
