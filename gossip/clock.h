#pragma once
// Time source and timers for the gossip engine. The engine is single-threaded:
// timer callbacks and packet deliveries are never run concurrently. The
// simulator provides a virtual clock; a real event loop provides a real one.

#include <cstdint>
#include <functional>
#include <memory>

#include "gossip/record.h"

namespace weft::gossip {

class Clock {
 public:
  using TimerId = uint64_t;  // 0 is never a valid timer
  virtual ~Clock() = default;
  virtual Time now() const = 0;
  virtual TimerId schedule(Duration delay, std::function<void()> fn) = 0;
  // Cancelling a timer that already fired or was cancelled is a no-op.
  virtual void cancel(TimerId id) = 0;
};
using ClockPtr = std::shared_ptr<Clock>;

}  // namespace weft::gossip
