#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace annals::tools {

Progress::Progress(std::string what)
    : what_(std::move(what)), tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

void Progress::Update(uint64_t done, uint64_t total) {
  if (done < total) Draw(done, total, false);  // the last figure is Finish's
}

void Progress::Finish(uint64_t done, uint64_t total) { Draw(done, total, true); }

void Progress::Draw(uint64_t done, uint64_t total, bool final) {
  const auto now = std::chrono::steady_clock::now();
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::seconds(kPlainIntervalS);
  if (!final && now - last_draw_ < interval) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  const double fraction = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  if (tty_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '-');
    std::fprintf(stderr, "\r%s [%s] %3.0f%% %llu/%llu %.0f/s%s", what_.c_str(), bar.c_str(),
                 fraction * 100, static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total), rate, final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s: %llu/%llu (%.0f%%) %.0f/s\n", what_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 fraction * 100, rate);
  }
  std::fflush(stderr);
}

}  // namespace annals::tools
