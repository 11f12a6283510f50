#pragma once
// Cluster-wide IPAM, part one: the rules, as pure functions (no I/O, no
// clocks; time comes in as arguments). A pool is split into blocks; a host
// claims blocks as records it owns (LeaseClaim); which claim of a block
// counts is decided here, the same way on every host, from the claims alone.
//
// The safety rule (see LeaseBook for the host's side):
//  * A host uses a block it claimed only after the claim has been out for
//    `settle` on its own clock without any better claim of that block
//    showing up. Gossip pushes a record to the reachable members within
//    milliseconds, so two hosts that can reach each other see each other's
//    claim before either settles, and `beats` picks one: the loser gives
//    up a block it has not used yet.
//  * A used claim beats an unused one, so a late claim never displaces a
//    block in use; a takeover (reclaim of a gone owner's block) beats exactly
//    the claim it names.
//  * Window, stated honestly: two hosts that cannot reach each other (a
//    partition, or a claim delayed longer than `settle`) may both settle the
//    same block. Hosts prefer blocks in an order derived from their own id
//    (rendezvous hashing), so this needs a pool with few free blocks. When
//    the claims meet, both hosts see the conflict (conflicted()), the loser
//    stops handing out addresses from the block and the duplicates already
//    handed out are reported, never silently merged.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "driver/lease_claim.h"

namespace weft::driver {

// Blocks of a pool: /28 (16 addresses) for IPv4 and /120 for IPv6 unless the
// pool is smaller, and at most kMaxBlocks of them (a larger pool's blocks
// grow instead), so every table here is bounded.
inline constexpr int kBlockLenV4 = 28;
inline constexpr int kBlockLenV6 = 120;
inline constexpr uint32_t kMaxBlocks = 4096;

struct BlockLayout {
  Prefix pool;       // network form
  int blockLen = 0;  // prefix length of one block
  uint32_t count = 0;

  static BlockLayout of(const Prefix& pool);
  Prefix block(uint32_t index) const;
  std::optional<uint32_t> blockOf(const IpAddr& a) const;
};

// True when claim `a` has precedence over claim `b` of the same block. A
// strict total order on live claims: takeover of exactly `b`, then used over
// unused, then the earlier claim, then the smaller owner id.
bool beats(const LeaseClaim& a, const LeaseClaim& b);

// What a host knows of the other owners: since when (its own clock) each
// one that is not alive has been gone. Owners not listed are alive.
struct OwnerLiveness {
  std::map<std::string, int64_t> goneSinceUs;
  bool gone(const std::string& owner) const { return goneSinceUs.count(owner) > 0; }
  // Gone for at least `graceUs` at `nowUs`: its claims no longer count.
  bool expired(const std::string& owner, int64_t nowUs, int64_t graceUs) const;
};

// A claim that still holds its block: not released, owner not expired.
bool holds(const LeaseClaim& c, const OwnerLiveness& live, int64_t nowUs, int64_t graceUs);

// The claims of one block by all other owners, as this host knows them.
using BlockClaims = std::map<uint32_t, std::map<std::string, LeaseClaim>>;  // block -> owner -> claim

// The best holding claim of a block among `others` (nullptr if none).
const LeaseClaim* bestClaim(const BlockClaims& others, uint32_t block, const OwnerLiveness& live,
                            int64_t nowUs, int64_t graceUs);

// Which block a host should claim next, flannel#29's rule: its own previous
// leases first, then never-claimed blocks (in an order derived from the
// host's id, so partitioned hosts rarely pick the same one), then released
// blocks (oldest claim first), then blocks of expired owners (gone
// longest first). `skip` lists blocks the host already holds or must not take.
struct BlockChoice {
  uint32_t block = 0;
  std::string takeoverOf;  // set for a reclaimed block
};
std::optional<BlockChoice> chooseBlock(const BlockLayout& layout, const std::string& self,
                                       const std::set<uint32_t>& previous, const std::set<uint32_t>& skip,
                                       const BlockClaims& others, const OwnerLiveness& live, int64_t nowUs,
                                       int64_t graceUs);

}  // namespace weft::driver
