// Progress for long work: a bar redrawn in place on a terminal, plain lines otherwise (at most
// one line per kPlainIntervalS seconds). Written to stderr so stdout stays JSON.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace annals::tools {

class Progress {
 public:
  explicit Progress(std::string what);
  // `done` of `total` units so far.
  void Update(uint64_t done, uint64_t total);
  // The final line.
  void Finish(uint64_t done, uint64_t total);

 private:
  void Draw(uint64_t done, uint64_t total, bool final);
  static constexpr int kPlainIntervalS = 2;
  std::string what_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace annals::tools
