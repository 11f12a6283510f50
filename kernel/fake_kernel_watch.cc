// FakeKernel's change notifications: one eventfd per watcher, bumped by
// every operation that may change the watched namespace, so a watcher polls
// and drains it exactly as it does the kernel's netlink socket.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "kernel/fake_kernel.h"
#include "kernel/fake_kernel_util.h"
#include "kernel/fd.h"

namespace weft::kernel {

struct FakeKernel::WatchState {
  Fd efd;
  uint64_t nsId = 0;
};

namespace {

class FakeWatch : public ChangeWatch {
 public:
  explicit FakeWatch(std::shared_ptr<void> state, int fd) : state_(std::move(state)), fd_(fd) {}
  int fd() const override { return fd_; }
  size_t drain() override {
    uint64_t n = 0;
    if (::read(fd_, &n, sizeof n) != static_cast<ssize_t>(sizeof n)) return 0;  // EAGAIN: nothing new
    return static_cast<size_t>(n);
  }

 private:
  std::shared_ptr<void> state_;  // FakeKernel::WatchState; the kernel holds it weakly
  int fd_;
};

}  // namespace

Result<ChangeWatchPtr> FakeKernel::watchChanges(const Netns& ns) {
  FAKE_ENTER("watchChanges");
  auto n = nsLocked("watchChanges", ns);
  if (!n) return n.error();
  auto st = std::make_shared<WatchState>();
  st->efd = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!st->efd) return Error::fromErrno(errno, "watchChanges: eventfd");
  st->nsId = (*n)->id;
  watches_.push_back(st);
  const int fd = st->efd.get();
  return ChangeWatchPtr(std::make_unique<FakeWatch>(std::move(st), fd));
}

void FakeKernel::muteWatches(bool muted) {
  std::lock_guard<std::mutex> lk(mu_);
  watchesMuted_ = muted;
}

void FakeKernel::notifyLocked(const Netns& ns) {
  if (watchesMuted_) return;
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return;
  const uint64_t id = it->second.id;
  std::erase_if(watches_, [](const auto& w) { return w.expired(); });
  for (const auto& w : watches_)
    if (auto st = w.lock(); st && st->nsId == id) {
      const uint64_t one = 1;
      [[maybe_unused]] auto r = ::write(st->efd.get(), &one, sizeof one);  // saturates, never blocks long
    }
}

}  // namespace weft::kernel
