#include "plugin/gossip_supervisor.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "gossip/daemon/ipc.h"

namespace weft::plugin {

using Json = nlohmann::json;
using namespace std::chrono;

GossipSupervisor::GossipSupervisor(GossipOptions opts, driver::Driver& driver)
    : opts_(std::move(opts)), driver_(driver) {
  for (const auto& s : opts_.seeds) seeds_.push_back(withPort(s));
}

GossipSupervisor::~GossipSupervisor() { stop(); }

std::string GossipSupervisor::withPort(const std::string& a) const {
  bool v6 = a.find(':') != std::string::npos && a.find('.') == std::string::npos;
  if (a.find("]:") != std::string::npos || (!v6 && a.find(':') != std::string::npos)) return a;
  return (v6 ? "[" + a + "]" : a) + ":" + std::to_string(opts_.port);
}

void GossipSupervisor::start() {
  supervisor_ = std::thread([this] { supervise(); });
  pruner_ = std::thread([this] { prunerLoop(); });
}

void GossipSupervisor::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (child_ > 0) ::kill(child_, SIGTERM);
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  if (pruner_.joinable()) pruner_.join();
}

int GossipSupervisor::restarts() const {
  std::lock_guard<std::mutex> lk(mu_);
  return restarts_;
}

void GossipSupervisor::sendLocked(const Json& m) {
  if (fd_ < 0 || !ready_) return;  // replayed from published_ on the next ready
  auto st = gossip::ipcSend(fd_, m.dump());
  if (!st) LOG_WARN("gossip", "cannot reach weft-gossip: " << st.error().message);
}

void GossipSupervisor::publish(const driver::EndpointRecord& r) {
  Json m = {{"op", "publish"}, {"network", r.network}, {"endpoint", r.endpoint}, {"ipv4", r.ipv4},
            {"ipv6", r.ipv6},  {"mac", r.mac},         {"vtep", r.vtep}};
  std::lock_guard<std::mutex> lk(mu_);
  published_[{r.network, r.endpoint}] = m;
  sendLocked(m);
}

void GossipSupervisor::withdraw(const std::string& network, const std::string& endpoint) {
  std::lock_guard<std::mutex> lk(mu_);
  published_.erase({network, endpoint});
  sendLocked(Json{{"op", "withdraw"}, {"network", network}, {"endpoint", endpoint}});
}

void GossipSupervisor::addSeed(const std::string& address) {
  std::lock_guard<std::mutex> lk(mu_);
  std::string s = withPort(address);
  if (std::find(seeds_.begin(), seeds_.end(), s) != seeds_.end()) return;
  seeds_.push_back(s);
  sendLocked(Json{{"op", "seeds"}, {"seeds", {s}}});
}

Result<Json> GossipSupervisor::status(int timeoutMs) {
  std::unique_lock<std::mutex> lk(mu_);
  if (fd_ < 0 || !ready_)
    return Error{ENOTCONN, "weft-gossip is not running (restarts so far: " + std::to_string(restarts_) + ")"};
  uint64_t gen = statusGen_;
  gossip::ipcSend(fd_, Json{{"op", "status"}}.dump());
  if (!cv_.wait_for(lk, milliseconds(timeoutMs), [&] { return statusGen_ != gen || stopping_; }) ||
      !lastStatus_)
    return Error{ETIMEDOUT, "weft-gossip did not answer"};
  Json s = *lastStatus_;
  s["restarts"] = restarts_;
  return s;
}

bool GossipSupervisor::spawn() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    LOG_ERROR("gossip", "socketpair: " << std::strerror(errno));
    return false;
  }
  std::string lvl = opts_.logLevel;
  std::string self = std::to_string(::getpid());
  const char* argv[] = {opts_.binary.c_str(), "--ipc-fd",    "3",         "--parent-pid",
                        self.c_str(),         "--log-level", lvl.c_str(), nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    if (::dup2(sv[1], 3) < 0) ::_exit(127);
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    LOG_ERROR("gossip", "fork: " << std::strerror(errno));
    return false;
  }
  Json cfg = {{"op", "config"},       {"id", opts_.id},
              {"bind", opts_.bind},   {"advertise", opts_.advertise},
              {"label", opts_.label}, {"keys", opts_.keys}};
  {
    std::lock_guard<std::mutex> lk(mu_);
    cfg["seeds"] = seeds_;
    Json pub = Json::array();
    sentInConfig_.clear();
    for (const auto& [k, m] : published_) {
      pub.push_back(m);
      sentInConfig_[k] = m;
    }
    cfg["publish"] = pub;  // before it joins, so the join's sync carries our networks
    child_ = pid;
    fd_ = sv[0];
    ready_ = false;
  }
  if (auto st = gossip::ipcSend(sv[0], cfg.dump()); !st)
    LOG_WARN("gossip", "cannot configure weft-gossip: " << st.error().message);
  return true;
}

void GossipSupervisor::serve(int fd) {
  for (;;) {
    auto msg = gossip::ipcRecv(fd);
    if (!msg.ok()) return;
    Json m = Json::parse(*msg, nullptr, false);
    if (m.is_discarded() || !m.is_object()) continue;
    std::string ev = m.value("event", "");
    if (ev == "record") {
      driver::EndpointRecord r{m.value("network", ""), m.value("endpoint", ""), m.value("ipv4", ""),
                               m.value("ipv6", ""),    m.value("mac", ""),      m.value("vtep", "")};
      driver_.applyRemote(r, m.value("active", false));
    } else if (ev == "ready") {
      driver_.beginResync();  // remote endpoints not reported again get pruned
      std::lock_guard<std::mutex> lk(mu_);
      ready_ = true;
      ++readyGen_;
      // What was published between the configuration and now.
      for (const auto& [k, pub] : published_) {
        auto sent = sentInConfig_.find(k);
        if (sent == sentInConfig_.end() || sent->second != pub) gossip::ipcSend(fd_, pub.dump());
      }
      for (const auto& [k, sent] : sentInConfig_)
        if (!published_.count(k))
          gossip::ipcSend(fd_, Json{{"op", "withdraw"}, {"network", k.first}, {"endpoint", k.second}}.dump());
      sentInConfig_.clear();
      cv_.notify_all();
    } else if (ev == "status") {
      std::lock_guard<std::mutex> lk(mu_);
      lastStatus_ = m;
      ++statusGen_;
      cv_.notify_all();
    } else if (ev == "error") {
      LOG_ERROR("gossip", "weft-gossip: " << m.value("message", ""));
    }
  }
}

void GossipSupervisor::supervise() {
  auto backoff = milliseconds(500);
  while (true) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (stopping_) break;
    }
    auto started = steady_clock::now();
    if (spawn()) {
      int fd;
      pid_t pid;
      {
        std::lock_guard<std::mutex> lk(mu_);
        fd = fd_;
        pid = child_;
      }
      serve(fd);  // until the channel closes
      {
        std::lock_guard<std::mutex> lk(mu_);
        ::close(fd_);
        fd_ = -1;
        ready_ = false;
      }
      int status = 0;
      ::kill(pid, SIGTERM);
      ::waitpid(pid, &status, 0);
      {
        std::lock_guard<std::mutex> lk(mu_);
        child_ = -1;
        if (stopping_) break;
        ++restarts_;
      }
      std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                            : "exit status " + std::to_string(WEXITSTATUS(status));
      if (steady_clock::now() - started > seconds(60)) backoff = milliseconds(500);
      LOG_WARN("gossip", "weft-gossip stopped (" << how << "); restarting in " << backoff.count()
                                                 << " ms; established traffic is not affected");
    }
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait_for(lk, backoff, [&] { return stopping_; });
    backoff = std::min(backoff * 2, milliseconds(30000));
  }
}

void GossipSupervisor::prunerLoop() {
  std::unique_lock<std::mutex> lk(mu_);
  uint64_t seen = 0;
  while (!stopping_) {
    cv_.wait(lk, [&] { return stopping_ || (ready_ && readyGen_ != seen); });
    if (stopping_) break;
    seen = readyGen_;
    // Give the new sidecar time to sync, then prune, then keep pruning.
    auto wait = milliseconds(opts_.pruneAfterReadyMs);
    while (!stopping_ && readyGen_ == seen) {
      if (cv_.wait_for(lk, wait, [&] { return stopping_ || readyGen_ != seen; })) break;
      if (!ready_) break;
      lk.unlock();
      driver_.prunePeers();
      lk.lock();
      wait = milliseconds(opts_.prunePeriodMs);
    }
  }
}

}  // namespace weft::plugin
