// The peer table: remote endpoints learned from the cluster, programmed into
// each local sandbox ahead of any traffic -- a permanent neighbour entry
// (IP -> MAC, answered locally by the VTEP's ARP proxy), a permanent FDB entry
// (MAC -> remote VTEP) and one all-zero-MAC flood entry per remote VTEP.

#include <algorithm>

#include "common/log.h"
#include "driver/driver.h"
#include "driver/ip.h"

namespace weft::driver {

namespace {

const char* kZeroMac = "00:00:00:00:00:00";

std::string ipOf(const std::string& cidr) {
  auto p = Prefix::parse(cidr);
  if (p) return p->addr.str();
  auto a = IpAddr::parse(cidr);
  return a ? a->str() : std::string();
}

}  // namespace

void Driver::setCluster(Cluster* cluster) {
  std::vector<EndpointRecord> mine;
  std::set<std::string> seeds;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cluster_ = cluster;
    if (!cluster_) return;
    for (const auto& [id, e] : endpoints_)
      if (e.joined) mine.push_back(localRecordLocked(e));
    seeds = discovered_;
  }
  for (const auto& a : seeds) cluster->addSeed(a);
  for (const auto& r : mine) cluster->publish(r);
}

EndpointRecord Driver::localRecordLocked(const Endpoint& e) const {
  const Network& n = networks_.at(e.networkId);
  return EndpointRecord{n.identity, e.id, e.address, e.addressIpv6, e.mac, cfg_.advertiseAddr};
}

void Driver::programPeerLocked(const Network& n, const EndpointRecord& r, bool add) {
  if (faults_.count(n.id)) return;  // no sandbox to program: repairLocked programs every peer
  auto& vteps = floodRefs_[n.identity];
  auto ensure = [&](Status st, const char* what, std::initializer_list<int> benign) {
    if (st.ok()) return;
    for (int b : benign)
      if (st.code() == b) return;
    LOG_WARN("peers",
             what << " for " << r.endpoint.substr(0, 12) << " in " << n.netns << ": " << st.error().message);
  };
  std::vector<std::string> ips;
  for (const auto* c : {&r.ipv4, &r.ipv6})
    if (!c->empty() && !ipOf(*c).empty()) ips.push_back(ipOf(*c));
  if (add) {
    for (const auto& ip : ips) {
      kernel::NeighEntry ne{n.vxlanName, ip, r.mac};
      auto st = kernel_.addNeigh(n.netns, ne);
      if (st.code() == EEXIST) {  // the IP moved to another MAC: replace
        if (auto cur = kernel_.listNeigh(n.netns, n.vxlanName); cur.ok())
          for (const auto& old : *cur)
            if (old.ip == ip && old.mac != r.mac) kernel_.delNeigh(n.netns, old);
        st = kernel_.addNeigh(n.netns, ne);
      }
      ensure(st, "neighbour entry", {EEXIST});
    }
    kernel::FdbEntry fe{n.vxlanName, r.mac, r.vtep};
    auto st = kernel_.addFdb(n.netns, fe, false);
    if (st.code() == EEXIST) {  // the MAC moved to another VTEP: replace
      if (auto cur = kernel_.listFdb(n.netns, n.vxlanName); cur.ok())
        for (const auto& old : *cur)
          if (old.mac == r.mac && old.dst != r.vtep) kernel_.delFdb(n.netns, old);
      st = kernel_.addFdb(n.netns, fe, false);
    }
    ensure(st, "fdb entry", {EEXIST});
    if (vteps[r.vtep]++ == 0)
      ensure(kernel_.addFdb(n.netns, {n.vxlanName, kZeroMac, r.vtep}, true), "flood entry", {EEXIST});
  } else {
    for (const auto& ip : ips)
      ensure(kernel_.delNeigh(n.netns, {n.vxlanName, ip, r.mac}), "removing neighbour", {ENOENT});
    ensure(kernel_.delFdb(n.netns, {n.vxlanName, r.mac, r.vtep}), "removing fdb entry", {ENOENT});
    auto it = vteps.find(r.vtep);
    if (it != vteps.end() && --it->second == 0) {
      vteps.erase(it);
      ensure(kernel_.delFdb(n.netns, {n.vxlanName, kZeroMac, r.vtep}), "removing flood entry", {ENOENT});
    }
  }
}

void Driver::applyRemote(const EndpointRecord& r, bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  if (r.vtep == cfg_.advertiseAddr && !cfg_.advertiseAddr.empty()) return;  // our own
  auto& table = peers_[r.network];
  auto old = table.find(r.endpoint);
  const Network* local = nullptr;
  for (const auto& [id, n] : networks_)
    if (n.identity == r.network) local = &n;
  if (active)
    peerSession_[{r.network, r.endpoint}] = session_;
  else
    peerSession_.erase({r.network, r.endpoint});
  if (old != table.end()) {
    if (active && old->second == r) return;  // nothing new
    if (local) programPeerLocked(*local, old->second, false);
    table.erase(old);
  }
  if (!active) {
    LOG_DEBUG("peers", "remote endpoint " << r.endpoint.substr(0, 12) << " of " << r.network << " gone");
    return;
  }
  table.emplace(r.endpoint, r);
  if (local) programPeerLocked(*local, r, true);
  LOG_DEBUG("peers", "remote endpoint " << r.endpoint.substr(0, 12) << " " << r.ipv4 << " " << r.mac << " at "
                                        << r.vtep << " (" << r.network << ")");
}

void Driver::programAllPeersLocked(const Network& n) {
  auto it = peers_.find(n.identity);
  if (it == peers_.end()) return;
  for (const auto& [eid, r] : it->second) programPeerLocked(n, r, true);
}

void Driver::beginResync() {
  std::lock_guard<std::mutex> lk(mu_);
  ++session_;
}

size_t Driver::prunePeers() {
  std::lock_guard<std::mutex> lk(mu_);
  size_t removed = 0;
  // Remote endpoints the current session never confirmed: deleted while the
  // control plane was away.
  for (auto& [identity, table] : peers_) {
    const Network* local = nullptr;
    for (const auto& [id, n] : networks_)
      if (n.identity == identity) local = &n;
    for (auto it = table.begin(); it != table.end();) {
      auto s = peerSession_.find({identity, it->first});
      if (s != peerSession_.end() && s->second == session_) {
        ++it;
        continue;
      }
      LOG_INFO("peers", "forgetting remote endpoint " << it->first.substr(0, 12) << " of " << identity
                                                      << ": not confirmed by the cluster since the restart");
      if (local) programPeerLocked(*local, it->second, false);
      peerSession_.erase({identity, it->first});
      it = table.erase(it);
    }
  }
  for (const auto& kv : networks_) {
    const Network& n = kv.second;  // (clang 14 cannot capture a structured binding)
    const auto& table = peers_[n.identity];
    auto wantNeigh = [&](const kernel::NeighEntry& e) {
      return std::any_of(table.begin(), table.end(), [&](const auto& kv) {
        return kv.second.mac == e.mac && (ipOf(kv.second.ipv4) == e.ip || ipOf(kv.second.ipv6) == e.ip);
      });
    };
    auto wantFdb = [&](const kernel::FdbEntry& e) {
      if (e.mac == kZeroMac) {
        auto f = floodRefs_.find(n.identity);
        return f != floodRefs_.end() && f->second.count(e.dst) > 0;
      }
      return std::any_of(table.begin(), table.end(),
                         [&](const auto& kv) { return kv.second.mac == e.mac && kv.second.vtep == e.dst; });
    };
    if (auto neigh = kernel_.listNeigh(n.netns, n.vxlanName); neigh.ok())
      for (const auto& e : *neigh)
        if (!wantNeigh(e) && kernel_.delNeigh(n.netns, e).ok()) ++removed;
    if (auto fdb = kernel_.listFdb(n.netns, n.vxlanName); fdb.ok())
      for (const auto& e : *fdb)
        if (!wantFdb(e) && kernel_.delFdb(n.netns, e).ok()) ++removed;
  }
  if (removed) LOG_INFO("peers", "removed " << removed << " stale neighbour/fdb entries");
  return removed;
}

std::vector<EndpointRecord> Driver::remoteEndpoints() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<EndpointRecord> v;
  for (const auto& [net, table] : peers_)
    for (const auto& [eid, r] : table) v.push_back(r);
  return v;
}

}  // namespace weft::driver
