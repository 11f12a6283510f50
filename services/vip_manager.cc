#include "services/vip_manager.h"

#include <algorithm>
#include <set>

#include "common/log.h"

namespace weft::services {

VipManager::VipManager(kernel::Kernel& kernel, engine::EngineSource& engine, VipConfig cfg)
    : kernel_(kernel), engine_(engine), cfg_(std::move(cfg)) {}

VipManager::~VipManager() { stop(); }

void VipManager::start() {
  std::lock_guard<std::mutex> lk(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void VipManager::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void VipManager::run() {
  using Clock = std::chrono::steady_clock;
  auto nextFull = Clock::now();
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    bool waiting =
        std::any_of(locals_.begin(), locals_.end(), [](const auto& e) { return e.second.waiting; });
    auto until = std::min(nextFull, waiting ? Clock::now() + cfg_.namespacePoll : nextFull);
    cv_.wait_until(lk, until, [this] { return stop_ || wake_; });
    if (stop_) break;
    bool full = wake_ || Clock::now() >= nextFull;
    wake_ = false;
    lk.unlock();
    if (full) {
      refresh();
      nextFull = Clock::now() + cfg_.interval;
    } else {
      programWaiting();
    }
    lk.lock();
  }
}

std::string VipManager::tagOf(const std::string& networkId) { return networkId.substr(0, 32); }

Result<std::string> VipManager::mapSandboxKey(const std::string& key, const std::string& hostRunDir) {
  if (key.empty() || key.front() != '/' || key.size() > 4096 || key.find('\0') != std::string::npos)
    return Error{EINVAL, "SandboxKey \"" + key.substr(0, 64) + "\" is not an absolute path"};
  for (size_t pos = 0; (pos = key.find("/..", pos)) != std::string::npos; pos += 3)
    if (pos + 3 == key.size() || key[pos + 3] == '/')
      return Error{EINVAL, "SandboxKey \"" + key.substr(0, 64) + "\" holds \"..\""};
  if (hostRunDir.empty()) return key;
  for (const char* prefix : {"/var/run/", "/run/"}) {
    const std::string p = prefix;
    if (key.compare(0, p.size(), p) == 0) return hostRunDir + "/" + key.substr(p.size());
  }
  return key;
}

Status VipManager::joined(const std::string& networkId, const std::string& endpointId,
                          const std::string& sandboxKey) {
  return addLocal(networkId, endpointId, sandboxKey, false);
}

Status VipManager::addLocal(const std::string& networkId, const std::string& endpointId,
                            const std::string& sandboxKey, bool adopting) {
  auto path = mapSandboxKey(sandboxKey, cfg_.hostRunDir);
  if (!path) return path.error();
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = locals_.find(endpointId);
    if (adopting && (it != locals_.end() || left_.count(endpointId)))
      return Error{EALREADY, "endpoint " + endpointId.substr(0, 12) + " is known or left"};
    if (it == locals_.end() && locals_.size() >= kMaxLocalContainers)
      return Error{ENOSPC,
                   "service VIPs: " + std::to_string(kMaxLocalContainers) + " local containers already"};
    left_.erase(endpointId);  // Docker joins it (again): it is weft's once more
    Local& l = locals_[endpointId];
    // Every Join programs anew: a container that restarts joins again with
    // the same SandboxKey but a new namespace behind it.
    l.programmed.reset();
    l.networkId = networkId;
    l.nsPath = *path;
    l.gen = ++gen_;
    l.joinedAt = std::chrono::steady_clock::now();
    l.waiting = false;
    wake_ = true;
  }
  cv_.notify_all();
  return Status::Ok();
}

void VipManager::rememberLeft(const std::string& endpointId) {
  // leftOrder_ is in time order: expire and bound from its front.
  auto now = std::chrono::steady_clock::now();
  while (!leftOrder_.empty() &&
         (now - leftOrder_.front().first > kLeftMemory || left_.size() >= kMaxLocalContainers ||
          leftOrder_.size() >= 2 * kMaxLocalContainers)) {
    auto it = left_.find(leftOrder_.front().second);
    if (it != left_.end() && it->second == leftOrder_.front().first) left_.erase(it);
    leftOrder_.pop_front();
  }
  left_[endpointId] = now;
  leftOrder_.emplace_back(now, endpointId);
}

void VipManager::left(const std::string& endpointId) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    rememberLeft(endpointId);
    auto it = locals_.find(endpointId);
    if (it == locals_.end()) return;
    // Removed also when not known to be programmed: a programming may be in
    // flight (programDue queues one more removal if it lands after this).
    removals_.push_back({it->second.nsPath, tagOf(it->second.networkId)});
    locals_.erase(it);
    wake_ = true;
  }
  cv_.notify_all();
}

std::vector<kernel::ServiceVip> VipManager::desiredOf(const std::vector<engine::Service>& services) {
  std::vector<kernel::ServiceVip> out;
  for (const auto& s : services) {
    if (!s.vip) continue;  // dnsrr: names resolve to the tasks
    kernel::ServiceVip v{*s.vip, {}};
    for (const auto& b : s.backends)
      if (b.family == s.vip->family && b != *s.vip) v.backends.push_back(b);
    if (v.backends.size() > kernel::kMaxBackendsPerVip) v.backends.resize(kernel::kMaxBackendsPerVip);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.vip < b.vip; });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.vip == b.vip; }),
            out.end());
  if (out.size() > kernel::kMaxVipsPerTable) out.resize(kernel::kMaxVipsPerTable);
  return out;
}

VipManager::RoundResult VipManager::refresh() {
  RoundResult res;
  // 1. Namespaces containers left: their tables go (a namespace already
  // gone took its table with it).
  std::vector<Removal> removals;
  std::set<std::string> networks;
  {
    std::lock_guard<std::mutex> lk(mu_);
    removals.swap(removals_);
    for (const auto& [ep, l] : locals_) networks.insert(l.networkId);
  }
  for (const auto& r : removals) {
    auto st = kernel_.setServiceVips(r.nsPath, r.tag, {});
    if (!st && st.code() != ENOENT)
      LOG_WARN("vips", "removing service VIPs from " << r.nsPath << ": " << st.error().message);
    // Another endpoint of the same network in that namespace (a reconnect)
    // lost its table with this one: program it again.
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& [ep, l] : locals_)
      if (l.nsPath == r.nsPath && tagOf(l.networkId) == r.tag) l.programmed.reset();
  }
  // 2. The engine's view of each network with local containers.
  for (const auto& id : networks) {
    ++res.networks;
    auto view = engine_.network(id);
    std::vector<std::pair<std::string, std::string>> unknown;  // endpoint, container
    {
      std::lock_guard<std::mutex> lk(mu_);
      Net& n = nets_[id];
      if (!view) {
        ++res.engineErrors;
        if (n.error != view.error().message)
          LOG_WARN("vips", "network " << id.substr(0, 12) << ": " << view.error().message
                                      << " (its service VIPs stay as they are)");
        n.error = view.error().message;
        continue;
      }
      n.error.clear();
      n.known = true;
      n.services = view->services;
      for (const auto& [ep, cid] : view->containers)
        if (!locals_.count(ep) && !left_.count(ep)) unknown.emplace_back(ep, cid);
    }
    // Containers that joined before weft (re)started: their namespace from
    // the engine. Only on networks weft already has local containers on --
    // one Join after a restart is enough to bring the others along.
    for (const auto& [ep, cid] : unknown) {
      auto key = engine_.sandboxKey(cid);
      if (!key) continue;  // stopped meanwhile
      if (addLocal(id, ep, *key, true)) ++res.adopted;
    }
  }
  // 3. Every namespace whose table differs from the network's services.
  programDue(false, res);
  {
    // Networks without local containers are forgotten.
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = nets_.begin(); it != nets_.end();)
      it = networks.count(it->first) ? std::next(it) : nets_.erase(it);
  }
  return res;
}

VipManager::RoundResult VipManager::programWaiting() {
  RoundResult res;
  programDue(true, res);
  return res;
}

void VipManager::programDue(bool waitingOnly, RoundResult& res) {
  struct Work {
    std::string ep, nsPath, tag;
    uint64_t gen;
    std::vector<kernel::ServiceVip> want;
  };
  std::vector<Work> work;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [ep, l] : locals_) {
      if (waitingOnly && !l.waiting) continue;
      auto n = nets_.find(l.networkId);
      if (n == nets_.end() || !n->second.known) continue;
      auto want = desiredOf(n->second.services);
      if (l.programmed && *l.programmed == want) continue;
      work.push_back({ep, l.nsPath, tagOf(l.networkId), l.gen, std::move(want)});
    }
  }
  for (auto& w : work) {
    auto st = kernel_.setServiceVips(w.nsPath, w.tag, w.want);
    std::lock_guard<std::mutex> lk(mu_);
    auto it = locals_.find(w.ep);
    if (it == locals_.end()) {
      // It left while this was in flight: what just landed must go too.
      if (st) {
        removals_.push_back({w.nsPath, w.tag});
        wake_ = true;
      }
      continue;
    }
    if (it->second.gen != w.gen) continue;  // joined anew meanwhile: programmed again
    Local& l = it->second;
    if (st) {
      ++res.programmed;
      l.programmed = std::move(w.want);
      l.waiting = false;
    } else if (st.code() == ENOENT) {
      // Not there yet (Join comes first), or gone with its container.
      if (std::chrono::steady_clock::now() - l.joinedAt < cfg_.namespaceWait) {
        l.waiting = true;
        ++res.waiting;
      } else {
        if (l.waiting || l.programmed)
          LOG_INFO("vips", "endpoint " << w.ep.substr(0, 12) << ": namespace " << w.nsPath
                                       << " is gone; its service VIPs with it");
        locals_.erase(it);
      }
    } else {
      ++res.failed;
      LOG_WARN("vips", "endpoint " << w.ep.substr(0, 12) << ": " << st.error().message << " (retried)");
    }
  }
}

std::vector<NetworkServices> VipManager::view() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, NetworkServices> out;
  for (const auto& [id, n] : nets_) {
    auto& v = out[id];
    v.networkId = id;
    v.services = n.services;
    v.error = n.error;
  }
  for (const auto& [ep, l] : locals_) {
    auto& v = out[l.networkId];
    v.networkId = l.networkId;
    ++v.containers;
    auto n = nets_.find(l.networkId);
    if (l.programmed && n != nets_.end() && n->second.known && *l.programmed == desiredOf(n->second.services))
      ++v.programmed;
  }
  std::vector<NetworkServices> r;
  for (auto& [id, v] : out) r.push_back(std::move(v));
  return r;
}

}  // namespace weft::services
