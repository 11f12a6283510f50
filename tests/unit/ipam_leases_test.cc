// The lease rules of cluster-wide IPAM (driver/ipam_blocks.h,
// driver/ipam_leases.h), one rule at a time. The simulator with random
// claims, partitions, restarts and reclaims is ipam_lease_sim_test.cc.
#include "driver/ipam_leases.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

using namespace weft;
using namespace weft::driver;

namespace {

constexpr int64_t kS = 1'000'000;  // µs

Prefix P(const char* s) { return *Prefix::parse(s); }
IpAddr A(const char* s) { return *IpAddr::parse(s); }

LeaseClaim claimOf(const std::string& owner, uint32_t block, uint64_t at, bool used = false) {
  return LeaseClaim{"10.60.0.0/24", block, owner, at, used, false, ""};
}

// Allocates, riding over one settle wait like the driver does.
Result<IpAddr> allocateSettled(LeaseBook& b, int64_t& now, uint64_t wall = 1000) {
  auto r = b.allocate(now, wall);
  if (r.ok() || r.code() != EAGAIN) return r;
  now = b.retryAtUs();
  return b.allocate(now, wall);
}

}  // namespace

TEST(IpamBlocks, SplitsPoolsIntoBoundedBlocks) {
  auto l = BlockLayout::of(P("10.60.0.0/24"));
  EXPECT_EQ(l.blockLen, 28);
  EXPECT_EQ(l.count, 16u);
  EXPECT_EQ(l.block(3).str(), "10.60.0.48/28");
  EXPECT_EQ(l.blockOf(A("10.60.0.49")), 3u);
  EXPECT_FALSE(l.blockOf(A("10.61.0.1")));
  auto big = BlockLayout::of(P("10.0.0.0/8"));  // 2^20 /28s: blocks grow to keep 4096
  EXPECT_EQ(big.count, kMaxBlocks);
  EXPECT_EQ(big.blockLen, 20);
  auto tiny = BlockLayout::of(P("10.60.0.0/30"));
  EXPECT_EQ(tiny.count, 1u);
  EXPECT_EQ(tiny.blockLen, 30);
  auto v6 = BlockLayout::of(P("fd00::/64"));
  EXPECT_EQ(v6.count, kMaxBlocks);
  EXPECT_EQ(v6.blockLen, 76);
}

TEST(IpamBlocks, PrecedenceIsUsedThenEarliestThenOwnerThenTakeover) {
  auto a = claimOf("a", 1, 100), b = claimOf("b", 1, 200);
  EXPECT_TRUE(beats(a, b));
  EXPECT_FALSE(beats(b, a));
  b.used = true;
  EXPECT_TRUE(beats(b, a));  // a late claim never displaces a block in use
  auto c = claimOf("c", 1, 100);
  EXPECT_TRUE(beats(a, c));  // same time: smaller owner id
  EXPECT_FALSE(beats(c, a));
  auto t = claimOf("t", 1, 900);
  t.takeoverOf = b.id();
  EXPECT_TRUE(beats(t, b));  // beats exactly the claim it took over, used or not
  EXPECT_FALSE(beats(b, t));
  EXPECT_TRUE(beats(a, t));
}

TEST(IpamBlocks, ChoosesOwnPreviousThenFreshThenReleasedThenExpiredOldestFirst) {
  auto l = BlockLayout::of(P("10.60.0.0/26"));  // 4 blocks
  ASSERT_EQ(l.count, 4u);
  BlockClaims others;
  OwnerLiveness live;
  others[0]["x"] = claimOf("x", 0, 10);  // held
  auto rel = claimOf("y", 1, 20);
  rel.released = true;
  others[1]["y"] = rel;
  others[2]["z"] = claimOf("z", 2, 30, true);
  auto ch = chooseBlock(l, "me", {1}, {}, others, live, 0, 10 * kS);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->block, 1u);  // own previous lease first
  ch = chooseBlock(l, "me", {}, {}, others, live, 0, 10 * kS);
  EXPECT_EQ(ch->block, 3u);  // never-claimed before released
  ch = chooseBlock(l, "me", {}, {3}, others, live, 0, 10 * kS);
  EXPECT_EQ(ch->block, 1u);  // released
  EXPECT_TRUE(ch->takeoverOf.empty());
  ch = chooseBlock(l, "me", {}, {1, 3}, others, live, 0, 10 * kS);
  EXPECT_FALSE(ch);  // z is alive
  live.goneSinceUs["z"] = 0;
  EXPECT_FALSE(chooseBlock(l, "me", {}, {1, 3}, others, live, 9 * kS, 10 * kS));  // within grace
  ch = chooseBlock(l, "me", {}, {1, 3}, others, live, 10 * kS, 10 * kS);
  ASSERT_TRUE(ch);
  EXPECT_EQ(ch->block, 2u);
  EXPECT_EQ(ch->takeoverOf, "z@30");
  live.goneSinceUs["x"] = -5 * kS;  // gone longer than z: reclaimed first
  ch = chooseBlock(l, "me", {}, {1, 3}, others, live, 10 * kS, 10 * kS);
  EXPECT_EQ(ch->block, 0u);
  EXPECT_EQ(ch->takeoverOf, "x@10");
}

TEST(IpamBlocks, FreshBlocksAreTriedInAnOrderThatDiffersPerHost) {
  auto l = BlockLayout::of(P("10.60.0.0/24"));
  std::set<uint32_t> firsts;
  for (const char* h : {"h1", "h2", "h3", "h4", "h5", "h6"})
    firsts.insert(chooseBlock(l, h, {}, {}, {}, {}, 0, kS)->block);
  EXPECT_GE(firsts.size(), 4u);  // not all hosts race for block 0
}

TEST(LeaseBook, SingleHostAllocatesAfterSettleWithoutAnyQuorum) {
  LeaseBook b("h1", P("10.60.0.0/24"));
  b.reserve(A("10.60.0.1"));
  int64_t now = 0;
  auto first = b.allocate(now, 1);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.code(), EAGAIN);
  EXPECT_EQ(b.retryAtUs(), LeaseRules{}.settleUs);
  std::set<std::string> seen;
  for (int i = 0; i < 253; ++i) {  // a /24 less network, broadcast, gateway
    auto r = allocateSettled(b, now);
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().message;
    EXPECT_TRUE(seen.insert(r->str()).second) << r->str();
  }
  EXPECT_FALSE(seen.count("10.60.0.0"));
  EXPECT_FALSE(seen.count("10.60.0.1"));
  EXPECT_FALSE(seen.count("10.60.0.255"));
  auto full = b.allocate(now, 1);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.code(), ENOSPC);
  EXPECT_NE(full.error().message.find("exhausted cluster-wide"), std::string::npos) << full.error().message;
}

TEST(LeaseBook, ConcurrentClaimsOfOneBlockLeaveOneWinner) {
  LeaseBook a("a", P("10.60.0.0/28")), b("b", P("10.60.0.0/28"));  // one block: they must collide
  int64_t now = 0;
  EXPECT_EQ(a.allocate(now, 500).code(), EAGAIN);
  EXPECT_EQ(b.allocate(now, 400).code(), EAGAIN);  // claimed earlier on its wall clock
  ASSERT_TRUE(a.observe(b.ownClaims()[0], now).ok());
  ASSERT_TRUE(b.observe(a.ownClaims()[0], now).ok());
  now += LeaseRules{}.settleUs;
  EXPECT_TRUE(b.allocate(now, 400).ok());
  auto lost = a.allocate(now, 500);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.code(), ENOSPC) << lost.error().message;  // gave up its unused claim
  ASSERT_EQ(a.ownClaims().size(), 1u);
  EXPECT_TRUE(a.ownClaims()[0].released);  // given up, and said so
  EXPECT_NE(lost.error().message.find("b (1)"), std::string::npos) << lost.error().message;
}

TEST(LeaseBook, LateEarlierClaimDoesNotDisplaceABlockInUse) {
  LeaseBook a("a", P("10.60.0.0/28")), late("b", P("10.60.0.0/28"));
  int64_t now = 0;
  ASSERT_TRUE(allocateSettled(a, now, 500).ok());
  EXPECT_EQ(late.allocate(now, 1).code(), EAGAIN);  // skewed clock: "earlier" claim
  ASSERT_TRUE(a.observe(late.ownClaims()[0], now).ok());
  ASSERT_TRUE(late.observe(a.ownClaims()[0], now).ok());
  now += LeaseRules{}.settleUs;
  EXPECT_TRUE(a.allocate(now, 500).ok());
  EXPECT_EQ(late.allocate(now, 1).code(), ENOSPC);
  EXPECT_TRUE(a.conflicts(now).empty());
}

TEST(LeaseBook, RefusesForgedAndUnboundedClaims) {
  LeaseRules rules;
  rules.maxClaimsPerOwner = 2;
  LeaseBook b("me", P("10.60.0.0/24"), rules);
  EXPECT_EQ(b.observe(LeaseClaim{"10.70.0.0/24", 1, "x", 1, false, false, ""}, 0).code(), EINVAL);
  EXPECT_EQ(b.observe(claimOf("", 1, 1), 0).code(), EINVAL);
  EXPECT_EQ(b.observe(claimOf("me", 1, 1), 0).code(), EPERM);
  EXPECT_EQ(b.observe(claimOf("x", 16, 1), 0).code(), ERANGE);
  ASSERT_TRUE(b.observe(claimOf("y", 5, 1, true), 0).ok());
  auto forged = claimOf("x", 5, 9);
  forged.takeoverOf = "y@1";  // y is alive here: x may not take its block
  auto r = b.observe(forged, 0);
  EXPECT_EQ(r.code(), EPERM);
  EXPECT_NE(r.error().message.find("alive"), std::string::npos);
  EXPECT_EQ(bestClaim(b.others(), 5, {}, 0, kS)->owner, "y");  // nothing changed
  ASSERT_TRUE(b.observe(claimOf("x", 1, 1), 0).ok());
  ASSERT_TRUE(b.observe(claimOf("x", 2, 1), 0).ok());
  EXPECT_EQ(b.observe(claimOf("x", 3, 1), 0).code(), ENOSPC);
  EXPECT_TRUE(b.observe(claimOf("x", 2, 1, true), 0).ok());  // an update is no new claim
}

TEST(LeaseBook, RestartReusesOwnLeasesAndAddresses) {
  LeaseBook b("h1", P("10.60.0.0/24"));
  int64_t now = 0;
  auto a1 = allocateSettled(b, now);
  ASSERT_TRUE(a1.ok());
  auto saved = b.toJson();
  auto back = LeaseBook::fromJson("h1", saved, {}, 100 * kS);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(back->holdsAddress(*a1));
  now = 100 * kS;
  EXPECT_EQ(back->allocate(now, 2).code(), EAGAIN);  // pending again: learn takeovers first
  auto a2 = allocateSettled(*back, now, 2);
  ASSERT_TRUE(a2.ok());
  EXPECT_EQ(back->layout().blockOf(*a2), back->layout().blockOf(*a1));  // same block
  EXPECT_NE(*a2, *a1);
  EXPECT_EQ(back->ownClaims()[0].claimedAt, b.ownClaims()[0].claimedAt);  // precedence kept
  auto bad = saved;
  bad["leases"][0]["addrs"][0] = "10.61.0.1";
  EXPECT_FALSE(LeaseBook::fromJson("h1", bad, {}, 0).ok());
}

TEST(LeaseBook, GoneOwnersBlocksAreReclaimedAfterGraceAndTheReturningOwnerLoses) {
  LeaseRules rules;
  rules.graceUs = 60 * kS;
  LeaseBook a("a", P("10.60.0.0/28"), rules), b("b", P("10.60.0.0/28"), rules);
  int64_t now = 0;
  ASSERT_TRUE(allocateSettled(a, now, 1).ok());
  ASSERT_TRUE(b.observe(a.ownClaims()[0], now).ok());
  b.ownerGone("a", now);
  now += 59 * kS;
  EXPECT_EQ(b.allocate(now, 2).code(), ENOSPC);  // within grace: still a's
  now += kS;
  EXPECT_EQ(b.allocate(now, 2).code(), EAGAIN);  // reclaimed
  auto take = b.ownClaims()[0];
  EXPECT_EQ(take.takeoverOf, a.ownClaims()[0].id());
  ASSERT_TRUE(allocateSettled(b, now, 2).ok());
  // a comes back with its old used lease: the takeover wins, a reports it.
  ASSERT_TRUE(a.observe(b.ownClaims()[0], now).ok());
  b.ownerBack("a");
  ASSERT_TRUE(b.observe(a.ownClaims()[0], now).ok());
  auto ca = a.conflicts(now), cb = b.conflicts(now);
  ASSERT_EQ(ca.size(), 1u);
  EXPECT_FALSE(ca[0].weWin);
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_TRUE(cb[0].weWin);
  auto more = a.allocate(now, 3);
  EXPECT_EQ(more.code(), ENOSPC);  // the loser hands out no more from it, and says why
  EXPECT_NE(more.error().message.find("this host hands out no more from 10.60.0.0/28: another host won it"),
            std::string::npos)
      << more.error().message;
  EXPECT_TRUE(b.allocate(now, 3).ok());  // the winner goes on
}

TEST(LeaseBook, ATakeoverOfThisHostsBlockByAMemberAliveHereAllAlongIsRefused) {
  LeaseRules rules;
  rules.graceUs = 60 * kS;
  LeaseBook a("a", P("10.60.0.0/24"), rules);
  int64_t now = 0;
  ASSERT_TRUE(allocateSettled(a, now, 1).ok());
  const auto mine = a.ownClaims()[0];
  a.ownerBack("x", now);  // x joined; a has seen it alive since
  now += 60 * kS;
  auto forged = claimOf("x", mine.block, 1, true);
  forged.takeoverOf = mine.id();
  auto r = a.observe(forged, now);
  EXPECT_EQ(r.code(), EPERM);
  EXPECT_NE(r.error().message.find("x has been alive here for 60 s, longer than the grace period"),
            std::string::npos)
      << r.error().message;
  EXPECT_TRUE(a.conflicts(now).empty());
  EXPECT_TRUE(a.allocate(now, 2).ok());  // a keeps its block
  // Alive here for less than the grace period: it may have been cut off
  // from a all along (a partition), so its takeover stands.
  a.ownerBack("y", now - 59 * kS);
  auto late = claimOf("y", mine.block, 2, true);
  late.takeoverOf = mine.id();
  EXPECT_TRUE(a.observe(late, now).ok());
  ASSERT_EQ(a.conflicts(now).size(), 1u);
  // A member gone in between counts from its return.
  a.ownerGone("x", now);
  a.ownerBack("x", now);
  EXPECT_TRUE(a.observe(forged, now + kS).ok());
}

TEST(LeaseBook, RequestedAddressOnlyIfNobodyHoldsIt) {
  LeaseBook me("me", P("10.60.0.0/24"));
  me.reserve(A("10.60.0.1"));
  ASSERT_TRUE(me.observe(claimOf("other", 2, 5, true), 0).ok());
  int64_t now = 0;
  auto held = me.allocateSpecific(A("10.60.0.40"), now, 9);  // block 2
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.code(), EEXIST);
  EXPECT_NE(held.error().message.find("held by host other"), std::string::npos);
  EXPECT_EQ(me.allocateSpecific(A("10.61.0.1"), now, 9).code(), EINVAL);
  EXPECT_EQ(me.allocateSpecific(A("10.60.0.1"), now, 9).code(), EEXIST);   // gateway
  EXPECT_EQ(me.allocateSpecific(A("10.60.0.99"), now, 9).code(), EAGAIN);  // claims block 6
  now = me.retryAtUs();
  auto got = me.allocateSpecific(A("10.60.0.99"), now, 9);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(me.allocateSpecific(A("10.60.0.99"), now, 9).code(), EEXIST);
  me.release(A("10.60.0.99"));
  EXPECT_TRUE(me.allocateSpecific(A("10.60.0.99"), now, 9).ok());
}

TEST(LeaseBook, ReleasedLeasesArePublishedAndReusableByOthers) {
  LeaseBook a("a", P("10.60.0.0/28")), b("b", P("10.60.0.0/28"));
  int64_t now = 0;
  auto x = allocateSettled(a, now);
  ASSERT_TRUE(x.ok());
  a.release(*x);
  a.releaseUnused();
  ASSERT_EQ(a.ownClaims().size(), 1u);
  EXPECT_TRUE(a.ownClaims()[0].released);
  ASSERT_TRUE(b.observe(a.ownClaims()[0], now).ok());
  EXPECT_TRUE(allocateSettled(b, now).ok());
}

TEST(LeaseBook, OperatorReleaseOfAGoneHostIsImmediateIdempotentAndRefusedForALiveOne) {
  LeaseRules rules;
  rules.graceUs = 600 * kS;
  LeaseBook b("b", P("10.60.0.0/28"), rules);  // one block, a's
  ASSERT_TRUE(b.observe(LeaseClaim{"10.60.0.0/28", 0, "a", 1, true, false, ""}, 0).ok());
  auto alive = b.expireOwner("a", 0);
  ASSERT_FALSE(alive.ok());
  EXPECT_EQ(alive.code(), EBUSY);
  int64_t now = 10 * kS;
  EXPECT_EQ(b.allocate(now, 5).code(), ENOSPC);
  b.ownerGone("a", now);
  EXPECT_EQ(b.allocate(now, 5).code(), ENOSPC);  // the grace period runs
  ASSERT_TRUE(b.expireOwner("a", now).ok());
  ASSERT_TRUE(b.expireOwner("a", now).ok());  // again: no change
  EXPECT_EQ(b.allocate(now, 5).code(), EAGAIN);
  EXPECT_EQ(b.ownClaims()[0].takeoverOf, "a@1");
  ASSERT_TRUE(allocateSettled(b, now, 5).ok());
}

namespace {

// Allocates `n` addresses one every `stepUs`, waiting for settles like the
// driver does; returns how many times it had to wait.
int allocateSteadily(LeaseBook& b, int n, int64_t stepUs, int64_t& now, std::set<std::string>* seen) {
  int waits = 0;
  uint64_t wall = 1000;
  for (int got = 0; got < n;) {
    auto r = b.allocate(now, wall++);
    if (!r.ok()) {
      EXPECT_EQ(r.code(), EAGAIN) << r.error().message;
      if (r.code() != EAGAIN) return waits;
      ++waits;
      now = b.retryAtUs();
      continue;
    }
    EXPECT_TRUE(seen->insert(r->str()).second) << r->str();
    ++got;
    now += stepUs;
  }
  return waits;
}

}  // namespace

// Blocks sized to need: a host that keeps allocating claims the next blocks
// while it still has addresses, as many as its recent demand needs, so after
// the first settles it hardly waits -- where one block per settle (16
// addresses per 1.5 s) made every 16th request wait 1.5 s.
TEST(LeaseBook, AHostThatKeepsAllocatingClaimsAheadAndHardlyWaits) {
  LeaseBook b("h1", P("10.80.0.0/16"));
  int64_t now = 0;
  std::set<std::string> seen;
  const int waits = allocateSteadily(b, 2000, 20'000, now, &seen);  // 50 a second for 40 s
  EXPECT_EQ(seen.size(), 2000u);
  // 19 today (the demand estimate ramps up over the first settle windows
  // and claims ahead only when nothing is pending); one block per settle
  // waited once per block.
  EXPECT_LE(waits, 25) << "one block per settle would have waited ~" << 2000 / 16;
  // It holds what it uses plus at most one batch claimed ahead.
  const size_t used = (2000 + 15) / 16;
  EXPECT_LE(b.ownClaims().size(), used + kMaxClaimBatch);
  // A host that allocates slowly holds one block ahead, not a batch.
  LeaseBook slow("h2", P("10.81.0.0/16"));
  int64_t t = 0;
  std::set<std::string> slowSeen;
  EXPECT_EQ(allocateSteadily(slow, 20, 2 * kS, t, &slowSeen), 1);  // the first claim only
  EXPECT_LE(slow.ownClaims().size(), 3u);
}

// In a small pool a busy host takes at most an eighth of the unclaimed
// blocks at once, leaving the rest to the others.
TEST(LeaseBook, ClaimingAheadLeavesASmallPoolsFreeBlocksToTheOthers) {
  LeaseBook b("h1", P("10.60.0.0/24"));  // 16 blocks
  b.reserve(A("10.60.0.1"));
  int64_t now = 0;
  std::set<std::string> seen;
  allocateSteadily(b, 100, 20'000, now, &seen);
  size_t pendingOrUnused = 0;
  auto use = b.ownUse();
  for (const auto& [blk, n] : use) pendingOrUnused += n == 0;
  EXPECT_LE(pendingOrUnused, 2u);  // unclaimed blocks / 8
  EXPECT_LE(use.size(), 100u / 14 + 1 + 2);
}
