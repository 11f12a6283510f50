#include "driver/mcast_pruner.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "driver/driver.h"
#include "driver/names.h"
#include "driver/userspace_plane.h"

namespace weft::driver {

namespace {

// The MACs multicast pruning writes: IPv4 (01:00:5e) and IPv6 (33:33)
// group MACs. Nothing else in weft writes these on a VTEP.
bool isGroupMac(const MacAddr& m) {
  const auto& b = m.bytes;
  return (b[0] == 0x01 && b[1] == 0x00 && b[2] == 0x5e) || (b[0] == 0x33 && b[1] == 0x33);
}

// Passes between fresh looks at every bridge's and port's settings (a
// link made again, or changed by hand, is set up again within this many).
constexpr uint64_t kReconfigureEvery = 25;

std::vector<std::string> groupStrings(const std::set<IpAddr>& groups) {
  std::vector<std::string> out;
  for (const auto& g : groups) out.push_back(g.str());
  return out;
}

}  // namespace

std::vector<McastNetwork> mcastNetworks(const Driver& d) {
  auto vteps = d.remoteVtepsByNetwork();
  std::map<std::string, std::set<std::string>> ports;
  for (const auto& e : d.endpoints())
    if (e.joined && !e.sandboxVeth.empty()) ports[e.networkId].insert(e.sandboxVeth);
  std::vector<McastNetwork> out;
  for (const auto& n : d.networks()) {
    if (n.netns.empty() || (!n.encrypted() && n.vxlanName.empty())) continue;
    McastNetwork m{n.id,        n.identity, n.netns,      n.encrypted() ? kEncryptedTapName : n.vxlanName,
                   ports[n.id], {},         n.encrypted()};
    if (auto it = vteps.find(n.identity); it != vteps.end()) m.remoteVteps = it->second;
    out.push_back(std::move(m));
  }
  return out;
}

kernel::BridgeMcast pruningBridgeMcast() {
  kernel::BridgeMcast c;
  c.snooping = true;
  c.querier = true;
  c.lastMemberIntervalMs = 200;  // a leave is out of the MDB ~0.4 s later
  c.igmpVersion = 3;
  c.mldVersion = 2;
  return c;
}

McastPruner::McastPruner(McastPrunerConfig cfg, kernel::Kernel& k, kernel::BridgeMulticast& bm,
                         Source networks, Cluster* cluster)
    : cfg_(std::move(cfg)), k_(k), bm_(bm), networks_(std::move(networks)), cluster_(cluster) {}

McastPruner::~McastPruner() { stop(); }

void McastPruner::start() {
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stopping_) {
      lk.unlock();
      pass();
      lk.lock();
      cv_.wait_for(lk, cfg_.interval, [&] { return stopping_ || wake_; });
      wake_ = false;
    }
  });
}

void McastPruner::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void McastPruner::applyMcast(const McastAdvert& a, bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  if (active)
    remote_[a.network][a.owner] = a;
  else if (auto it = remote_.find(a.network); it != remote_.end()) {
    it->second.erase(a.owner);
    if (it->second.empty()) remote_.erase(it);
  }
  wake_ = true;  // a late joiner elsewhere waits for no interval
  cv_.notify_all();
}

void McastPruner::resyncMcast() {
  // The new session reports every advertisement again; until it has, a
  // host without one gets every group (more traffic, nothing missed).
  std::lock_guard<std::mutex> lk(mu_);
  remote_.clear();
  wake_ = true;
  cv_.notify_all();
}

// An address in one spelling, so a host's advertisement and its endpoint
// records name the same VTEP alike.
static std::string canonical(const std::string& addr) {
  auto a = IpAddr::parse(addr);
  return a ? a->str() : addr;
}

std::vector<HostGroups> McastPruner::remotesLocked(const McastNetwork& n) const {
  std::map<std::string, LocalGroups> byVtep;
  auto it = remote_.find(n.identity);
  if (it != remote_.end())
    for (const auto& [owner, a] : it->second) {
      LocalGroups& g = byVtep[canonical(a.vtep)];
      g.all = g.all || a.all;
      for (const auto& s : a.groups)
        if (auto ip = IpAddr::parse(s)) g.groups.insert(*ip);
    }
  // Hosts of the network that advertise nothing get every group.
  for (const auto& v : n.remoteVteps)
    if (!byVtep.count(canonical(v))) byVtep[canonical(v)].all = true;
  byVtep.erase(canonical(cfg_.selfVtep));
  std::vector<HostGroups> out;
  for (auto& [vtep, g] : byVtep) out.push_back({vtep, std::move(g)});
  return out;
}

void McastPruner::configureBridge(const McastNetwork& n) {
  auto once = [&](const std::string& link, const std::function<Status()>& setUp) {
    if (configured_.count({n.netns, link})) return;
    if (auto st = setUp(); st)
      configured_.insert({n.netns, link});
    else
      LOG_WARN("mcast", "network " << n.id.substr(0, 12) << ": " << st.error().message);
  };
  once(kBridgeName, [&]() -> Status {
    const kernel::BridgeMcast want = pruningBridgeMcast();
    auto have = bm_.getBridgeMcast(n.netns, kBridgeName);
    if (!have) return have.error();
    return *have == want ? Status{} : bm_.setBridgeMcast(n.netns, kBridgeName, want);
  });
  std::set<std::string> links = n.ports;
  links.insert(n.vtep);
  for (const auto& l : links)
    once(l, [&]() -> Status {
      auto have = bm_.getPortMcastRouter(n.netns, l);
      if (!have) return have.error();
      return *have == kernel::McastRouter::kPermanent
                 ? Status{}
                 : bm_.setPortMcastRouter(n.netns, l, kernel::McastRouter::kPermanent);
    });
}

size_t McastPruner::passNetwork(const McastNetwork& n, NetState& st) {
  st.error.clear();
  LocalGroups local;
  auto self = IpAddr::parse(cfg_.selfVtep);
  if (cfg_.enabled) {
    configureBridge(n);
    auto mdb = bm_.listMdb(n.netns, kBridgeName);
    if (!mdb) {
      st.error = "reading the MDB: " + mdb.error().message;
      return 0;
    }
    local = localGroups(*mdb, n.ports);
    McastAdvert a{n.identity, "", cfg_.selfVtep, groupStrings(local.groups), local.all};
    auto it = published_.find(n.identity);
    if (cluster_ && self && (it == published_.end() || it->second != a)) {
      cluster_->publishMcast(a);
      published_[n.identity] = a;
    }
    st.advertised = self.has_value();
  }
  std::vector<HostGroups> remotes;
  {
    std::lock_guard<std::mutex> lk(mu_);
    remotes = remotesLocked(n);
  }
  st.encrypted = n.encrypted;
  if (n.encrypted) {
    // Pruning off: an empty plan, every group to every peer.
    if (plane_) plane_->setGroups(n.identity, cfg_.enabled ? groupRoutePlan(local, remotes) : GroupRoutes{});
    st.local = local;
    st.plan.clear();
    st.receivers = groupReceivers(local, cfg_.selfName, remotes);
    return 0;
  }
  std::map<MacAddr, std::set<IpAddr>> plan;
  if (cfg_.enabled && self) plan = groupFdbPlan(local, remotes, self->family);

  auto fdb = k_.listFdb(n.netns, n.vtep);
  if (!fdb) {
    st.error = "reading the VTEP's FDB: " + fdb.error().message;
    return 0;
  }
  std::map<MacAddr, std::set<IpAddr>> have;
  for (const auto& e : *fdb)
    if (e.dst && isGroupMac(e.mac)) have[e.mac].insert(*e.dst);
  size_t changed = 0;
  auto apply = [&](Status st2, const char* what, const MacAddr& mac, const IpAddr& dst) {
    if (st2) {
      ++changed;
      LOG_DEBUG("mcast",
                "network " << n.id.substr(0, 12) << ": " << what << " " << mac.str() << " -> " << dst.str());
    } else {
      st.error = std::string(what) + " " + mac.str() + " -> " + dst.str() + ": " + st2.error().message;
      LOG_WARN("mcast", "network " << n.id.substr(0, 12) << ": " << st.error);
    }
  };
  // New destinations before old ones go: a group never falls back to the
  // flood (or to nobody) while it changes.
  for (const auto& [mac, want] : plan) {
    const auto& got = have[mac];
    for (const auto& d : want)
      if (!got.count(d))
        apply(k_.addFdb(n.netns, kernel::FdbEntry{n.vtep, mac, d}, kernel::FdbAdd::kAppend), "added", mac, d);
    for (const auto& d : got)
      if (!want.count(d)) apply(k_.delFdb(n.netns, kernel::FdbEntry{n.vtep, mac, d}), "removed", mac, d);
  }
  for (const auto& [mac, got] : have)
    if (!plan.count(mac))
      for (const auto& d : got)
        apply(k_.delFdb(n.netns, kernel::FdbEntry{n.vtep, mac, d}), "removed", mac, d);
  st.local = local;
  st.plan = std::move(plan);
  st.receivers = groupReceivers(local, cfg_.selfName, remotes);
  return changed;
}

size_t McastPruner::pass() {
  auto nets = networks_();
  size_t changed = 0;
  std::set<std::string> ids, identities;
  if (++passes_ % kReconfigureEvery == 0) configured_.clear();
  for (const auto& n : nets) {
    NetState st;
    {
      std::lock_guard<std::mutex> lk(mu_);
      st = state_[n.id];
    }
    changed += passNetwork(n, st);
    ids.insert(n.id);
    identities.insert(n.identity);
    std::lock_guard<std::mutex> lk(mu_);
    state_[n.id] = std::move(st);
  }
  for (auto it = published_.begin(); it != published_.end();) {
    if (identities.count(it->first)) {
      ++it;
      continue;
    }
    if (cluster_) cluster_->withdrawMcast(it->first);
    it = published_.erase(it);
  }
  std::lock_guard<std::mutex> lk(mu_);
  for (auto it = state_.begin(); it != state_.end();)
    it = ids.count(it->first) ? std::next(it) : state_.erase(it);
  return changed;
}

nlohmann::json McastPruner::view() const {
  std::lock_guard<std::mutex> lk(mu_);
  nlohmann::json nets = nlohmann::json::object();
  for (const auto& [id, st] : state_) {
    nlohmann::json n = {
        {"advertised", st.advertised}, {"allGroups", st.local.all}, {"encrypted", st.encrypted}};
    n["localGroups"] = groupStrings(st.local.groups);
    nlohmann::json groups = nlohmann::json::object();
    for (const auto& [g, hosts] : st.receivers) groups[g.str()] = hosts;
    n["receivers"] = groups;
    nlohmann::json fdb = nlohmann::json::object();
    for (const auto& [mac, dsts] : st.plan) fdb[mac.str()] = groupStrings(dsts);
    n["fdb"] = fdb;
    if (!st.error.empty()) n["error"] = st.error;
    nets[id] = n;
  }
  return {{"pruning", cfg_.enabled}, {"host", cfg_.selfName}, {"networks", nets}};
}

}  // namespace weft::driver
