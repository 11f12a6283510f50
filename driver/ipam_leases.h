#pragma once
// Cluster-wide IPAM, part two: one host's leases of one pool (LeaseBook).
// Pure: no I/O, time comes in as arguments (a monotonic `nowUs` for timers,
// the wall clock `wallUs` only to stamp new claims). The caller publishes
// ownClaims() whenever generation() changes, feeds the other owners' claims
// to observe(), tells it who is gone, and persists toJson().
//
// Lifecycle of one of this host's leases of a block:
//   pending  -- claimed, waiting `settle` for a better claim to show up
//   usable   -- settled with no better claim: addresses are handed out
//   lost     -- a better claim appeared while pending (dropped at once), or
//               after use (a conflict: no new addresses, reported)
// After a restart every restored lease is pending again, so the host learns
// of takeovers made while it was away before it hands out anything.

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "driver/ipam_blocks.h"

namespace weft::driver {

// Most blocks one allocation claims ahead at once.
inline constexpr size_t kMaxClaimBatch = 8;

struct LeaseRules {
  int64_t settleUs = 1'500'000;     // a claim's wait before use
  int64_t graceUs = 600'000'000;    // a gone owner's blocks are reclaimed after this
  uint32_t maxOwnersPerBlock = 16;  // claims kept per block (a bound, not a rule)
  uint32_t maxClaimsPerOwner = kMaxBlocks;
};

// A block two hosts have both used: both keep the addresses they handed out
// (they are duplicates and reported as such); the loser hands out no more.
struct LeaseConflict {
  uint32_t block = 0;
  std::string other;  // the other owner
  bool weWin = false;
};

class LeaseBook {
 public:
  LeaseBook(std::string self, const Prefix& pool, LeaseRules rules = {});

  const BlockLayout& layout() const { return layout_; }
  void setRules(const LeaseRules& rules) { rules_ = rules; }
  const LeaseRules& rules() const { return rules_; }
  const std::string& self() const { return self_; }
  const std::string& poolId() const { return poolId_; }

  // Addresses no host may hand out (the gateway every host shares).
  void reserve(const IpAddr& a);

  // Another owner's claim arrived (or changed). Refused, with a reason, when
  // it is not for this pool, names this host, is out of range, goes past a
  // bound, or takes over a block from an owner that is not expired here --
  // or takes over this host's own block while its owner has been alive here
  // for the whole grace period (it cannot have seen this host gone).
  Status observe(const LeaseClaim& c, int64_t nowUs);
  // Another owner's claim record went away (tombstone): the block is free of it.
  void forget(const std::string& owner, uint32_t block);
  void ownerGone(const std::string& owner, int64_t sinceUs);
  // `sinceUs`: when it became alive here (INT64_MAX: not known, e.g. a
  // member that was alive before this book existed).
  void ownerBack(const std::string& owner, int64_t sinceUs = INT64_MAX);
  // An operator's word that `owner` is gone for good: its blocks are
  // reclaimable now instead of after the grace period. Refused for an owner
  // that is not gone here (alive, or unknown). Idempotent.
  Status expireOwner(const std::string& owner, int64_t nowUs);

  // Any free address of a usable lease. EAGAIN: a block was claimed (or is
  // pending) and the caller must retry after retryAtUs(); ENOSPC: every
  // block of the pool is held by some host. When the free addresses run low
  // against recent demand, the next blocks are claimed ahead.
  Result<IpAddr> allocate(int64_t nowUs, uint64_t wallUs);
  // A requested address: granted only if no other host holds its block and
  // it is free here. EAGAIN as above when its block had to be claimed.
  Result<IpAddr> allocateSpecific(const IpAddr& a, int64_t nowUs, uint64_t wallUs);
  // Releasing a free or foreign address is a no-op (Docker may repeat).
  void release(const IpAddr& a);
  // The pool is no longer used here: leases without addresses are released.
  void releaseUnused();
  // Marks leases as restored after a restart: pending again from nowUs.
  void restart(int64_t nowUs);
  // Leases not settled yet wait `settle` again from nowUs (a new view).
  void restartPending(int64_t nowUs);
  // Re-judges the leases against what arrived (the caller publishes on a
  // new generation()).
  void tick(int64_t nowUs);

  int64_t retryAtUs() const;  // when the earliest pending lease settles
  uint64_t generation() const { return generation_; }
  std::vector<LeaseClaim> ownClaims() const;
  std::vector<LeaseConflict> conflicts(int64_t nowUs) const;
  const BlockClaims& others() const { return others_; }
  std::map<uint32_t, size_t> ownUse() const;  // block -> addresses handed out
  bool holdsAddress(const IpAddr& a) const;
  std::vector<IpAddr> addresses() const;  // handed out here

  nlohmann::json toJson() const;  // own leases only: others come back via gossip
  static Result<LeaseBook> fromJson(std::string self, const nlohmann::json& j, LeaseRules rules,
                                    int64_t nowUs);

 private:
  struct Lease {
    uint64_t claimedAt = 0;
    std::string takeoverOf;
    int64_t pendingSinceUs = 0;
    bool settled = false;
    bool lost = false;
    bool used = false;  // an address was handed out from it (sticky: precedence)
    bool released = false;
    std::set<u128> addrs;
  };
  LeaseClaim claimOf(uint32_t block, const Lease& l) const;
  // Settles pending leases, drops or marks lost ones.
  void judge(int64_t nowUs);
  std::optional<IpAddr> freeIn(uint32_t block, const Lease& l) const;
  bool reserved(u128 v) const;
  Status claim(uint32_t block, const std::string& takeoverOf, int64_t nowUs, uint64_t wallUs);
  // Claims up to `blocks` next blocks (see allocate); returns how many.
  size_t claimMore(size_t blocks, int64_t nowUs, uint64_t wallUs);
  // Counts an allocation; returns the addresses handed out per settle
  // period lately (this window or the one before).
  u128 noteDemand(int64_t nowUs);
  void releasedOwn(uint32_t block);  // forgets a released own lease before reclaiming it
  void touch() { ++generation_; }

  std::string self_;
  std::string poolId_;
  BlockLayout layout_;
  LeaseRules rules_;
  std::map<uint32_t, Lease> own_;
  std::set<uint32_t> previous_;  // blocks this host held before (restart, release)
  BlockClaims others_;
  std::map<std::string, size_t> perOwner_;
  OwnerLiveness live_;
  std::map<std::string, int64_t> aliveSinceUs_;  // owners alive here, since when (bounded by members)
  std::set<u128> reserved_;
  uint64_t generation_ = 1;
  int64_t demandSinceUs_ = INT64_MIN;  // allocations per settle window (noteDemand)
  u128 demandNow_ = 0, demandLast_ = 0;
};

}  // namespace weft::driver
