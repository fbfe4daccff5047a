// A stop request that sleeping threads wake for.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace annals::reactors::internal {

class StopFlag {
 public:
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }
  bool stopped() const {
    std::lock_guard lock(mu_);
    return stop_;
  }
  // Sleeps `delay` unless Stop comes first; false when stopping.
  bool Pause(std::chrono::milliseconds delay) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, delay, [this] { return stop_; });
    return !stop_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace annals::reactors::internal
