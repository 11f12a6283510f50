#include "gossip/daemon/event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace weft::gossip {

EventLoop::EventLoop() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw std::runtime_error("epoll_create1 failed");  // start-up only
}

EventLoop::~EventLoop() { ::close(epfd_); }

Time EventLoop::now() const {
  return std::chrono::duration_cast<Time>(std::chrono::steady_clock::now().time_since_epoch());
}

Clock::TimerId EventLoop::schedule(Duration delay, std::function<void()> fn) {
  TimerId id = nextId_++;
  Time at = now() + delay;
  byTime_.emplace(at, id);
  timers_.emplace(id, std::make_pair(at, std::move(fn)));
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto range = byTime_.equal_range(it->second.first);
  for (auto b = range.first; b != range.second; ++b)
    if (b->second == id) {
      byTime_.erase(b);
      break;
    }
  timers_.erase(it);
}

void EventLoop::watch(int fd, uint32_t events, std::function<void(uint32_t)> cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
  fds_[fd] = std::move(cb);
}

void EventLoop::modify(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::unwatch(int fd) {
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

void EventLoop::run() {
  running_ = true;
  std::vector<epoll_event> events(64);
  while (running_) {
    int timeoutMs = -1;
    if (!byTime_.empty()) {
      auto wait = byTime_.begin()->first - now();
      timeoutMs = wait.count() <= 0 ? 0 : static_cast<int>((wait.count() + 999) / 1000);
    }
    int n = ::epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), timeoutMs);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      auto it = fds_.find(events[static_cast<size_t>(i)].data.fd);
      if (it == fds_.end()) continue;
      auto cb = it->second;  // the callback may unwatch itself
      cb(events[static_cast<size_t>(i)].events);
    }
    // Due timers, in order; timers scheduled now for "now" run next round.
    Time t = now();
    while (!byTime_.empty() && byTime_.begin()->first <= t) {
      TimerId id = byTime_.begin()->second;
      byTime_.erase(byTime_.begin());
      auto it = timers_.find(id);
      if (it == timers_.end()) continue;
      auto fn = std::move(it->second.second);
      timers_.erase(it);
      fn();
    }
  }
}

}  // namespace weft::gossip
