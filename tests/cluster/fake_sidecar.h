#pragma once
// A fake weft-gossip for supervisor tests: each launch is a SOCK_SEQPACKET
// socketpair; the test holds the sidecar's end and speaks the protocol on it
// (cluster/ipc_messages.h). Every fd is closed when the launcher goes away,
// also on failure.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "cluster/ipc_channel.h"
#include "cluster/ipc_messages.h"
#include "cluster/sidecar_launcher.h"

namespace weft::test {

using Millis = std::chrono::milliseconds;
using SteadyTime = std::chrono::steady_clock::time_point;

class FakeSidecar : public cluster::Sidecar {
 public:
  FakeSidecar(int fd, std::shared_ptr<std::atomic<bool>> killed) : fd_(fd), killed_(std::move(killed)) {}
  ~FakeSidecar() override { ::close(fd_); }
  int fd() const override { return fd_; }
  pid_t pid() const override { return -1; }
  void terminate() override { ::shutdown(fd_, SHUT_RDWR); }
  void kill() override {
    *killed_ = true;
    ::shutdown(fd_, SHUT_RDWR);
  }
  std::string wait() override { return *killed_ ? "signal 9" : "exit status 0"; }

 private:
  const int fd_;
  std::shared_ptr<std::atomic<bool>> killed_;
};

// The test's end of one fake sidecar's channel.
class SidecarEnd {
 public:
  explicit SidecarEnd(int fd) : fd_(fd) {}
  // The next message from the plugin, or nullopt after `timeout`. Pings are
  // answered here, as a live sidecar does, and not returned: a sidecar whose
  // test stops calling next() falls silent.
  std::optional<cluster::ipc::ToSidecar> next(Millis timeout = Millis(5000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) != 1) return std::nullopt;
      auto text = cluster::ipc::recv(fd_);
      if (!text.ok()) return std::nullopt;
      auto m = cluster::ipc::decodeToSidecar(*text);
      if (!m.ok()) return std::nullopt;
      if (const auto* ping = std::get_if<cluster::ipc::PingMsg>(&*m)) {
        pings_++;
        send(cluster::ipc::PongEvent{ping->seq});
        continue;
      }
      return *m;
    }
  }
  // Pings answered by next() so far.
  size_t pings() const { return pings_; }
  // Reads the configuration and the endpoints that follow it, up to StartMsg.
  struct Configuration {
    cluster::ipc::ConfigMsg config;
    std::vector<cluster::ipc::Record> endpoints;
    size_t largestMessage = 0;
    bool complete = false;
  };
  Configuration readConfiguration() {
    Configuration c;
    bool first = true;
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return c;
      auto text = cluster::ipc::recv(fd_);
      if (!text.ok()) return c;
      c.largestMessage = std::max(c.largestMessage, text->size());
      auto m = cluster::ipc::decodeToSidecar(*text);
      if (!m.ok()) return c;
      if (first) {
        if (!std::holds_alternative<cluster::ipc::ConfigMsg>(*m)) return c;
        c.config = std::get<cluster::ipc::ConfigMsg>(*m);
        first = false;
      } else if (std::holds_alternative<cluster::ipc::StartMsg>(*m)) {
        c.complete = true;
        return c;
      } else if (const auto* pub = std::get_if<cluster::ipc::PublishMsg>(&*m)) {
        c.endpoints.push_back(pub->record);
      } else {
        return c;
      }
    }
  }
  bool send(const cluster::ipc::FromSidecar& m) { return sendRaw(cluster::ipc::encode(m)); }
  bool sendRaw(const std::string& text) { return cluster::ipc::send(fd_, text).ok(); }
  int fd() const { return fd_; }

 private:
  int fd_;
  size_t pings_ = 0;
};

class FakeLauncher : public cluster::SidecarLauncher {
 public:
  ~FakeLauncher() override {
    for (int fd : ends_)
      if (fd >= 0) ::close(fd);
  }
  Result<cluster::SidecarPtr> launch() override {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
      return Error::fromErrno(errno, "socketpair");
    std::lock_guard<std::mutex> lk(mu_);
    ends_.push_back(sv[1]);
    times_.push_back(std::chrono::steady_clock::now());
    killed_.push_back(std::make_shared<std::atomic<bool>>(false));
    cv_.notify_all();
    return cluster::SidecarPtr(std::make_shared<FakeSidecar>(sv[0], killed_.back()));
  }
  // Waits for launch number n (from 0); nullopt if it does not come.
  std::optional<SidecarEnd> launched(size_t n, Millis timeout = Millis(5000)) {
    std::unique_lock<std::mutex> lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return ends_.size() > n; })) return std::nullopt;
    return SidecarEnd(ends_[n]);
  }
  // The sidecar of launch n dies: its end of the channel closes.
  void kill(size_t n) {
    std::lock_guard<std::mutex> lk(mu_);
    ::close(ends_.at(n));
    ends_.at(n) = -1;
  }
  // Whether the supervisor killed the sidecar of launch n (Sidecar::kill).
  bool killed(size_t n) {
    std::lock_guard<std::mutex> lk(mu_);
    return *killed_.at(n);
  }
  std::vector<SteadyTime> times() {
    std::lock_guard<std::mutex> lk(mu_);
    return times_;
  }
  size_t launches() {
    std::lock_guard<std::mutex> lk(mu_);
    return ends_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> ends_;
  std::vector<SteadyTime> times_;
  std::vector<std::shared_ptr<std::atomic<bool>>> killed_;
};

}  // namespace weft::test
