#include "driver/driver.h"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "common/log.h"
#include "driver/driver_internal.h"
#include "driver/names.h"
#include "driver/network_policy.h"
#include "driver/sandbox.h"
#include "driver/saved_state.h"
#include "kernel/types.h"

namespace weft::driver {

using detail::checkSubnet;
using detail::notFound;

Driver::Driver(DriverConfig cfg, kernel::Kernel& kernel)
    : cfg_(std::move(cfg)),
      kernel_(kernel),
      peers_(kernel_, cfg_.advertiseAddr),
      store_(cfg_.stateDir + "/state.json"),
      faults_(cfg_.repairRetry) {
  retiredSeq_ = std::random_device{}();
}

// ---------------------------------------------------------------- state

std::pair<std::string, uint64_t> Driver::snapshotLocked() const {
  return {encodeState(networks_, endpoints_, ipam_, swarm_), changeSeq_};
}

Status Driver::commit(uint64_t seq) {
  return store_.persist(seq, [this] {
    std::lock_guard<std::mutex> lk(mu_);
    return snapshotLocked();
  });
}

Status Driver::changeDurably(const std::function<Result<Changed>()>& change,
                             const std::function<void()>& undo) {
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto changed = change();
    if (!changed.ok()) return changed.error();
    if (*changed == Changed::kNo) return Status::Ok();
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    undo();  // as it was before: the change never happened
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

Status Driver::loadFrom(const nlohmann::json& j) {
  auto saved = decodeState(j, store_.path());
  if (!saved.ok()) return saved.error();
  networks_ = std::move(saved->networks);
  endpoints_ = std::move(saved->endpoints);
  ipam_ = std::move(saved->ipam);
  // Restored leases wait `settle` again before use: takeovers made while
  // this host was away are learnt first.
  ipam_.restartLeases(std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count());
  swarm_ = std::move(saved->swarm);
  return Status::Ok();
}

Status Driver::start(ReconcileReport* report) {
  auto loaded = store_.load();
  if (!loaded.ok()) return loaded.error();
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (loaded->has_value()) {
      auto st = loadFrom(**loaded);
      if (!st) {
        networks_.clear();
        endpoints_.clear();
        return st;
      }
      LOG_INFO("driver", "restored " << networks_.size() << " networks, " << endpoints_.size()
                                     << " endpoints, " << ipam_.pools().size() << " address pools from "
                                     << store_.path());
      if (store_.loadedVersion() < kStateFormatVersion)
        LOG_INFO("driver", "state file " << store_.path() << " migrated from format "
                                         << store_.loadedVersion() << " to " << kStateFormatVersion
                                         << " (the old file is kept as " << store_.path() << ".v"
                                         << store_.loadedVersion() << ")");
    }
    ReconcileReport local;
    auto st = reconcileLocked(report ? report : &local);
    if (!st) return st;
    seq = bumpLocked();
  }
  // Written right away: proves the state directory is writable before Docker
  // is told anything, and records what reconcile corrected.
  return commit(seq);
}

// ---------------------------------------------------------------- helpers

SandboxSpec Driver::sandboxSpecLocked(const Network& n) const {
  SandboxSpec s;
  s.netns = n.netns;
  s.vxlanName = n.vxlanName;
  s.vni = n.vni;
  s.port = cfg_.vxlanPort;
  s.local = cfg_.advertiseAddr;
  s.mtu = n.mtu;
  s.vtep = !n.encrypted();
  for (const auto& sub : n.ipv4)
    if (!sub.gateway.empty()) s.gateways.push_back(sub.gateway);
  for (const auto& sub : n.ipv6)
    if (!sub.gateway.empty()) s.gateways.push_back(sub.gateway);
  return s;
}

Result<uint32_t> Driver::mtuFor(const NetworkOptions& o, Ipv6Subnets v6) const {
  auto under = kernel_.underlayMtu(cfg_.advertiseAddr);
  if (!under.ok()) return Error{under.code(), "cannot find the underlay MTU: " + under.error().message};
  auto local = IpAddr::parse(cfg_.advertiseAddr);
  // One MTU for every peer: when some pairs may use the kernel backend, its
  // overhead (ESP over VXLAN, the larger) bounds it.
  const bool kernelPossible =
      o.encrypted && o.cryptoBackend() != CryptoBackend::kUserspace && kernelOff().empty();
  return networkMtu(o, Underlay{*under, local && local->isV6()}, cfg_.defaultMtu,
                    !o.encrypted     ? CryptoBackend::kAuto
                    : kernelPossible ? CryptoBackend::kKernel
                                     : CryptoBackend::kUserspace,
                    v6);
}

Status Driver::attachEncryptedLocked(const Network& n) {
  if (!n.encrypted()) return Status::Ok();
  const CryptoBackend wanted = n.options.cryptoBackend();
  const bool kernel = wanted != CryptoBackend::kUserspace && kernelOff().empty();
  const bool userspace = wanted != CryptoBackend::kKernel && plane_;
  if (!kernel && !userspace)
    return Error{ENOTSUP, "network " + n.id.substr(0, 12) + " is encrypted and " +
                              (wanted == CryptoBackend::kKernel
                                   ? "this host cannot use the kernel backend: " + kernelOff()
                                   : planeOff_)};
  const EncryptedNetwork spec{n.identity, n.vni, n.netns, n.mtu};
  if (userspace)
    if (auto st = plane_->attach(spec); !st) return st;
  if (kernel)
    if (auto st = kernelPlane_->attach(spec); !st) {
      if (userspace) plane_->detach(n.identity);
      return st;
    }
  return Status::Ok();
}

void Driver::detachEncryptedLocked(const Network& n) {
  if (!n.encrypted()) return;
  if (plane_) plane_->detach(n.identity);
  if (kernelPlane_) kernelPlane_->detach(n.identity);
  selections_.erase(n.identity);
}

// ---------------------------------------------------------------- networks

Status Driver::createNetwork(const CreateNetworkRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st;
  auto opts = parseNetworkOptions(r.generic);
  if (!opts.ok()) return opts.error();
  if (auto c = cryptoFor(*opts); !c.ok()) return c.error();
  if (r.internal && opts->gwbridge.value_or(false)) {
    const std::string& v = opts->raw.at("weft.gwbridge");
    return Error{EINVAL, "option weft.gwbridge" + (v.empty() ? "" : "=" + v) +
                             " contradicts --internal: an internal network never gets docker_gwbridge; "
                             "drop one of the two"};
  }
  std::vector<Subnet> v4, v6;
  for (const auto& d : r.ipv4) {
    auto s = checkSubnet(d, AF_INET);
    if (!s.ok()) return s.error();
    v4.push_back(*s);
  }
  for (const auto& d : r.ipv6) {
    auto s = checkSubnet(d, AF_INET6);
    if (!s.ok()) return s.error();
    v6.push_back(*s);
  }

  bool created = false;
  auto change = [&]() -> Result<Changed> {
    if (auto it = networks_.find(r.networkId); it != networks_.end()) {
      Network& n = it->second;
      if (!(n.options.raw == opts->raw && n.ipv4 == v4 && n.ipv6 == v6))
        return Error{EEXIST, "network " + r.networkId.substr(0, 12) +
                                 " already exists with different options or subnets"};
      // Docker repeats CreateNetwork: a swarm node after a daemon restart
      // (the engine does not keep swarm networks). Docker holds no endpoint
      // on a network it creates, so endpoints weft has that are not joined
      // (their containers died with a crashed daemon) are orphans.
      if (auto st = usableLocked(n); !st) return st.error();
      size_t dropped = dropOrphansLocked(n);
      LOG_INFO("driver", "network " << n.id.substr(0, 12)
                                    << " created again with the same options: kept (vni " << n.vni << ")"
                                    << (dropped ? "; forgot " + std::to_string(dropped) +
                                                      " endpoint(s) of containers that are gone"
                                                : ""));
      return dropped ? Changed::kYes : Changed::kNo;  // (forgotten orphans stay forgotten)
    }
    Network n;
    n.id = r.networkId;
    n.options = *opts;
    n.ipv4 = v4;
    n.ipv6 = v6;
    n.internal = r.internal;
    n.enableIpv6 = r.enableIpv6;
    if (cfg_.scope == "global")
      n.identity = "id:" + r.networkId;
    else if (!opts->name.empty())
      n.identity = "name:" + opts->name;
    else if (!v4.empty())
      n.identity = "subnet:" + v4.front().pool;
    else if (!v6.empty())
      n.identity = "subnet:" + v6.front().pool;
    else
      n.identity = "id:" + r.networkId;
    for (const auto& [id, other] : networks_) {
      if (other.identity == n.identity)
        return Error{EEXIST, "weft network " + id.substr(0, 12) + " on this host already is " +
                                 n.identity.substr(n.identity.find(':') + 1) +
                                 "; networks that share a subnet need distinct -o weft.name=NAME"};
    }
    auto vni = chooseVni(*opts, n.identity, n.id, networks_, cfg_.reservedVni);
    if (!vni.ok()) return vni.error();
    n.vni = *vni;
    auto mtu = mtuFor(*opts, v6.empty() ? Ipv6Subnets::kNo : Ipv6Subnets::kYes);
    if (!mtu.ok()) return mtu.error();
    n.mtu = *mtu;
    n.netns = netnsName(n.id);
    n.vxlanName = vxlanName(n.vni);
    for (const auto& [id, other] : networks_)
      if (other.netns == n.netns)
        return Error{EEXIST, "network " + id + " already uses namespace " + n.netns};
    if (auto st = buildSandbox(kernel_, sandboxSpecLocked(n)); !st) return st.error();
    if (auto st = attachEncryptedLocked(n); !st) {
      removeSandbox(kernel_, sandboxSpecLocked(n));
      return st.error();
    }
    LOG_INFO("driver", "created network "
                           << n.id.substr(0, 12) << " vni " << n.vni << " mtu " << n.mtu << " (" << n.identity
                           << ")"
                           << (n.encrypted() ? std::string(", encrypted (weft.crypto=") +
                                                   cryptoBackendName(n.options.cryptoBackend()) + ")"
                                             : std::string()));
    auto& placed = networks_.emplace(n.id, std::move(n)).first->second;
    if (!placed.encrypted()) peers_.attach(placed.identity, {placed.netns, placed.vxlanName});
    created = true;
    return Changed::kYes;
  };
  auto undo = [&] {
    auto it = networks_.find(r.networkId);
    if (!created || it == networks_.end()) return;
    peers_.detach(it->second.identity);
    detachEncryptedLocked(it->second);
    removeSandbox(kernel_, sandboxSpecLocked(it->second));
    networks_.erase(it);
  };
  if (auto st = changeDurably(change, undo); !st) return st;
  if (created) {
    peers_.sync();  // remote endpoints already known for this network
    std::lock_guard<std::mutex> lk(mu_);
    syncMtuRecordsLocked();
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> Driver::allocateNetwork(const AllocateNetworkRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st.error();
  auto opts = parseNetworkOptions(r.options);
  if (!opts.ok()) return opts.error();
  // Refused here, on the manager, with the reason: otherwise swarm accepts
  // the network and then no task can start on it (every worker refuses).
  if (auto c = cryptoFor(*opts); !c.ok()) return c.error();
  for (const auto& d : r.ipv4)
    if (auto s = checkSubnet(d, AF_INET); !s.ok()) return s.error();
  for (const auto& d : r.ipv6)
    if (auto s = checkSubnet(d, AF_INET6); !s.ok()) return s.error();
  // Stateless: rebuilt from the options each time, so a repeat (or a call on
  // another manager after failover) gives the same answer.
  if (auto st = refuseReservedVni(*opts, cfg_.reservedVni); !st) return st.error();
  auto out = opts->raw;
  if (!opts->vni) out["vni"] = std::to_string(defaultVni("id:" + r.networkId, cfg_.reservedVni));
  // Once per network and leader: shows which manager allocated it, and that
  // a new leader's answer matches the old one's.
  std::string shown;
  for (const auto& [k, v] : out) shown += (shown.empty() ? "" : ",") + k + "=" + v;
  LOG_INFO("driver", "allocated network " << r.networkId.substr(0, 12) << ": " << shown);
  return out;
}

Status Driver::freeNetwork(const std::string& networkId) { return checkObjectId("NetworkID", networkId); }

Status Driver::deleteNetwork(const std::string& networkId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st;
  std::optional<Network> removed;
  auto change = [&]() -> Result<Changed> {
    auto it = networks_.find(networkId);
    if (it == networks_.end()) return Changed::kNo;  // already gone: Docker may repeat
    if (!it->second.endpoints.empty())
      return Error{EBUSY, "network " + networkId.substr(0, 12) + " still has " +
                              std::to_string(it->second.endpoints.size()) + " endpoint(s)"};
    detachEncryptedLocked(it->second);
    if (auto st = removeSandbox(kernel_, sandboxSpecLocked(it->second)); !st) {
      if (auto again = attachEncryptedLocked(it->second); !again) LOG_WARN("driver", again.error().message);
      return st.error();
    }
    peers_.detach(it->second.identity);
    faults_.clear(networkId);
    removed = std::move(it->second);
    networks_.erase(it);
    return Changed::kYes;
  };
  auto undo = [&] {
    if (buildSandbox(kernel_, sandboxSpecLocked(*removed))) {
      if (removed->encrypted())
        attachEncryptedLocked(*removed);
      else
        peers_.attach(removed->identity, {removed->netns, removed->vxlanName});
    }
    networks_.emplace(removed->id, std::move(*removed));
  };
  if (auto st = changeDurably(change, undo); !st) {
    if (removed) peers_.sync();  // the sandbox is back: its remote entries too
    return st;
  }
  if (removed) {
    LOG_INFO("driver", "deleted network " << networkId.substr(0, 12));
    std::lock_guard<std::mutex> lk(mu_);
    syncMtuRecordsLocked();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- inspection

std::vector<Network> Driver::networks() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<Network> v;
  for (const auto& [id, n] : networks_) v.push_back(n);
  return v;
}

std::vector<Endpoint> Driver::endpoints() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<Endpoint> v;
  for (const auto& [id, e] : endpoints_) v.push_back(e);
  return v;
}

std::set<std::string> Driver::discoveredNodes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return swarm_.others();
}

std::string Driver::swarmAddress() const {
  std::lock_guard<std::mutex> lk(mu_);
  return swarm_.self();
}

std::string Driver::retiredNameLocked(const std::string& netns) {
  retiredIn_.insert(netns);
  char buf[16];
  std::snprintf(buf, sizeof buf, "wr%08x", retiredSeq_++);
  return buf;
}

size_t Driver::reapRetired() {
  std::set<std::string> todo;
  {
    std::lock_guard<std::mutex> lk(mu_);
    todo.swap(retiredIn_);
  }
  // Outside the lock: deleting devices waits on the kernel.
  for (const auto& ns : todo)
    if (auto st = driver::reapRetired(kernel_, ns); !st) LOG_WARN("driver", st.error().message);
  return todo.size();
}

size_t Driver::markVanishedLocked(const Network& n) {
  size_t found = 0;
  std::optional<std::vector<kernel::LinkInfo>> links;
  for (const auto& eid : n.endpoints) {
    Endpoint& e = endpoints_.at(eid);
    if (!e.joined) continue;
    if (!links) {
      auto l = kernel_.listLinks(n.netns);
      if (!l.ok()) return found;  // the sandbox itself is a matter for reconcile
      links = std::move(*l);
    }
    bool present = std::any_of(links->begin(), links->end(),
                               [&](const kernel::LinkInfo& l) { return l.name == e.sandboxVeth; });
    if (present) continue;
    e.joined = false;
    if (cluster_) cluster_->withdraw(n.identity, e.id);
    LOG_INFO("driver", "endpoint " << e.id.substr(0, 12) << " (" << e.address << ") of network "
                                   << n.id.substr(0, 12)
                                   << ": its veth is gone (its container died without Leave); withdrawn");
    ++found;
  }
  return found;
}

size_t Driver::dropOrphansLocked(Network& n) {
  markVanishedLocked(n);
  size_t dropped = 0;
  for (auto it = n.endpoints.begin(); it != n.endpoints.end();) {
    auto e = endpoints_.find(*it);
    if (e != endpoints_.end() && e->second.joined) {
      ++it;
      continue;
    }
    if (e != endpoints_.end()) endpoints_.erase(e);
    it = n.endpoints.erase(it);
    ++dropped;
  }
  return dropped;
}

size_t Driver::sweepVanished() {
  std::lock_guard<std::mutex> lk(mu_);
  size_t found = 0;
  for (const auto& [id, n] : networks_) found += markVanishedLocked(n);
  return found;
}

size_t Driver::endpointCount() const {
  std::lock_guard<std::mutex> lk(mu_);
  return endpoints_.size();
}

std::vector<PoolUsage> Driver::ipamUsage() const {
  std::lock_guard<std::mutex> lk(mu_);
  return ipam_.usage();
}

}  // namespace weft::driver
