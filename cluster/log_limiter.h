#pragma once
// Rate limit for log lines an untrusted peer can trigger at will: at most
// `burst` lines per `period`; the next allowed line says how many were
// suppressed meanwhile.

#include <chrono>
#include <cstddef>
#include <mutex>

namespace weft::cluster {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  LogLimiter(size_t burst, Clock::duration period) : burst_(burst), period_(period) {}

  // True if a line may be written now; *suppressed gets how many were not
  // since the last one that was.
  bool allow(size_t* suppressed) {
    std::lock_guard<std::mutex> lk(mu_);
    auto now = Clock::now();
    if (now - windowStart_ >= period_) {
      windowStart_ = now;
      inWindow_ = 0;
    }
    if (inWindow_ >= burst_) {
      ++suppressed_;
      return false;
    }
    ++inWindow_;
    *suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  const size_t burst_;
  const Clock::duration period_;
  std::mutex mu_;
  Clock::time_point windowStart_{};
  size_t inWindow_ = 0;
  size_t suppressed_ = 0;
};

}  // namespace weft::cluster
