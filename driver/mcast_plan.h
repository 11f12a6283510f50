#pragma once
// Multicast pruning (issue 14), the pure part: which groups this host's
// containers listen to (from the sandbox bridge's MDB), and which VTEPs each
// group's frames must go to (from every host's advertised groups) as the
// FDB entries of a network's VTEP. No kernel, no gossip: the rules only,
// tested exhaustively (tests/unit/mcast_plan_test.cc).
//
// How the kernel's VXLAN replicates per group: an FDB entry for a group's
// multicast MAC (01:00:5e + the low 23 bits of an IPv4 group, 33:33 + the
// low 32 bits of an IPv6 one) with several destinations (NLM_F_APPEND) takes
// precedence over the all-zero flood entry for that MAC, so a frame to the
// group is copied to those VTEPs only; an entry whose one destination is
// the any address (0.0.0.0 / ::) is dropped by the VTEP (a group with
// listeners on this host only). Groups nobody advertises keep the all-zero
// flood (to every host of the network, as before pruning).
//
// IPv4's mapping folds 32 groups into one MAC (the 5 high bits of the low
// 28 are lost): the MAC's entry goes to the union of the hosts listening to
// any group mapped to it, so a host gets some frames it has no listener for
// and never misses one it does.

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/mac.h"
#include "driver/cluster.h"
#include "kernel/bridge_mcast.h"

namespace weft::driver {

// Groups one host advertises per network, per family, are at most
// kMaxMcastV4Groups and kMaxMcastV6Groups (driver/cluster.h: what one gossip
// record holds); beyond either the host advertises "every group" instead
// (see LocalGroups::all), so nothing is lost.

// 224.0.0.0/24 and ff02::/16 (and ff01::/16, interface-local): never pruned
// -- protocols (IGMP, MLD, ND, mDNS...) rely on them reaching every host.
bool isLinkLocalGroup(const IpAddr& g);
// The group's Ethernet multicast MAC (RFC 1112 / RFC 2464).
MacAddr groupMac(const IpAddr& g);

// What this host advertises for one network.
struct LocalGroups {
  std::set<IpAddr> groups;  // routable groups with a listener behind a container's port
  bool all = false;         // more than the limits: send this host every group
  bool operator==(const LocalGroups&) const = default;
};

// From the sandbox bridge's MDB: the groups with a listener behind one of
// `containerPorts` (not the VTEP, whose entries are other hosts' reports
// heard through it, nor the bridge itself), link-local ones left out.
LocalGroups localGroups(const std::vector<kernel::MdbEntry>& mdb,
                        const std::set<std::string>& containerPorts);

// One remote host's advertisement for the network.
struct HostGroups {
  std::string vtep;  // the host's VTEP address
  LocalGroups groups;
};

// The VTEP's per-group FDB entries: group MAC -> destinations. Every MAC of
// a group some host (this one included: `selfGroups`) advertises gets the
// VTEPs of the remote hosts listening to any group on that MAC, plus every
// host that advertises `all`; a MAC with no remote destination gets the
// any address of `family` (dropped: only local listeners). Hosts of the
// other family are skipped. Link-local groups never appear.
std::map<MacAddr, std::set<IpAddr>> groupFdbPlan(const LocalGroups& selfGroups,
                                                 const std::vector<HostGroups>& remotes, int family);

// Encrypted networks (the userspace datapath, datapath/forwarding.h): per
// routable group some host advertises (this one included), the remote hosts
// (VTEP addresses, canonical spelling) listening to it or advertising
// `all`; empty: listeners on this host only. Exact groups, no MAC folding.
// `hosts` are the remote hosts the plan was made from.
struct GroupRoutes {
  std::map<IpAddr, std::set<std::string>> groups;
  std::set<std::string> hosts;
  bool operator==(const GroupRoutes&) const = default;
};
GroupRoutes groupRoutePlan(const LocalGroups& selfGroups, const std::vector<HostGroups>& remotes);

// What the datapath gets per group from a plan and the network's current
// peers (its flood list): the planned hosts that are peers, plus every peer
// the plan does not know (a host that arrived since it was made gets every
// group until the next plan: nothing is pruned on a guess).
std::map<IpAddr, std::vector<std::string>> groupPeers(const GroupRoutes& plan,
                                                      const std::set<std::string>& floodPeers);

// Per network, for weftctl: group -> the hosts (VTEPs) that receive it,
// this host named `selfName`.
std::map<IpAddr, std::set<std::string>> groupReceivers(const LocalGroups& selfGroups,
                                                       const std::string& selfName,
                                                       const std::vector<HostGroups>& remotes);

}  // namespace weft::driver
