#pragma once
// Endpoint names (cluster/ipc_messages.h, ipc::Names) carried by gossip as
// owner-written records, like leases (lease_records.h): dissemination,
// anti-entropy, tombstones and dead-owner suspension come with them and the
// gossip wire format stays as it is:
//   network  "dns:<network identity>"  (carried by the hosts that use the
//                                       network's names)
//   endpoint "<endpoint id>"           (the endpoint record's own key)
//   ipv4, ipv6                         the endpoint's addresses, without length
//   vtep     "<name>,<name>,..."       (at most 16 names, 255 bytes)
// A member writes names only for endpoints it owns: a names record whose
// endpoint record is held with another owner is refused here, and the
// plugin answers a name only while the endpoint record of the same owner
// and addresses is active (services/name_table.h).

#include <string>

#include "cluster/ipc_messages.h"
#include "common/result.h"
#include "gossip/record.h"

namespace weft::gossip {

inline constexpr const char* kNamesNetworkPrefix = "dns:";

bool isNamesNetwork(const std::string& network);
std::string namesNetwork(const std::string& network);

// The record this node publishes for one local endpoint's names.
EndpointRecord namesToRecord(const cluster::ipc::Names& n);
// A names record back to names; an error saying why it is not well formed.
// `endpointOwner`: the owner of the endpoint record of the same network and
// endpoint if this node holds one (empty if not): another owner is EPERM.
Result<cluster::ipc::Names> recordToNames(const EndpointRecord& r, const std::string& endpointOwner);

}  // namespace weft::gossip
