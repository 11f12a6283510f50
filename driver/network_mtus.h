#pragma once
// Each host's MTU of each network it carries, so `weftctl check` can find
// hosts of one network that disagree: a container on the host with the
// larger MTU sends packets the other host's containers (or the underlay)
// drop, and only large transfers hang. Hosts agree that networks are one by
// their identity (Network::identity: "subnet:CIDR" or "name:NAME" for
// standalone hosts, which each create the network themselves; "id:ID" in a
// swarm, which shares the network ID), so the MTU goes with the identity.
//
// Like named pools (driver/ipam_pool_names.h), every host publishes one
// record per network in a control-plane network of its own, so no gossip
// wire format changes and an older weft never sees these records:
//   network  "mtu:<identity>"  (only hosts that publish MTUs carry it: an
//                               older host neither joins nor receives it)
//   endpoint "mtu.<owner>"     (one key per host; ':' of IPv6 as '-')
//   mac      02:00:00:hh:mm:ll (an endpoint record must carry a MAC: a
//                               locally administered one, never programmed,
//                               whose low 24 bits are the MTU)
//   vtep     the owner's underlay address
// A host that has endpoints on the network but publishes no MTU (an older
// weft, during a rolling upgrade) is "unknown", never a mismatch. Pure: the
// driver publishes and applies the records (driver/mtu_calls.cc).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/cluster.h"
#include "driver/per_host_table.h"

namespace weft::driver {

inline constexpr const char* kMtuNetworkPrefix = "mtu:";
// What the records may say: the MTUs -o mtu= accepts (driver/network_options.h)
// and those an underlay leaves (at least the IPv4 minimum of 68).
inline constexpr uint32_t kMinRecordMtu = 68;
inline constexpr uint32_t kMaxRecordMtu = 65535;
// A bound on what one member can make this host keep per network.
inline constexpr size_t kMaxMtuHostsPerNetwork = 1024;

// Another host of network `identity` whose MTU differs from this host's.
struct MtuMismatch {
  std::string identity;
  std::string host;  // its underlay address
  uint32_t theirs = 0;
  uint32_t ours = 0;
};

class NetworkMtus {
 public:
  static bool isRecordNetwork(const std::string& network);
  // The record this host (`self`, its underlay address) publishes for the
  // network `identity` of MTU `mtu`.
  static EndpointRecord record(const std::string& identity, uint32_t mtu, const std::string& self);

  // Another host's record arrived (active) or went away. Refused, changing
  // nothing, when it is not well formed; this host's own records are ignored.
  Status apply(const EndpointRecord& r, bool active, const std::string& self);

  // Every host whose MTU of one of this host's networks (identity -> MTU
  // here) differs, by identity and host.
  std::vector<MtuMismatch> mismatches(const std::map<std::string, uint32_t>& mine) const;
  // The MTU each other host said for `identity` (host -> MTU).
  std::map<std::string, uint32_t> hostsOf(const std::string& identity) const;
  // The hosts in `carriers` (hosts with endpoints on `identity`) that said
  // no MTU for it: an older weft.
  std::set<std::string> unknown(const std::string& identity, const std::set<std::string>& carriers) const;
  size_t size() const { return byIdentity_.size(); }

 private:
  PerHostTable<uint32_t> byIdentity_{kMaxMtuHostsPerNetwork};  // identity -> host -> MTU
};

}  // namespace weft::driver
