#pragma once
// Where an inner Ethernet frame goes, per network: a known unicast
// destination MAC to the peer (underlay address) that holds it; broadcast,
// multicast and unknown unicast to every peer of the network (head-end
// replication, as VXLAN's all-zero-MAC flood entries do).
//
// Multicast pruning (issue 14): a routable group may have its own peer list
// (setGroup: the hosts with listeners, driver/mcast_pruner.h); a frame to it
// goes to those peers only (none: listeners on this host only). Groups are
// matched on the inner IP destination, not the MAC, so the 32:1 folding of
// IPv4 group MACs (and 33:33's of IPv6) costs nothing: 224.0.0.x and
// ff01::/ff02:: (link-local, e.g. all-hosts, ND, MLD) are always flooded even
// where a routable group shares their MAC, as are broadcast, groups without
// an entry, and frames whose IP header is not there.
//
// Fed with the strings the PeerTable already computes (PeerEntries: MAC ->
// VTEP, flood VTEPs), so the driver can later program it like the kernel's
// FDB. Lookups are on the hot path and allocate nothing.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::datapath {

// Explicit bounds, so a runaway control plane cannot grow the table without end.
inline constexpr size_t kMaxMacsPerNetwork = 65536;
inline constexpr size_t kMaxPeersPerNetwork = 1024;
// Groups with their own peer list. Every host advertises at most 31 IPv4
// and 7 IPv6 groups per network (driver/cluster.h), so 4,096 covers 100+
// hosts with disjoint groups; past it a group stays flooded (nothing lost).
inline constexpr size_t kMaxGroupsPerNetwork = 4096;

// A peer's underlay address: IPv4 or IPv6, and the datapath's UDP port.
struct PeerAddr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  bool operator==(const PeerAddr&) const = default;
  auto operator<=>(const PeerAddr&) const = default;
  std::string str() const;  // "198.18.0.1:4790", "[2001:db8::1]:4790"
};
Result<PeerAddr> parsePeerAddr(const std::string& ip, uint16_t port);

// "02:42:ac:11:00:02" -> 48-bit value; error naming the text otherwise.
Result<uint64_t> parseMac(const std::string& mac);

// A multicast group that must reach every host: IPv4 224.0.0.0/24, IPv6
// interface- and link-local scope (ff01::/16, ff02::/16).
bool isLinkLocalGroup(const IpAddr& g);
// IPv4 224.0.0.0/4, IPv6 ff00::/8.
bool isMulticastAddr(const IpAddr& g);

class ForwardingTable {
 public:
  // `port` is the datapath's UDP port on every peer.
  explicit ForwardingTable(uint16_t port) : port_(port) {}

  // MAC -> peer (replaces an existing entry for the MAC). Multicast or
  // all-zero MACs are refused: they are always flooded.
  Status setMac(const std::string& mac, const std::string& vtep);
  Status removeMac(const std::string& mac);  // ENOENT when absent
  // A peer that receives flooded frames. EEXIST when already there.
  Status addFloodPeer(const std::string& vtep);
  Status removeFloodPeer(const std::string& vtep);  // ENOENT when absent

  // A routable multicast group's peers (replaces its list; an empty list
  // means no remote host). EINVAL for a link-local or non-multicast group or
  // a bad address, ENOSPC past kMaxGroupsPerNetwork; the table is unchanged
  // then.
  Status setGroup(const IpAddr& group, const std::vector<std::string>& vteps);
  Status removeGroup(const IpAddr& group);  // ENOENT when absent

  enum class Kind { kDrop, kUnicast, kFlood, kGroup };
  struct Route {
    Kind kind = Kind::kDrop;
    // One for unicast; the flood list for flood; the group's list for group.
    std::span<const PeerAddr> peers;
  };
  // Frames shorter than an Ethernet header are dropped.
  Route lookup(std::span<const uint8_t> frame) const;

  size_t macCount() const { return macs_.size(); }
  size_t floodCount() const { return flood_.size(); }
  size_t groupCount() const { return groups_.size(); }

 private:
  Route lookupGroup(std::span<const uint8_t> frame) const;  // a group-bit destination

  uint16_t port_;
  std::unordered_map<uint64_t, PeerAddr> macs_;
  std::vector<PeerAddr> flood_;  // sorted, unique
  std::map<IpAddr, std::vector<PeerAddr>> groups_;
};

}  // namespace weft::datapath
