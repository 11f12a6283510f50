#include "driver/ipam.h"

#include <cctype>
#include <cerrno>
#include <nlohmann/json.hpp>

namespace weft::driver {

namespace {

// Usable host range of a prefix: network and broadcast addresses are excluded
// for IPv4 prefixes shorter than /31, the subnet-router anycast address for
// IPv6 prefixes shorter than /127.
std::pair<u128, u128> usableRange(const Prefix& p) {
  u128 lo = p.first().toU128(), hi = p.last().toU128();
  if (!p.addr.isV6() && p.len < 31) {
    ++lo;
    --hi;
  } else if (p.addr.isV6() && p.len < 127) {
    ++lo;
  }
  return {lo, hi};
}

IpAddr make(bool v6, u128 v) { return IpAddr::fromU128(v6 ? AF_INET6 : AF_INET, v); }

// An address as Docker sends it: plain, or a CIDR naming one address.
Result<IpAddr> parseAddress(const std::string& address) {
  if (auto a = IpAddr::parse(address)) return *a;
  if (auto pf = Prefix::parse(address)) return pf->addr;
  return Error{EINVAL, "Address \"" + address + "\" is not a valid IP address"};
}

// The pool a name stands for (see kPoolNameOption): FNV-1a of the name.
Result<Prefix> namedPool(const std::string& name, bool v6) {
  if (name.empty() || name.size() > 64)
    return Error{EINVAL, "weft.name \"" + name.substr(0, 64) + "\" must have 1 to 64 characters"};
  uint64_t h = 1469598103934665603ULL;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return Error{EINVAL, "weft.name \"" + name + "\" may hold only letters, digits, '-', '_' and '.'"};
    h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  }
  if (!v6)
    return Prefix{make(false, (u128(10) << 24) | (u128(128 + ((h >> 8) & 0x7f)) << 16) | ((h & 0xff) << 8)),
                  24};
  u128 base = (u128(0xfd777765) << 96) | (u128(0x6675) << 80);
  return Prefix{make(true, base | (u128(h & 0xffff) << 64)), 64};
}

}  // namespace

Result<Prefix> Ipam::defaultPool(bool v6) const {
  // IPv4: the /24s of 10.213.0.0/16; IPv6: the /64s of fd77:7765:6674::/48.
  for (u128 i = 0; i < 256; ++i) {
    Prefix cand;
    if (!v6) {
      cand = Prefix{make(false, (u128(10) << 24) | (u128(213) << 16) | (i << 8)), 24};
    } else {
      u128 base = (u128(0xfd777765) << 96) | (u128(0x6674) << 80);
      cand = Prefix{make(true, base | (i << 64)), 64};
    }
    bool used = false;
    for (const auto& [id, p] : pools_)
      if (p.pool.overlaps(cand)) used = true;
    if (!used) return cand;
  }
  return Error{ENOSPC, std::string("no free default ") + (v6 ? "IPv6" : "IPv4") +
                           " pool left; pass --subnet to docker network create"};
}

Result<PoolGrant> Ipam::requestPool(const std::string& addressSpace, const std::string& pool,
                                    const std::string& subPool,
                                    const std::map<std::string, std::string>& options, bool v6) {
  if (!addressSpace.empty() && addressSpace != kLocalAddressSpace && addressSpace != kGlobalAddressSpace)
    return Error{EINVAL, "unknown address space \"" + addressSpace + "\" (weft has \"" + kLocalAddressSpace +
                             "\" and \"" + kGlobalAddressSpace + "\")"};
  AddressPool ap;
  ap.addressSpace = addressSpace.empty() ? kLocalAddressSpace : addressSpace;
  ap.options = options;
  auto named = options.find(kPoolNameOption);
  if (pool.empty()) {
    if (!subPool.empty()) return Error{EINVAL, "SubPool \"" + subPool + "\" given without Pool"};
    auto p = named != options.end() ? namedPool(named->second, v6) : defaultPool(v6);
    if (!p.ok()) return p.error();
    ap.pool = *p;
  } else {
    auto p = Prefix::parse(pool);
    if (!p) return Error{EINVAL, "Pool \"" + pool + "\" is not a valid CIDR"};
    if (p->addr.isV6() != v6)
      return Error{EINVAL, "Pool \"" + pool + "\" is " + (p->addr.isV6() ? "IPv6" : "IPv4") + " but V6 is " +
                               (v6 ? "true" : "false")};
    if (*p != p->network())
      return Error{EINVAL,
                   "Pool \"" + pool + "\" has host bits set; did you mean " + p->network().str() + "?"};
    if (p->len == p->addr.bits()) return Error{EINVAL, "Pool \"" + pool + "\" has no room for addresses"};
    ap.pool = *p;
  }
  if (!subPool.empty()) {
    auto sp = Prefix::parse(subPool);
    if (!sp) return Error{EINVAL, "SubPool \"" + subPool + "\" is not a valid CIDR"};
    if (sp->addr.isV6() != ap.pool.addr.isV6() || sp->len < ap.pool.len || !ap.pool.contains(sp->first()))
      return Error{EINVAL, "SubPool \"" + subPool + "\" is not inside Pool \"" + ap.pool.str() + "\""};
    ap.subPool = sp->network();
  }
  // Cluster-wide whenever hosts can meet in the pool: a subnet, a name, and
  // also the default pool (no subnet, no name, as a compose file with just
  // `ipam: driver: weft` asks for): hosts with the same weft networks pick
  // the same default /24, and one subnet is one network to the driver, so
  // its addresses must be unique across the hosts as for any other.
  if (leasesEnabled() && subPool.empty() && ap.addressSpace == kLocalAddressSpace) {
    ap.clustered = true;
    leases_.try_emplace(ap.pool.str(), leaseSelf_, ap.pool, leaseRules_);
  }
  ap.id = ap.addressSpace + "/" + ap.pool.str() + "/" + std::to_string(nextPoolSeq_++);
  ap.cursor = usableRange(ap.subPool ? *ap.subPool : ap.pool).first;
  PoolGrant g{ap.id, ap.pool.str(), {}};
  pools_.emplace(ap.id, std::move(ap));
  return g;
}

Status Ipam::releasePool(const std::string& poolId) {
  auto it = pools_.find(poolId);
  if (it == pools_.end()) return Error{ENOENT, "unknown PoolID \"" + poolId + "\""};
  const std::string cidr = it->second.pool.str();
  const bool clustered = it->second.clustered;
  pools_.erase(it);
  if (clustered) {
    bool stillUsed = false;
    for (const auto& [id, p] : pools_) stillUsed |= p.clustered && p.pool.str() == cidr;
    // Leases without addresses go back to the cluster; the book stays, so
    // this host prefers the same blocks when the pool comes back.
    if (auto* book = leaseBook(cidr); book && !stillUsed) book->releaseUnused();
  }
  return Status::Ok();
}

Result<std::string> Ipam::requestAddress(const std::string& poolId, const std::string& address,
                                         const std::map<std::string, std::string>& options) {
  return requestAddress(poolId, address, options, 0, 0);
}

Result<std::string> Ipam::requestAddress(const std::string& poolId, const std::string& address,
                                         const std::map<std::string, std::string>& options, int64_t nowUs,
                                         uint64_t wallUs) {
  auto it = pools_.find(poolId);
  if (it == pools_.end()) return Error{ENOENT, "unknown PoolID \"" + poolId + "\""};
  AddressPool& p = it->second;
  bool gateway = false;
  if (auto t = options.find("RequestAddressType"); t != options.end()) {
    if (t->second != kGatewayRequestType)
      return Error{EINVAL, "unknown RequestAddressType \"" + t->second + "\""};
    gateway = true;
  }
  const bool v6 = p.pool.addr.isV6();
  auto suffix = "/" + std::to_string(p.pool.len);
  if (p.clustered && leaseBook(p.pool.str())) {
    auto r = requestClustered(p, address, gateway, nowUs, wallUs);
    if (!r.ok()) return r.error();
    return *r + suffix;
  }
  if (!address.empty()) {
    auto a = parseAddress(address);
    if (!a.ok()) return a.error();
    if (!p.pool.contains(*a))
      return Error{EINVAL, "address " + a->str() + " is outside pool " + p.pool.str()};
    if (p.allocated.count(a->toU128()))
      return Error{EEXIST, "address " + a->str() + " is already allocated in pool " + p.pool.str()};
    p.allocated.insert(a->toU128());
    if (gateway) p.gateway = *a;
    return a->str() + suffix;
  }
  // Gateway without an address: the first usable address of the pool.
  auto [lo, hi] = usableRange(gateway ? p.pool : (p.subPool ? *p.subPool : p.pool));
  if (gateway) {
    for (u128 v = lo; v <= hi; ++v) {
      if (!p.allocated.count(v)) {
        p.allocated.insert(v);
        p.gateway = make(v6, v);
        return make(v6, v).str() + suffix;
      }
      if (v == hi) break;
    }
    return Error{ENOSPC, "no free address for the gateway in pool " + p.pool.str()};
  }
  u128 start = (p.cursor >= lo && p.cursor <= hi) ? p.cursor : lo;
  u128 v = start;
  // Bounded scan: at most |allocated|+1 steps find a free address if one exists.
  for (size_t steps = 0; steps <= p.allocated.size(); ++steps) {
    if (!p.allocated.count(v)) {
      p.allocated.insert(v);
      p.cursor = (v == hi) ? lo : v + 1;
      return make(v6, v).str() + suffix;
    }
    v = (v == hi) ? lo : v + 1;
    if (v == start) break;
  }
  return Error{ENOSPC, "no free address left in " +
                           (p.subPool ? "range " + p.subPool->str() : "pool " + p.pool.str())};
}

Status Ipam::releaseAddress(const std::string& poolId, const std::string& address) {
  auto it = pools_.find(poolId);
  if (it == pools_.end()) return Error{ENOENT, "unknown PoolID \"" + poolId + "\""};
  auto a = parseAddress(address);
  if (!a.ok()) return a.error();
  AddressPool& p = it->second;
  if (!p.pool.contains(*a)) return Error{EINVAL, "address " + a->str() + " is outside pool " + p.pool.str()};
  p.allocated.erase(a->toU128());  // releasing a free address is a no-op (Docker may repeat)
  if (p.clustered && !(p.gateway && *p.gateway == *a)) {
    // Back to the book once no local pool of the subnet holds it.
    bool held = false;
    for (const auto& [id, o] : pools_)
      held |= o.clustered && o.pool == p.pool && o.allocated.count(a->toU128());
    if (auto* book = leaseBook(p.pool.str()); book && !held) book->release(*a);
  }
  if (p.gateway && *p.gateway == *a) p.gateway.reset();
  return Status::Ok();
}

Result<std::string> Ipam::requestClustered(AddressPool& p, const std::string& address, bool gateway,
                                           int64_t nowUs, uint64_t wallUs) {
  LeaseBook& book = *leaseBook(p.pool.str());
  std::optional<IpAddr> want;
  if (!address.empty()) {
    auto a = parseAddress(address);
    if (!a.ok()) return a.error();
    want = *a;
    if (!p.pool.contains(*want))
      return Error{EINVAL, "address " + want->str() + " is outside pool " + p.pool.str()};
  }
  if (gateway) {
    // Every host's sandbox has the same gateway address (like Docker's
    // overlay): kept out of every block, on every host.
    auto [lo, hi] = usableRange(p.pool);
    IpAddr gw = want ? *want : make(p.pool.addr.isV6(), lo);
    (void)hi;
    if (p.allocated.count(gw.toU128()))
      return Error{EEXIST, "address " + gw.str() + " is already allocated in pool " + p.pool.str()};
    p.allocated.insert(gw.toU128());
    p.gateway = gw;
    book.reserve(gw);
    return gw.str();
  }
  if (p.gateway) book.reserve(*p.gateway);
  if (want) {
    if (p.allocated.count(want->toU128()))
      return Error{EEXIST, "address " + want->str() + " is already allocated in pool " + p.pool.str()};
    // Two networks of this host may share a subnet (-o weft.name): their
    // pools share the book, and an address one of them holds is this host's
    // to give the other (another L2, no clash).
    if (book.holdsAddress(*want)) {
      p.allocated.insert(want->toU128());
      return want->str();
    }
    auto r = book.allocateSpecific(*want, nowUs, wallUs);
    if (!r.ok()) return r.error();
    p.allocated.insert(r->toU128());
    return r->str();
  }
  // Another local pool of the same subnet may hold an address the book
  // handed out: bounded retries, each address taken from the book for good.
  for (int tries = 0; tries < 64; ++tries) {
    auto r = book.allocate(nowUs, wallUs);
    if (!r.ok()) return r.error();
    if (p.allocated.insert(r->toU128()).second) return r->str();
  }
  return Error{ENOSPC, "no free address left in this host's blocks of " + p.pool.str()};
}

void Ipam::enableLeases(const std::string& self, const LeaseRules& rules) {
  leaseRules_ = rules;
  if (leaseSelf_ != self && !leaseSelf_.empty()) leases_.clear();  // another node id: not our leases
  leaseSelf_ = self;
  for (auto& [cidr, book] : leases_) book.setRules(rules);
}

LeaseBook* Ipam::leaseBook(const std::string& poolCidr) {
  auto it = leases_.find(poolCidr);
  return it == leases_.end() ? nullptr : &it->second;
}

int64_t Ipam::leaseRetryAtUs(const std::string& poolId) const {
  auto it = pools_.find(poolId);
  if (it == pools_.end()) return 0;
  auto b = leases_.find(it->second.pool.str());
  return b == leases_.end() ? 0 : b->second.retryAtUs();
}

void Ipam::restartLeases(int64_t nowUs) {
  for (auto& [cidr, book] : leases_) book.restart(nowUs);
}

std::optional<AddressPool> Ipam::pool(const std::string& id) const {
  auto it = pools_.find(id);
  if (it == pools_.end()) return std::nullopt;
  return it->second;
}

void Ipam::restorePool(const std::string& id, const std::optional<AddressPool>& saved) {
  if (saved)
    pools_[id] = *saved;
  else
    pools_.erase(id);
}

std::vector<PoolUsage> Ipam::usage() const {
  std::vector<PoolUsage> out;
  for (const auto& [id, p] : pools_) {
    auto [lo, hi] = usableRange(p.pool);
    out.push_back({id, p.pool.str(), p.addressSpace, static_cast<double>(hi - lo) + 1, p.allocated.size()});
  }
  return out;
}

nlohmann::json Ipam::toJson() const {
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& [id, p] : pools_) {
    nlohmann::json addrs = nlohmann::json::array();
    for (auto v : p.allocated) addrs.push_back(make(p.pool.addr.isV6(), v).str());
    nlohmann::json j = {{"id", p.id},           {"addressSpace", p.addressSpace},
                        {"pool", p.pool.str()}, {"options", p.options},
                        {"allocated", addrs},   {"cursor", make(p.pool.addr.isV6(), p.cursor).str()}};
    if (p.clustered) j["clustered"] = true;
    if (p.subPool) j["subPool"] = p.subPool->str();
    if (p.gateway) j["gateway"] = p.gateway->str();
    pools.push_back(std::move(j));
  }
  nlohmann::json out = {{"pools", pools}, {"nextPoolSeq", nextPoolSeq_}};
  if (!leases_.empty()) {
    nlohmann::json books = nlohmann::json::array();
    for (const auto& [cidr, b] : leases_) books.push_back(b.toJson());
    out["leases"] = {{"self", leaseSelf_}, {"books", books}};
  }
  return out;
}

Result<Ipam> Ipam::fromJson(const nlohmann::json& j) {
  Ipam ipam;
  try {
    ipam.nextPoolSeq_ = j.at("nextPoolSeq").get<uint64_t>();
    for (const auto& pj : j.at("pools")) {
      AddressPool p;
      p.id = pj.at("id").get<std::string>();
      p.addressSpace = pj.at("addressSpace").get<std::string>();
      auto pool = Prefix::parse(pj.at("pool").get<std::string>());
      if (!pool) return Error{EINVAL, "ipam pool " + p.id + ": bad pool"};
      p.pool = *pool;
      p.options = pj.at("options").get<std::map<std::string, std::string>>();
      if (pj.contains("subPool")) {
        auto sp = Prefix::parse(pj.at("subPool").get<std::string>());
        if (!sp) return Error{EINVAL, "ipam pool " + p.id + ": bad subPool"};
        p.subPool = *sp;
      }
      if (pj.contains("gateway")) {
        auto g = IpAddr::parse(pj.at("gateway").get<std::string>());
        if (!g) return Error{EINVAL, "ipam pool " + p.id + ": bad gateway"};
        p.gateway = *g;
      }
      for (const auto& a : pj.at("allocated")) {
        auto ip = IpAddr::parse(a.get<std::string>());
        if (!ip || !p.pool.contains(*ip))
          return Error{EINVAL, "ipam pool " + p.id + ": bad allocated address"};
        p.allocated.insert(ip->toU128());
      }
      auto c = IpAddr::parse(pj.at("cursor").get<std::string>());
      if (!c) return Error{EINVAL, "ipam pool " + p.id + ": bad cursor"};
      p.cursor = c->toU128();
      p.clustered = pj.value("clustered", false);
      ipam.pools_.emplace(p.id, std::move(p));
    }
    // Absent in state written before cluster-wide IPAM.
    if (j.contains("leases")) {
      const std::string self = j.at("leases").at("self").get<std::string>();
      for (const auto& bj : j.at("leases").at("books")) {
        // Time 0: restartLeases() sets the real start of the wait.
        auto book = LeaseBook::fromJson(self, bj, ipam.leaseRules_, 0);
        if (!book.ok()) return Error{EINVAL, "ipam state: " + book.error().message};
        ipam.leases_.emplace(book->poolId(), std::move(*book));
      }
      ipam.leaseSelf_ = self;
    }
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, std::string("ipam state: ") + e.what()};
  }
  return ipam;
}

}  // namespace weft::driver
