#include "plugin/connection_pool.h"

namespace weft::plugin {

namespace {
thread_local bool tl_overloaded = false;
}

ConnectionPool::ConnectionPool(size_t threads, size_t maxWaiting) : maxWaiting_(maxWaiting) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

ConnectionPool::~ConnectionPool() { shutdown(); }

bool ConnectionPool::overloaded() { return tl_overloaded; }

void ConnectionPool::enqueue(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (waiting_.size() < maxWaiting_) {
      waiting_.push_back(std::move(fn));
      cv_.notify_one();
      return;
    }
  }
  tl_overloaded = true;
  fn();
  tl_overloaded = false;
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ConnectionPool::work() {
  for (;;) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // stopping, nothing left
      fn = std::move(waiting_.front());
      waiting_.pop_front();
    }
    fn();
  }
}

}  // namespace weft::plugin
