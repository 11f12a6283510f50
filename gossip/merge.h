#pragma once
// Merge rules of the endpoint-record state, as pure free functions over a
// plain RecordTable (no clocks, no sockets) so they can be tested exhaustively.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "gossip/record.h"

namespace weft::gossip {

struct NetworkRecords {
  std::map<std::string, EndpointRecord> records;  // by endpoint id
  // Highest version ever accepted per owner in this network; survives the
  // expiry of tombstones so digests do not disagree when one expires.
  std::map<std::string, uint64_t> watermark;
  uint64_t generation = 0;  // bumped on every change, for caches of digests
};

struct RecordTable {
  std::map<std::string, NetworkRecords> networks;
  std::set<std::string> suspendedOwners;  // owners currently considered dead
};

// True when `incoming` must replace `current` (same network and endpoint).
// Higher version wins; on equal versions a tombstone wins; otherwise the
// larger (owner, ipv4, ipv6, mac, vtep) tuple wins, so the rule is a strict
// total order and merging is order-independent.
bool supersedes(const EndpointRecord& incoming, const EndpointRecord& current);

enum class MergeOutcome { kInserted, kReplaced, kStale };
// Applies one record. Tombstones get tombstoneTime = now.
MergeOutcome mergeRecord(RecordTable& table, EndpointRecord incoming, Time now);

// Removes tombstones stored for longer than ttl; returns them.
std::vector<EndpointRecord> expireTombstones(RecordTable& table, Time now, Duration ttl);

// A dead owner's records stay but are not active until it returns.
void suspendOwner(RecordTable& table, const std::string& owner);
void resumeOwner(RecordTable& table, const std::string& owner);
// A reaped owner's records are removed; returns the ones that were live.
std::vector<EndpointRecord> dropOwner(RecordTable& table, const std::string& owner);
// Forgets a network this node no longer carries.
void dropNetwork(RecordTable& table, const std::string& network);

bool isActive(const RecordTable& table, const EndpointRecord& r);
std::vector<EndpointRecord> activeRecords(const RecordTable& table, const std::string& network);
const EndpointRecord* findRecord(const RecordTable& table, const std::string& network,
                                 const std::string& endpoint);

// Anti-entropy digests: per network, per owner {watermark, hash of live records}.
struct OwnerDigest {
  uint64_t maxVersion = 0;
  uint64_t hash = 0;
  bool operator==(const OwnerDigest&) const = default;
};
using NetworkDigest = std::map<std::string, OwnerDigest>;  // by owner

NetworkDigest computeDigest(const RecordTable& table, const std::string& network);
// One number summarising a network digest; equal roots mean equal digests.
uint64_t digestRoot(const NetworkDigest& digest);
// The records a peer with digest `theirs` lacks: for each owner whose entry
// differs, the records newer than the peer's watermark, or all of the owner's
// records (tombstones included) if the watermarks agree but the hashes do not.
std::vector<EndpointRecord> recordsForDigestDiff(const RecordTable& table, const std::string& network,
                                                 const NetworkDigest& theirs);
// True when `theirs` has something `ours` lacks (so we should ask for it).
bool digestHasNews(const NetworkDigest& ours, const NetworkDigest& theirs);

uint64_t fnv1a(uint64_t h, const std::string& s);
uint64_t fnv1a(uint64_t h, uint64_t v);
inline constexpr uint64_t kFnvOffset = 1469598103934665603ULL;

}  // namespace weft::gossip
