#pragma once
// Multicast listeners (cluster/ipc_messages.h, ipc::Mcast; issue 14) carried
// by gossip as owner-written records, like leases and names: dissemination,
// anti-entropy, tombstones and dead-owner suspension come with them and the
// gossip wire format stays as it is:
//   network  "mcast:<network identity>"  (carried by the hosts that prune
//                                         the network's multicast; older
//                                         weft carries none, so never sees one)
//   endpoint "<owner>"                   (one record per host and network;
//                                         another key is refused)
//   ipv4     IPv4 groups, 8 hex digits each, at most 31 (248 bytes)
//   ipv6     IPv6 groups, 32 hex digits each, at most 7 (224 bytes)
//   mac      "all" (the owner wants every group) or empty
//   vtep     the owner's VTEP address

#include <string>

#include "cluster/ipc_messages.h"
#include "common/result.h"
#include "gossip/record.h"

namespace weft::gossip {

inline constexpr const char* kMcastNetworkPrefix = "mcast:";

bool isMcastNetwork(const std::string& network);
std::string mcastNetwork(const std::string& network);

// The record this node (`owner`) publishes for its listeners on one network.
// `m` must pass ipc::mcastGroupsProblem (the decoder saw to it).
EndpointRecord mcastToRecord(const cluster::ipc::Mcast& m, const std::string& owner);
// A record back to an advertisement (groups sorted, as text); an error
// saying why it is not a well-formed one (forged or corrupt).
Result<cluster::ipc::Mcast> recordToMcast(const EndpointRecord& r);

}  // namespace weft::gossip
