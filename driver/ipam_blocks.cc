#include "driver/ipam_blocks.h"

#include <algorithm>
#include <tuple>

namespace weft::driver {

namespace {

// Rendezvous rank of a block for a host: FNV-1a of (host id, block). driver/
// does not depend on gossip/, so it has its own few lines of it.
uint64_t rank(const std::string& self, uint32_t block) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&](uint8_t byte) { h = (h ^ byte) * 1099511628211ULL; };
  for (char c : self) mix(static_cast<uint8_t>(c));
  for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(block >> (8 * i)));
  return h;
}

}  // namespace

BlockLayout BlockLayout::of(const Prefix& pool) {
  BlockLayout l;
  l.pool = pool.network();
  const int bits = pool.addr.bits();
  int len = std::max(pool.len, pool.addr.isV6() ? kBlockLenV6 : kBlockLenV4);
  len = std::min(len, bits);
  // Grow blocks until there are at most kMaxBlocks of them.
  while (len - l.pool.len > 12) --len;  // 2^12 == kMaxBlocks
  l.blockLen = len;
  l.count = uint32_t(1) << (len - l.pool.len);
  return l;
}

Prefix BlockLayout::block(uint32_t index) const {
  const int shift = pool.addr.bits() - blockLen;
  u128 base = pool.first().toU128() + (u128(index) << shift);
  return Prefix{IpAddr::fromU128(pool.addr.family, base), blockLen};
}

std::optional<uint32_t> BlockLayout::blockOf(const IpAddr& a) const {
  if (a.family != pool.addr.family || !pool.contains(a)) return std::nullopt;
  const int shift = pool.addr.bits() - blockLen;
  return static_cast<uint32_t>((a.toU128() - pool.first().toU128()) >> shift);
}

bool beats(const LeaseClaim& a, const LeaseClaim& b) {
  if (!a.takeoverOf.empty() && a.takeoverOf == b.id()) return true;
  if (!b.takeoverOf.empty() && b.takeoverOf == a.id()) return false;
  if (a.used != b.used) return a.used;
  return std::tie(a.claimedAt, a.owner) < std::tie(b.claimedAt, b.owner);
}

bool OwnerLiveness::expired(const std::string& owner, int64_t nowUs, int64_t graceUs) const {
  auto it = goneSinceUs.find(owner);
  return it != goneSinceUs.end() && nowUs - it->second >= graceUs;
}

bool holds(const LeaseClaim& c, const OwnerLiveness& live, int64_t nowUs, int64_t graceUs) {
  return !c.released && !live.expired(c.owner, nowUs, graceUs);
}

const LeaseClaim* bestClaim(const BlockClaims& others, uint32_t block, const OwnerLiveness& live,
                            int64_t nowUs, int64_t graceUs) {
  auto it = others.find(block);
  if (it == others.end()) return nullptr;
  const LeaseClaim* best = nullptr;
  for (const auto& [owner, c] : it->second)
    if (holds(c, live, nowUs, graceUs) && (!best || beats(c, *best))) best = &c;
  return best;
}

std::optional<BlockChoice> chooseBlock(const BlockLayout& layout, const std::string& self,
                                       const std::set<uint32_t>& previous, const std::set<uint32_t>& skip,
                                       const BlockClaims& others, const OwnerLiveness& live, int64_t nowUs,
                                       int64_t graceUs) {
  auto free = [&](uint32_t b) {
    return b < layout.count && !skip.count(b) && !bestClaim(others, b, live, nowUs, graceUs);
  };
  // 1. Our own previous lease, if nobody holds it now.
  for (uint32_t b : previous)
    if (free(b)) return BlockChoice{b, ""};
  // Sort the free blocks into the three remaining classes.
  std::vector<std::pair<uint64_t, uint32_t>> fresh;  // (rendezvous rank, block)
  std::vector<std::tuple<uint64_t, std::string, uint32_t>> released;
  std::vector<std::tuple<int64_t, uint64_t, uint32_t, std::string>> expired;
  for (uint32_t b = 0; b < layout.count; ++b) {
    if (!free(b)) continue;
    auto it = others.find(b);
    if (it == others.end() || it->second.empty()) {
      fresh.emplace_back(rank(self, b), b);
      continue;
    }
    // Held by nobody: every claim is released or its owner expired.
    const LeaseClaim* gone = nullptr;
    uint64_t oldest = UINT64_MAX;
    for (const auto& [owner, c] : it->second) {
      oldest = std::min(oldest, c.claimedAt);
      if (!c.released && (!gone || beats(c, *gone))) gone = &c;
    }
    if (!gone)
      released.emplace_back(oldest, "", b);
    else
      expired.emplace_back(live.goneSinceUs.at(gone->owner), gone->claimedAt, b, gone->id());
  }
  if (!fresh.empty()) return BlockChoice{std::min_element(fresh.begin(), fresh.end())->second, ""};
  if (!released.empty())
    return BlockChoice{std::get<2>(*std::min_element(released.begin(), released.end())), ""};
  if (!expired.empty()) {
    auto e = *std::min_element(expired.begin(), expired.end());
    return BlockChoice{std::get<2>(e), std::get<3>(e)};
  }
  return std::nullopt;
}

}  // namespace weft::driver
