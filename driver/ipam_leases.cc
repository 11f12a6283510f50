#include "driver/ipam_leases.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace weft::driver {

LeaseBook::LeaseBook(std::string self, const Prefix& pool, LeaseRules rules)
    : self_(std::move(self)), poolId_(pool.network().str()), layout_(BlockLayout::of(pool)), rules_(rules) {
  // The pool's network and broadcast (IPv4 shorter than /31) and the IPv6
  // subnet-router anycast address are never handed out.
  const Prefix& p = layout_.pool;
  if (!p.addr.isV6() && p.len < 31) {
    reserved_.insert(p.first().toU128());
    reserved_.insert(p.last().toU128());
  } else if (p.addr.isV6() && p.len < 127) {
    reserved_.insert(p.first().toU128());
  }
}

void LeaseBook::reserve(const IpAddr& a) {
  if (layout_.pool.contains(a)) reserved_.insert(a.toU128());
}

bool LeaseBook::reserved(u128 v) const { return reserved_.count(v) > 0; }

LeaseClaim LeaseBook::claimOf(uint32_t block, const Lease& l) const {
  return LeaseClaim{poolId_, block, self_, l.claimedAt, l.used, l.released, l.takeoverOf};
}

Status LeaseBook::observe(const LeaseClaim& c, int64_t nowUs) {
  if (c.pool != poolId_) return Error{EINVAL, "lease of pool " + c.pool + " given to pool " + poolId_};
  if (c.owner.empty())
    return Error{EINVAL, "lease of block " + std::to_string(c.block) + " without an owner"};
  if (c.owner == self_)
    return Error{EPERM, "lease of block " + std::to_string(c.block) + " names this host as its owner"};
  if (c.block >= layout_.count)
    return Error{ERANGE, "lease of block " + std::to_string(c.block) + " by " + c.owner + ": pool " +
                             poolId_ + " has " + std::to_string(layout_.count) + " blocks"};
  auto& byOwner = others_[c.block];
  const bool isNew = !byOwner.count(c.owner);
  if (isNew && byOwner.size() >= rules_.maxOwnersPerBlock)
    return Error{ENOSPC, "lease of block " + std::to_string(c.block) + " by " + c.owner + ": already " +
                             std::to_string(byOwner.size()) + " claims of it"};
  if (isNew && perOwner_[c.owner] >= rules_.maxClaimsPerOwner)
    return Error{ENOSPC, "lease of block " + std::to_string(c.block) + ": " + c.owner + " already claims " +
                             std::to_string(perOwner_[c.owner]) + " blocks"};
  if (!c.takeoverOf.empty()) {
    // A takeover must name the claim of an owner that is gone here too;
    // otherwise a member is taking a live member's block.
    auto at = c.takeoverOf.rfind('@');
    std::string victim = at == std::string::npos ? "" : c.takeoverOf.substr(0, at);
    if (victim != self_ && !live_.gone(victim))
      return Error{EPERM, "lease of block " + std::to_string(c.block) + " by " + c.owner +
                              " takes it over from " + (victim.empty() ? "nobody" : victim) +
                              ", which is alive here: refused"};
    // This host's own block: a legitimate taker saw this host gone for the
    // grace period, so the two could not reach each other for that long. A
    // taker this host has seen alive for the whole grace period (SWIM's
    // indirect probes keep one-sided views short) was not cut off from it:
    // the claim is forged. One seen alive for less may have been on the
    // other side of a partition, and its takeover stands (the design's
    // stated window; duplicates are then reported as conflicts).
    if (victim == self_) {
      auto since = aliveSinceUs_.find(c.owner);
      if (since != aliveSinceUs_.end() && since->second <= nowUs - rules_.graceUs)
        return Error{EPERM,
                     "lease of block " + std::to_string(c.block) + " by " + c.owner +
                         " takes it over from this host, but " + c.owner + " has been alive here for " +
                         std::to_string((nowUs - since->second) / 1'000'000) +
                         " s, longer than the grace period: it cannot have seen this host gone; refused"};
    }
  }
  if (isNew) ++perOwner_[c.owner];
  byOwner[c.owner] = c;
  return Status::Ok();
}

void LeaseBook::forget(const std::string& owner, uint32_t block) {
  auto it = others_.find(block);
  if (it == others_.end() || !it->second.erase(owner)) return;
  if (it->second.empty()) others_.erase(it);
  if (--perOwner_[owner] == 0) perOwner_.erase(owner);
}

void LeaseBook::ownerGone(const std::string& owner, int64_t sinceUs) {
  live_.goneSinceUs.emplace(owner, sinceUs);  // the first time counts
  aliveSinceUs_.erase(owner);
}

void LeaseBook::ownerBack(const std::string& owner, int64_t sinceUs) {
  live_.goneSinceUs.erase(owner);
  if (sinceUs != INT64_MAX) aliveSinceUs_.emplace(owner, sinceUs);  // the first time counts
}

Status LeaseBook::expireOwner(const std::string& owner, int64_t nowUs) {
  auto it = live_.goneSinceUs.find(owner);
  if (it == live_.goneSinceUs.end())
    return Error{
        EBUSY, "host " + owner +
                   " is not gone as far as this host knows (alive, or never seen): its blocks stay its own"};
  it->second = std::min(it->second, nowUs - rules_.graceUs);
  return Status::Ok();
}

void LeaseBook::judge(int64_t nowUs) {
  for (auto it = own_.begin(); it != own_.end();) {
    Lease& l = it->second;
    if (l.released) {
      ++it;
      continue;
    }
    const LeaseClaim* best = bestClaim(others_, it->first, live_, nowUs, rules_.graceUs);
    if (best && beats(*best, claimOf(it->first, l))) {
      if (l.addrs.empty()) {
        // Nothing handed out (any more): give it up. Published as released,
        // not withdrawn, so the record stays and this host keeps carrying
        // the pool's records (the sidecar drops a network's records when
        // this host's last record in it goes).
        previous_.erase(it->first);
        l.released = true;
        l.lost = false;
        touch();
        ++it;
        continue;
      }
      l.lost = true;  // a conflict: keep what was handed out, hand out no more
    } else {
      l.lost = false;
      if (!l.settled && nowUs - l.pendingSinceUs >= rules_.settleUs) l.settled = true;
    }
    ++it;
  }
}

void LeaseBook::tick(int64_t nowUs) { judge(nowUs); }

std::optional<IpAddr> LeaseBook::freeIn(uint32_t block, const Lease& l) const {
  Prefix b = layout_.block(block);
  u128 lo = b.first().toU128(), hi = b.last().toU128();
  for (u128 v = lo;; ++v) {
    if (!reserved(v) && !l.addrs.count(v)) return IpAddr::fromU128(b.addr.family, v);
    if (v == hi) break;
  }
  return std::nullopt;
}

Status LeaseBook::claim(uint32_t block, const std::string& takeoverOf, int64_t nowUs, uint64_t wallUs) {
  Lease l;
  l.claimedAt = wallUs;
  l.takeoverOf = takeoverOf;
  l.pendingSinceUs = nowUs;
  own_[block] = std::move(l);
  previous_.insert(block);
  touch();
  return Status::Ok();
}

int64_t LeaseBook::retryAtUs() const {
  int64_t at = INT64_MAX;
  for (const auto& [b, l] : own_)
    if (!l.settled && !l.released) at = std::min(at, l.pendingSinceUs + rules_.settleUs);
  return at;
}

Result<IpAddr> LeaseBook::allocate(int64_t nowUs, uint64_t wallUs) {
  judge(nowUs);
  bool pending = false;
  std::optional<IpAddr> got;
  u128 freeLeft = 0;  // their free addresses after this allocation (reserved ones counted: a bound)
  const u128 blockSize = u128(1) << (layout_.pool.addr.bits() - layout_.blockLen);
  for (auto& [b, l] : own_) {
    if (l.released || l.lost) continue;
    if (!l.settled) {
      pending = true;
      continue;
    }
    if (!got)
      if (auto a = freeIn(b, l)) {
        l.addrs.insert(a->toU128());
        if (!l.used) {
          l.used = true;
          touch();
        }
        got = a;
      }
    freeLeft += blockSize - l.addrs.size();
  }
  if (got) {
    // Claim ahead, sized to need: when fewer free addresses are left than
    // two settle periods' worth of this host's recent demand (plus a
    // quarter block), the blocks to cover it are claimed now and settle
    // while these addresses go -- so a host that keeps allocating hardly
    // waits, and one that allocates a few holds one block.
    // Not while another host is unreachable (gone, not yet expired): in a
    // partition every claim is a chance of a duplicate, so a host claims
    // only what it needs now.
    const u128 demand = noteDemand(nowUs);
    const u128 want = 2 * demand + blockSize / 4;
    bool someoneAway = false;
    for (const auto& [o, since] : live_.goneSinceUs) someoneAway |= nowUs - since < rules_.graceUs;
    if (!pending && !someoneAway && freeLeft < want)
      claimMore(
          static_cast<size_t>(std::min<u128>((want - freeLeft + blockSize - 1) / blockSize, kMaxClaimBatch)),
          nowUs, wallUs);
    return *got;
  }
  if (pending) return Error{EAGAIN, "waiting for the claim of a block of " + poolId_ + " to settle"};
  if (claimMore(1, nowUs, wallUs) == 0) {
    std::set<uint32_t> skip;
    for (const auto& [b, l] : own_)
      if (!l.released) skip.insert(b);
    std::map<std::string, size_t> holders;
    for (uint32_t b = 0; b < layout_.count; ++b)
      if (const LeaseClaim* c = bestClaim(others_, b, live_, nowUs, rules_.graceUs)) ++holders[c->owner];
    holders[self_] = skip.size();
    std::string who, lost;
    for (const auto& [o, n] : holders) who += (who.empty() ? "" : ", ") + o + " (" + std::to_string(n) + ")";
    // Say why this host's own blocks give nothing: a conflict found after a
    // partition, which the operator has to act on, not a full pool.
    for (const auto& [b, l] : own_)
      if (l.lost && !l.released) lost += (lost.empty() ? "" : ", ") + layout_.block(b).str();
    return Error{ENOSPC, "pool " + poolId_ + " is exhausted cluster-wide: all " +
                             std::to_string(layout_.count) + " blocks of /" +
                             std::to_string(layout_.blockLen) + " are held, by " + who +
                             (lost.empty() ? ""
                                           : "; this host hands out no more from " + lost +
                                                 ": another host won it after a partition (weftctl ipam)")};
  }
  return Error{EAGAIN, "claimed a block of " + poolId_ + "; usable once it settles"};
}

u128 LeaseBook::noteDemand(int64_t nowUs) {
  if (demandSinceUs_ == INT64_MIN || nowUs - demandSinceUs_ >= rules_.settleUs) {
    // A new window; the last one counts only if it just ended.
    demandLast_ =
        demandSinceUs_ != INT64_MIN && nowUs - demandSinceUs_ < 2 * rules_.settleUs ? demandNow_ : 0;
    demandNow_ = 0;
    demandSinceUs_ = nowUs;
  }
  ++demandNow_;
  return std::max(demandNow_, demandLast_);
}

size_t LeaseBook::claimMore(size_t blocks, int64_t nowUs, uint64_t wallUs) {
  // At most kMaxClaimBatch at once and never more than an eighth of the
  // blocks nobody claims, so a busy host leaves the free blocks of a small
  // pool to the others. Extra blocks are never takeovers: reclaiming stays
  // one block at a time.
  size_t unclaimed = layout_.count;
  unclaimed -= std::min(unclaimed, others_.size());
  unclaimed -= std::min(unclaimed, own_.size());
  const size_t want = std::clamp<size_t>(std::min(blocks, unclaimed / 8), 1, kMaxClaimBatch);
  std::set<uint32_t> skip;
  for (const auto& [b, l] : own_)
    if (!l.released) skip.insert(b);
  size_t claimed = 0;
  while (claimed < want) {
    auto choice = chooseBlock(layout_, self_, previous_, skip, others_, live_, nowUs, rules_.graceUs);
    if (!choice || (claimed > 0 && !choice->takeoverOf.empty())) break;
    releasedOwn(choice->block);
    claim(choice->block, choice->takeoverOf, nowUs, wallUs);
    skip.insert(choice->block);
    ++claimed;
  }
  return claimed;
}

void LeaseBook::releasedOwn(uint32_t block) {
  auto it = own_.find(block);
  if (it != own_.end() && it->second.released) own_.erase(it);
}

Result<IpAddr> LeaseBook::allocateSpecific(const IpAddr& a, int64_t nowUs, uint64_t wallUs) {
  auto block = layout_.blockOf(a);
  if (!block) return Error{EINVAL, "address " + a.str() + " is outside pool " + poolId_};
  if (reserved(a.toU128()))
    return Error{EEXIST, "address " + a.str() + " is reserved in pool " + poolId_ +
                             " (network, broadcast or gateway)"};
  judge(nowUs);
  auto it = own_.find(*block);
  if (it != own_.end() && !it->second.released) {
    Lease& l = it->second;
    if (l.lost)
      return Error{EEXIST, "address " + a.str() + " is in block " + layout_.block(*block).str() +
                               ", which another host won"};
    if (!l.settled)
      return Error{EAGAIN, "waiting for the claim of " + layout_.block(*block).str() + " to settle"};
    if (l.addrs.count(a.toU128()))
      return Error{EEXIST, "address " + a.str() + " is already allocated in pool " + poolId_};
    l.addrs.insert(a.toU128());
    if (!l.used) {
      l.used = true;
      touch();
    }
    return a;
  }
  if (const LeaseClaim* c = bestClaim(others_, *block, live_, nowUs, rules_.graceUs))
    return Error{EEXIST, "address " + a.str() + " is in block " + layout_.block(*block).str() +
                             " held by host " + c->owner +
                             "; leave out --ip or pick an address no host holds"};
  // Nobody holds it: any claim left is released or its owner expired; a
  // takeover names the best of the expired ones.
  std::string takeover;
  const LeaseClaim* gone = nullptr;
  if (auto ot = others_.find(*block); ot != others_.end())
    for (const auto& [o, c] : ot->second)
      if (!c.released && (!gone || beats(c, *gone))) gone = &c;
  if (gone) takeover = gone->id();
  releasedOwn(*block);
  claim(*block, takeover, nowUs, wallUs);
  return Error{EAGAIN, "claimed block " + layout_.block(*block).str() + " for " + a.str() +
                           "; usable once it settles"};
}

void LeaseBook::release(const IpAddr& a) {
  auto block = layout_.blockOf(a);
  if (!block) return;
  auto it = own_.find(*block);
  if (it != own_.end()) it->second.addrs.erase(a.toU128());
}

void LeaseBook::releaseUnused() {
  for (auto& [b, l] : own_)
    if (l.addrs.empty() && !l.released) {
      l.released = true;
      touch();
    }
}

void LeaseBook::restart(int64_t nowUs) {
  for (auto& [b, l] : own_) {
    l.settled = false;
    l.lost = false;
    l.pendingSinceUs = nowUs;
  }
  touch();
}

void LeaseBook::restartPending(int64_t nowUs) {
  for (auto& [b, l] : own_)
    if (!l.settled) l.pendingSinceUs = nowUs;
}

std::vector<LeaseClaim> LeaseBook::ownClaims() const {
  std::vector<LeaseClaim> out;
  for (const auto& [b, l] : own_) out.push_back(claimOf(b, l));
  return out;
}

std::vector<LeaseConflict> LeaseBook::conflicts(int64_t nowUs) const {
  std::vector<LeaseConflict> out;
  for (const auto& [b, l] : own_) {
    if (l.released || (!l.used && l.addrs.empty())) continue;
    auto it = others_.find(b);
    if (it == others_.end()) continue;
    for (const auto& [o, c] : it->second)
      if (c.used && holds(c, live_, nowUs, rules_.graceUs)) out.push_back({b, o, beats(claimOf(b, l), c)});
  }
  return out;
}

std::map<uint32_t, size_t> LeaseBook::ownUse() const {
  std::map<uint32_t, size_t> out;
  for (const auto& [b, l] : own_)
    if (!l.released) out[b] = l.addrs.size();
  return out;
}

std::vector<IpAddr> LeaseBook::addresses() const {
  std::vector<IpAddr> out;
  for (const auto& [b, l] : own_)
    for (auto v : l.addrs) out.push_back(IpAddr::fromU128(layout_.pool.addr.family, v));
  return out;
}

bool LeaseBook::holdsAddress(const IpAddr& a) const {
  auto block = layout_.blockOf(a);
  if (!block) return false;
  auto it = own_.find(*block);
  return it != own_.end() && it->second.addrs.count(a.toU128());
}

nlohmann::json LeaseBook::toJson() const {
  nlohmann::json leases = nlohmann::json::array();
  const int family = layout_.pool.addr.family;
  for (const auto& [b, l] : own_) {
    nlohmann::json addrs = nlohmann::json::array();
    for (auto v : l.addrs) addrs.push_back(IpAddr::fromU128(family, v).str());
    leases.push_back({{"block", b},
                      {"claimedAt", l.claimedAt},
                      {"takeoverOf", l.takeoverOf},
                      {"used", l.used},
                      {"released", l.released},
                      {"addrs", addrs}});
  }
  return {{"pool", poolId_}, {"leases", leases}, {"previous", previous_}};
}

Result<LeaseBook> LeaseBook::fromJson(std::string self, const nlohmann::json& j, LeaseRules rules,
                                      int64_t nowUs) {
  try {
    auto pool = Prefix::parse(j.at("pool").get<std::string>());
    if (!pool) return Error{EINVAL, "lease book: bad pool"};
    LeaseBook book(std::move(self), *pool, rules);
    for (const auto& lj : j.at("leases")) {
      Lease l;
      auto b = lj.at("block").get<uint32_t>();
      if (b >= book.layout_.count)
        return Error{EINVAL, "lease book " + book.poolId_ + ": block out of range"};
      l.claimedAt = lj.at("claimedAt").get<uint64_t>();
      l.takeoverOf = lj.at("takeoverOf").get<std::string>();
      l.used = lj.at("used").get<bool>();
      l.released = lj.at("released").get<bool>();
      for (const auto& a : lj.at("addrs")) {
        auto ip = IpAddr::parse(a.get<std::string>());
        if (!ip || book.layout_.blockOf(*ip) != b)
          return Error{EINVAL, "lease book " + book.poolId_ + ": address outside its block"};
        l.addrs.insert(ip->toU128());
      }
      book.own_[b] = std::move(l);
    }
    for (const auto& b : j.at("previous")) book.previous_.insert(b.get<uint32_t>());
    book.restart(nowUs);
    return book;
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, std::string("lease book: ") + e.what()};
  }
}

}  // namespace weft::driver
