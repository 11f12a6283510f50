#pragma once
// Leases of cluster-wide IPAM (cluster/ipc_messages.h, ipc::Lease) carried by
// gossip as owner-written records, so they get dissemination, anti-entropy,
// tombstones and dead-owner suspension exactly as endpoint records do, with
// no change of the gossip wire format:
//   network  "ipam:<pool CIDR>"  (a host carries only the pools it uses)
//   endpoint "<block>@<owner>"   (one key per owner: concurrent claims of a
//                                 block by two hosts are both kept, and the
//                                 driver's rules pick the winner)
//   vtep     "c=<claimedAt>;f=<u|-><r|->;t=<takeoverOf>"
// The owner part of the key must match the record's owner: a member cannot
// write a lease under another member's name.

#include <optional>
#include <string>

#include "cluster/ipc_messages.h"
#include "common/result.h"
#include "gossip/record.h"

namespace weft::gossip {

inline constexpr const char* kLeaseNetworkPrefix = "ipam:";

bool isLeaseNetwork(const std::string& network);
std::string leaseNetwork(const std::string& pool);
std::string leaseKey(uint32_t block, const std::string& owner);

// The record this node publishes for one of its leases (owner and version
// are set by GossipNode::publish).
EndpointRecord leaseToRecord(const cluster::ipc::Lease& l, const std::string& owner);
// A lease record from the cluster back to a lease; an error saying why a
// record is not a well-formed lease (forged or corrupt).
Result<cluster::ipc::Lease> recordToLease(const EndpointRecord& r);

}  // namespace weft::gossip
