#pragma once
// A single-threaded epoll event loop with timers; it is also the gossip
// engine's real Clock. Everything registered runs on the loop's thread.

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>

#include "gossip/clock.h"

namespace weft::gossip {

class EventLoop : public Clock {
 public:
  EventLoop();
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Clock
  Time now() const override;
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;

  // fd readiness: `events` is an EPOLL* mask; the callback gets the ready mask.
  void watch(int fd, uint32_t events, std::function<void(uint32_t)> cb);
  void modify(int fd, uint32_t events);
  void unwatch(int fd);

  // Runs until stop().
  void run();
  void stop() { running_ = false; }

 private:
  int epfd_;
  bool running_ = false;
  TimerId nextId_ = 1;
  std::multimap<Time, TimerId> byTime_;
  std::unordered_map<TimerId, std::pair<Time, std::function<void()>>> timers_;
  std::unordered_map<int, std::function<void(uint32_t)>> fds_;
};

}  // namespace weft::gossip
