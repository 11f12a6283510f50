#pragma once
// httplib's task queue for weft-plugin: a fixed set of threads, one per
// connection being served, and a bounded wait list. A connection accepted
// when the wait list is full is not queued: its task runs at once on the
// accepting thread with overloaded() true, to be answered 503 and closed
// without reading from it.

#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace weft::plugin {

class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(size_t threads, size_t maxWaiting);
  ~ConnectionPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // True on the thread running a connection the pool had no room for.
  static bool overloaded();

 private:
  void work();

  size_t maxWaiting_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace weft::plugin
