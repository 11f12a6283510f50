// The driver and cluster-wide IPAM: other hosts' lease records and member
// changes go into the lease books (driver/ipam_leases.h); this host's claims
// go out to the cluster whenever a book changes. Records come from the
// sidecar, which the plugin does not trust: LeaseBook::observe judges each
// one and a refused one changes nothing and is logged.

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

namespace {

int64_t steadyUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kRefusedLogIntervalUs = 10'000'000;

}  // namespace

void Driver::syncLeasesLocked() {
  const int64_t now = steadyUs();
  std::map<std::pair<std::string, uint32_t>, LeaseClaim> want;
  for (auto& [cidr, book] : ipam_.leaseBooks()) {
    book.tick(now);
    for (const auto& c : book.ownClaims()) want[{cidr, c.block}] = c;
    for (const auto& c : book.conflicts(now)) {
      if (!loggedConflicts_.insert({cidr, c.block, c.other}).second) continue;
      ++leaseConflicts_;
      LOG_ERROR("ipam", "address conflict: block "
                            << book.layout().block(c.block).str() << " of pool " << cidr
                            << " was handed out by this host and by " << c.other
                            << " (claims made while the two could not reach each other); "
                            << (c.weWin ? "this host keeps it, " + c.other + " hands out no more"
                                        : "this host hands out no more from it")
                            << "; containers holding its addresses on both hosts collide: "
                               "restart those on the losing host");
    }
  }
  if (!cluster_) {
    publishedLeases_ = std::move(want);
    return;
  }
  for (const auto& [k, c] : want) {
    auto it = publishedLeases_.find(k);
    if (it == publishedLeases_.end() || !(it->second == c)) cluster_->publishLease(c);
  }
  for (const auto& [k, c] : publishedLeases_)
    if (!want.count(k)) cluster_->withdrawLease(k.first, k.second);
  publishedLeases_ = std::move(want);
}

void Driver::applyLease(const LeaseClaim& c, bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!ipam_.leasesEnabled()) return;
  LeaseBook* book = ipam_.leaseBook(c.pool);
  if (!book) return;  // a pool this host does not use
  const int64_t now = steadyUs();
  if (active) {
    if (auto st = book->observe(c, now); !st) {
      refusedRecordLocked("a lease record of pool " + c.pool + " from the cluster: " + st.error().message,
                          now);
      return;
    }
  } else {
    book->forget(c.owner, c.block);
  }
  syncLeasesLocked();
}

void Driver::refusedRecordLocked(const std::string& what, int64_t nowUs) {
  ++refusedLeases_;
  ++refusedUnlogged_;
  if (refusedLoggedAtUs_ == INT64_MIN || nowUs - refusedLoggedAtUs_ >= kRefusedLogIntervalUs) {
    LOG_WARN("ipam", "refused " << what << " (" << refusedUnlogged_ << " refused since the last report)");
    refusedLoggedAtUs_ = nowUs;
    refusedUnlogged_ = 0;
  }
}

std::map<std::string, PoolNameUse> Driver::poolNameUseLocked() const {
  std::map<std::string, PoolNameUse> use;
  for (const auto& [id, p] : ipam_.pools()) {
    auto name = p.options.find(kPoolNameOption);
    if (!p.clustered || name == p.options.end()) continue;
    (p.pool.addr.isV6() ? use[name->second].v6 : use[name->second].v4) = p.pool.str();
  }
  return use;
}

void Driver::syncPoolNamesLocked() {
  auto want = poolNameUseLocked();
  if (cluster_ && ipam_.leasesEnabled()) {
    const std::string& self = ipam_.leaseSelf();
    for (const auto& [name, use] : want) {
      auto it = publishedPoolNames_.find(name);
      if (it == publishedPoolNames_.end() || !(it->second == use))
        cluster_->publish(PoolNames::record(name, use, self));
    }
    for (const auto& [name, use] : publishedPoolNames_)
      if (!want.count(name)) {
        auto r = PoolNames::record(name, use, self);
        cluster_->withdraw(r.network, r.endpoint);
      }
  }
  publishedPoolNames_ = std::move(want);
}

void Driver::applyPoolNameLocked(const EndpointRecord& r, bool active) {
  if (!ipam_.leasesEnabled()) return;
  if (auto st = poolNames_.apply(r, active, ipam_.leaseSelf()); !st) {
    refusedRecordLocked(st.error().message, steadyUs());
    return;
  }
  // Both hosts get the other's record, so both log the mismatch (once each,
  // again if it comes back after being resolved).
  std::set<std::string> now;
  for (const auto& m : poolNames_.mismatches(poolNameUseLocked())) {
    std::string key = m.name + "|" + m.owner + "|" + m.theirs + "|" + m.ours;
    now.insert(key);
    if (loggedNameMismatches_.count(key)) continue;
    LOG_ERROR("ipam",
              "pool name " << m.name << " is " << m.ours << " on this host but " << m.theirs << " on host "
                           << m.owner
                           << ": new addresses from it are refused on both hosts until one of the "
                              "networks is removed and created again with the same --subnet (or none)");
  }
  loggedNameMismatches_ = std::move(now);
}

std::optional<Error> Driver::poolNameMismatchLocked(const std::string& poolId) const {
  const auto& pools = ipam_.pools();
  auto it = pools.find(poolId);
  if (it == pools.end() || !it->second.clustered) return std::nullopt;
  auto name = it->second.options.find(kPoolNameOption);
  if (name == it->second.options.end()) return std::nullopt;
  auto m = poolNames_.mismatch(name->second, it->second.pool);
  if (!m) return std::nullopt;
  return Error{EEXIST, "pool name " + m->name + " (--ipam-opt " + kPoolNameOption + ") is " + m->theirs +
                           " on host " + m->owner + ", not " + m->ours +
                           ": give the same --subnet on every host, or none (then the name picks it)"};
}

void Driver::memberChanged(const std::string& id, bool alive) {
  std::lock_guard<std::mutex> lk(mu_);
  const int64_t now = steadyUs();
  for (auto& [cidr, book] : ipam_.leaseBooks()) {
    if (alive)
      book.ownerBack(id, now);
    else
      book.ownerGone(id, now);
  }
  if (!ipam_.leaseBooks().empty())
    LOG_INFO("ipam", "member " << id
                               << (alive ? " is alive: its blocks are its own"
                                         : " is unreachable: its blocks are reclaimed if it stays away for " +
                                               std::to_string(cfg_.leaseRules.graceUs / 1'000'000) + " s"));
  syncLeasesLocked();
}

Result<size_t> Driver::releaseHost(const std::string& host) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!ipam_.leasesEnabled()) return Error{ENOTSUP, "cluster-wide IPAM is off on this host"};
  if (host == ipam_.leaseSelf()) return Error{EINVAL, "refusing to release this host's own blocks"};
  const int64_t now = steadyUs();
  size_t held = 0;
  for (auto& [cidr, book] : ipam_.leaseBooks()) {
    if (auto st = book.expireOwner(host, now); !st) return st.error();
    for (const auto& [b, owners] : book.others())
      if (auto it = owners.find(host); it != owners.end() && !it->second.released) ++held;
  }
  LOG_WARN("ipam", "operator released the blocks of " << host << " (" << held
                                                      << " held): other hosts may reclaim them now");
  return held;
}

std::vector<std::pair<std::string, Prefix>> Driver::reclaimedBlocksLocked() const {
  std::vector<std::pair<std::string, Prefix>> out;
  auto victim = [](const std::string& takeoverOf) { return takeoverOf.substr(0, takeoverOf.rfind('@')); };
  for (const auto& [cidr, book] : ipam_.leaseBooks()) {
    for (const auto& c : book.ownClaims())
      if (!c.takeoverOf.empty() && !c.released)
        out.emplace_back(victim(c.takeoverOf), book.layout().block(c.block));
    for (const auto& [b, owners] : book.others())
      for (const auto& [o, c] : owners)
        if (!c.takeoverOf.empty() && !c.released)
          out.emplace_back(victim(c.takeoverOf), book.layout().block(b));
  }
  return out;
}

size_t Driver::dropReclaimedRemotes() {
  // Gossip keeps a dead host's endpoint records (and so their neighbour
  // entries) until the host is reaped; once its block is reclaimed, those
  // entries would send the block's new holders' traffic to the dead host.
  // A host's node id is its VTEP address (ADVERTISE_ADDR).
  std::vector<std::pair<std::string, Prefix>> blocks;
  {
    std::lock_guard<std::mutex> lk(mu_);
    blocks = reclaimedBlocksLocked();
  }
  if (blocks.empty()) return 0;
  size_t dropped = 0;
  for (const auto& r : peers_.records())
    for (const auto& gb : blocks) {
      // Not a structured binding: clang cannot capture one in the lambda.
      const std::string& gone = gb.first;
      const Prefix& block = gb.second;
      auto in = [&](const std::string& cidr) {
        auto p = Prefix::parse(cidr);
        return p && block.contains(p->addr);
      };
      if (r.vtep != gone || !(in(r.ipv4) || in(r.ipv6))) continue;
      LOG_INFO("ipam", "forgetting remote endpoint " << r.endpoint.substr(0, 12) << " " << r.ipv4 << r.ipv6
                                                     << " of gone host " << gone << ": its block "
                                                     << block.str() << " was reclaimed");
      peers_.apply(r, RecordState::kWithdrawn);
      ++dropped;
      break;
    }
  return dropped;
}

uint64_t Driver::refusedLeases() const {
  std::lock_guard<std::mutex> lk(mu_);
  return refusedLeases_;
}

Driver::IpamClusterCounts Driver::ipamClusterCounts() const {
  std::lock_guard<std::mutex> lk(mu_);
  IpamClusterCounts c;
  const int64_t now = steadyUs();
  for (const auto& [cidr, book] : ipam_.leaseBooks()) c.conflictsNow += book.conflicts(now).size();
  c.conflictsDetected = leaseConflicts_;
  c.refusedRecords = refusedLeases_;
  c.poolNameMismatches = poolNames_.mismatches(poolNameUseLocked()).size();
  return c;
}

uint64_t Driver::leaseConflicts() const {
  std::lock_guard<std::mutex> lk(mu_);
  return leaseConflicts_;
}

nlohmann::json Driver::ipamView() const {
  std::lock_guard<std::mutex> lk(mu_);
  const int64_t now = steadyUs();
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& [cidr, book] : ipam_.leaseBooks()) {
    nlohmann::json blocks = nlohmann::json::array();
    auto use = book.ownUse();
    const OwnerLiveness none;
    for (uint32_t b = 0; b < book.layout().count; ++b) {
      auto mine = use.find(b);
      const LeaseClaim* other = bestClaim(book.others(), b, none, now, book.rules().graceUs);
      if (mine == use.end() && !other) continue;
      nlohmann::json owners = nlohmann::json::array();
      if (mine != use.end()) {
        std::string takeover;
        for (const auto& c : book.ownClaims())
          if (c.block == b) takeover = c.takeoverOf;
        owners.push_back(
            {{"owner", book.self()}, {"self", true}, {"inUse", mine->second}, {"takeoverOf", takeover}});
      }
      if (auto it = book.others().find(b); it != book.others().end())
        for (const auto& [o, c] : it->second)
          owners.push_back(
              {{"owner", o}, {"used", c.used}, {"released", c.released}, {"takeoverOf", c.takeoverOf}});
      blocks.push_back({{"block", book.layout().block(b).str()}, {"owners", owners}});
    }
    nlohmann::json conflicts = nlohmann::json::array();
    for (const auto& c : book.conflicts(now))
      conflicts.push_back(
          {{"block", book.layout().block(c.block).str()}, {"other", c.other}, {"weWin", c.weWin}});
    pools.push_back({{"pool", cidr},
                     {"blockSize", "/" + std::to_string(book.layout().blockLen)},
                     {"blocks", book.layout().count},
                     {"held", blocks},
                     {"conflicts", conflicts}});
  }
  nlohmann::json names = nlohmann::json::array();
  for (const auto& m : poolNames_.mismatches(poolNameUseLocked()))
    names.push_back({{"name", m.name}, {"here", m.ours}, {"other", m.owner}, {"there", m.theirs}});
  return {{"enabled", ipam_.leasesEnabled()},
          {"poolNameMismatches", names},
          {"self", ipam_.leaseSelf()},
          {"settleMs", cfg_.leaseRules.settleUs / 1000},
          {"graceSeconds", cfg_.leaseRules.graceUs / 1'000'000},
          {"refusedRecords", refusedLeases_},
          {"conflicts", leaseConflicts_},
          {"pools", pools}};
}

}  // namespace weft::driver
