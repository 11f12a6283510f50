#include "driver/mcast_plan.h"

#include <algorithm>

#include "datapath/forwarding.h"

namespace weft::driver {

bool isLinkLocalGroup(const IpAddr& g) { return datapath::isLinkLocalGroup(g); }

MacAddr groupMac(const IpAddr& g) {
  MacAddr m;
  const auto& b = g.bytes;
  if (g.isV6()) {
    m.bytes = {0x33, 0x33, b[12], b[13], b[14], b[15]};
  } else {
    m.bytes = {0x01, 0x00, 0x5e, static_cast<uint8_t>(b[1] & 0x7f), b[2], b[3]};
  }
  return m;
}

LocalGroups localGroups(const std::vector<kernel::MdbEntry>& mdb,
                        const std::set<std::string>& containerPorts) {
  LocalGroups out;
  for (const auto& e : mdb) {
    if (!containerPorts.count(e.port) || !kernel::isMulticastGroup(e.group) || isLinkLocalGroup(e.group))
      continue;
    out.groups.insert(e.group);
  }
  const auto v6 = static_cast<size_t>(
      std::count_if(out.groups.begin(), out.groups.end(), [](const IpAddr& g) { return g.isV6(); }));
  if (out.groups.size() - v6 > kMaxMcastV4Groups || v6 > kMaxMcastV6Groups) {
    out.groups.clear();
    out.all = true;
  }
  return out;
}

std::map<MacAddr, std::set<IpAddr>> groupFdbPlan(const LocalGroups& selfGroups,
                                                 const std::vector<HostGroups>& remotes, int family) {
  std::map<MacAddr, std::set<IpAddr>> plan;
  auto consider = [&](const IpAddr& g) {
    if (!isLinkLocalGroup(g) && kernel::isMulticastGroup(g)) plan[groupMac(g)];
  };
  for (const auto& g : selfGroups.groups) consider(g);
  std::set<IpAddr> everything;  // hosts that want every group
  for (const auto& r : remotes) {
    auto v = IpAddr::parse(r.vtep);
    if (!v || v->family != family) continue;
    if (r.groups.all) everything.insert(*v);
    for (const auto& g : r.groups.groups) consider(g);
  }
  for (const auto& r : remotes) {
    auto v = IpAddr::parse(r.vtep);
    if (!v || v->family != family) continue;
    for (const auto& g : r.groups.groups)
      if (!isLinkLocalGroup(g) && kernel::isMulticastGroup(g)) plan[groupMac(g)].insert(*v);
  }
  for (auto& [mac, dsts] : plan) {
    dsts.insert(everything.begin(), everything.end());
    if (dsts.empty()) dsts.insert(IpAddr::any(family));
  }
  return plan;
}

GroupRoutes groupRoutePlan(const LocalGroups& selfGroups, const std::vector<HostGroups>& remotes) {
  GroupRoutes out;
  auto routable = [](const IpAddr& g) { return !isLinkLocalGroup(g) && kernel::isMulticastGroup(g); };
  for (const auto& g : selfGroups.groups)
    if (routable(g)) out.groups[g];
  for (const auto& r : remotes)
    for (const auto& g : r.groups.groups)
      if (routable(g)) out.groups[g];
  for (const auto& r : remotes) {
    auto v = IpAddr::parse(r.vtep);
    const std::string host = v ? v->str() : r.vtep;
    out.hosts.insert(host);
    for (auto& [g, hosts] : out.groups)
      if (r.groups.all || r.groups.groups.count(g)) hosts.insert(host);
  }
  return out;
}

std::map<IpAddr, std::vector<std::string>> groupPeers(const GroupRoutes& plan,
                                                      const std::set<std::string>& floodPeers) {
  // Peers by their canonical spelling, kept as the datapath knows them.
  std::map<std::string, std::string> peers;
  for (const auto& p : floodPeers) {
    auto v = IpAddr::parse(p);
    peers[v ? v->str() : p] = p;
  }
  std::vector<std::string> unknown;
  for (const auto& [canon, p] : peers)
    if (!plan.hosts.count(canon)) unknown.push_back(p);
  std::map<IpAddr, std::vector<std::string>> out;
  for (const auto& [g, hosts] : plan.groups) {
    auto& list = out[g];
    for (const auto& h : hosts)
      if (auto it = peers.find(h); it != peers.end()) list.push_back(it->second);
    list.insert(list.end(), unknown.begin(), unknown.end());
    std::sort(list.begin(), list.end());
  }
  return out;
}

std::map<IpAddr, std::set<std::string>> groupReceivers(const LocalGroups& selfGroups,
                                                       const std::string& selfName,
                                                       const std::vector<HostGroups>& remotes) {
  std::map<IpAddr, std::set<std::string>> out;
  for (const auto& g : selfGroups.groups) out[g].insert(selfName);
  for (const auto& r : remotes)
    for (const auto& g : r.groups.groups) out[g].insert(r.vtep);
  for (const auto& r : remotes)
    if (r.groups.all)
      for (auto& [g, hosts] : out) hosts.insert(r.vtep + " (all groups)");
  return out;
}

}  // namespace weft::driver
