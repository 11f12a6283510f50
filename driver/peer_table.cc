#include "driver/peer_table.h"

#include <algorithm>
#include <cerrno>

#include "common/ip.h"
#include "common/log.h"
#include "driver/peer_entry_util.h"

namespace weft::driver {

using namespace peer_detail;

// ---------------------------------------------------------------- rules

PeerEntries desiredEntries(const std::map<std::string, EndpointRecord>& records) {
  PeerEntries want;
  for (const auto& [id, r] : records) {  // ascending ids: the greater one is written last
    for (const auto* cidr : {&r.ipv4, &r.ipv6})
      if (auto ip = ipOf(*cidr); !ip.empty()) want.neigh[ip] = r.mac;
    want.fdb[r.mac] = r.vtep;
    want.flood.insert(r.vtep);
  }
  return want;
}

size_t PeerOps::size() const {
  return delNeigh.size() + addNeigh.size() + delFdb.size() + addFdb.size() + delFlood.size() +
         addFlood.size();
}

PeerOps diffEntries(const PeerEntries& have, const PeerEntries& want) {
  PeerOps ops;
  auto diffMap = [](const std::map<std::string, std::string>& h, const std::map<std::string, std::string>& w,
                    auto& del, auto& add) {
    for (const auto& [k, v] : h)
      if (!w.count(k)) del.emplace_back(k, v);
    for (const auto& [k, v] : w)
      if (const auto* x = lookup(h, k); !x || *x != v) add.emplace_back(k, v);
  };
  diffMap(have.neigh, want.neigh, ops.delNeigh, ops.addNeigh);
  diffMap(have.fdb, want.fdb, ops.delFdb, ops.addFdb);
  std::set_difference(have.flood.begin(), have.flood.end(), want.flood.begin(), want.flood.end(),
                      std::back_inserter(ops.delFlood));
  std::set_difference(want.flood.begin(), want.flood.end(), have.flood.begin(), have.flood.end(),
                      std::back_inserter(ops.addFlood));
  return ops;
}

// ---------------------------------------------------------------- records

PeerTable::PeerTable(kernel::Kernel& kernel, std::string selfVtep, Options options)
    : kernel_(kernel), self_(std::move(selfVtep)), options_(options) {}

namespace {
std::vector<std::string> ipsOf(const EndpointRecord& r) {
  std::vector<std::string> v;
  for (const auto* cidr : {&r.ipv4, &r.ipv6})
    if (auto ip = ipOf(*cidr); !ip.empty()) v.push_back(ip);
  return v;
}
}  // namespace

void PeerTable::claimLocked(const EndpointRecord& r, Claim how) {
  const bool add = how == Claim::kAdd;
  Claims& c = claims_[r.network];
  auto claim = [&](auto& byKey, const std::string& key, const std::string& value) {
    auto& who = byKey[key];
    if (add)
      who[r.endpoint] = value;
    else if (who.erase(r.endpoint) && who.empty())
      byKey.erase(key);
  };
  const auto ips = ipsOf(r);
  for (const auto& ip : ips) claim(c.ips, ip, r.mac);
  claim(c.macs, r.mac, r.vtep);
  if (add)
    ++c.vteps[r.vtep];
  else if (--c.vteps[r.vtep] <= 0)
    c.vteps.erase(r.vtep);
  if (auto it = sandboxes_.find(r.network); it != sandboxes_.end()) {
    Sandbox& s = it->second;
    s.changed = true;
    s.dirty.ips.insert(ips.begin(), ips.end());
    s.dirty.macs.insert(r.mac);
    s.dirty.vteps.insert(r.vtep);
  }
}

bool PeerTable::apply(const EndpointRecord& r, RecordState state) {
  if (!self_.empty() && r.vtep == self_) return false;  // our own, echoed back
  std::lock_guard<std::mutex> lk(mu_);
  if (!sameFamilyAsSelfLocked(r)) return false;
  auto& table = records_[r.network];
  const std::pair<std::string, std::string> key{r.network, r.endpoint};
  auto it = table.find(r.endpoint);
  if (state == RecordState::kWithdrawn) {
    confirmed_.erase(key);
    if (it == table.end()) return false;
    claimLocked(it->second, Claim::kRemove);
    table.erase(it);
    return true;
  }
  confirmed_[key] = session_;
  if (it != table.end()) {
    if (it->second == r) return false;  // nothing new
    claimLocked(it->second, Claim::kRemove);
    it->second = r;
  } else {
    table.emplace(r.endpoint, r);
  }
  claimLocked(r, Claim::kAdd);
  return true;
}

bool PeerTable::sameFamilyAsSelfLocked(const EndpointRecord& r) {
  // One underlay family per cluster: this host's VTEPs send over the family
  // of ADVERTISE_ADDR only (the kernel refuses an FDB destination of the
  // other), so a peer of the other family is refused here, by name, once.
  auto self = IpAddr::parse(self_);
  auto peer = IpAddr::parse(r.vtep);
  if (!self || !peer || self->isV6() == peer->isV6()) return true;
  if (refusedVteps_.insert(r.vtep).second)
    LOG_ERROR("peers", "host " << r.vtep << " (endpoint " << r.endpoint.substr(0, 12) << " on " << r.network
                               << ") has an " << (peer->isV6() ? "IPv6" : "IPv4")
                               << " underlay address but this host's ADVERTISE_ADDR " << self_ << " is "
                               << (self->isV6() ? "IPv6" : "IPv4")
                               << ": weft does not mix underlay families in one cluster; its endpoints are "
                                  "not reachable from here");
  return false;
}

std::set<std::string> PeerTable::refusedVteps() const {
  std::lock_guard<std::mutex> lk(mu_);
  return refusedVteps_;
}

void PeerTable::beginResync() {
  std::lock_guard<std::mutex> lk(mu_);
  ++session_;
}

std::vector<EndpointRecord> PeerTable::forgetUnconfirmed() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<EndpointRecord> gone;
  for (auto& [identity, table] : records_) {
    for (auto it = table.begin(); it != table.end();) {
      auto c = confirmed_.find({identity, it->first});
      if (c != confirmed_.end() && c->second == session_) {
        ++it;
        continue;
      }
      if (c != confirmed_.end()) confirmed_.erase(c);
      gone.push_back(it->second);
      claimLocked(it->second, Claim::kRemove);
      it = table.erase(it);
    }
  }
  return gone;
}

std::map<std::string, std::set<std::string>> PeerTable::remoteVteps() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [identity, c] : claims_)
    for (const auto& [vtep, count] : c.vteps)
      if (count > 0) out[identity].insert(vtep);
  return out;
}

std::vector<EndpointRecord> PeerTable::records() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<EndpointRecord> v;
  for (const auto& [identity, table] : records_)
    for (const auto& [id, r] : table) v.push_back(r);
  return v;
}

// ---------------------------------------------------------------- sandboxes

void PeerTable::attach(const std::string& identity, const PeerSandbox& where) {
  std::lock_guard<std::mutex> lk(mu_);
  Sandbox fresh;  // nothing known to be programmed; everything to diff
  fresh.where = where;
  fresh.generation = ++generation_;
  sandboxes_[identity] = std::move(fresh);
}

void PeerTable::detach(const std::string& identity) {
  std::lock_guard<std::mutex> lk(mu_);
  sandboxes_.erase(identity);
}

size_t PeerTable::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  size_t n = 0;
  static const std::map<std::string, EndpointRecord> kNone;
  for (const auto& [identity, s] : sandboxes_) {
    const auto* recs = lookup(records_, identity);
    n += diffEntries(s.have, desiredEntries(recs ? *recs : kNone)).size();
  }
  return n;
}

// ---------------------------------------------------------------- programming

AppliedPeerOps programPeerOps(kernel::Kernel& k, const PeerSandbox& at, const PeerOps& ops) {
  AppliedPeerOps a;
  auto check = [&](const Status& st, const std::string& what, int benign) {
    if (st.ok() || st.code() == benign) return true;
    if (a.firstError.empty()) a.firstError = what + ": " + st.error().message;
    ++a.failed;
    return false;
  };
  const std::string& ns = at.netns;
  auto delNeigh = [&](const auto& e) { return k.delNeigh(ns, e); };
  auto delFdb = [&](const auto& e) { return k.delFdb(ns, e); };
  for (const auto& [ip, mac] : ops.delNeigh)
    if (check(with(neighEntry(at.vtep, ip, mac), delNeigh), "removing neighbour " + ip, ENOENT))
      a.done.delNeigh.emplace_back(ip, mac);
  for (const auto& [mac, dst] : ops.delFdb)
    if (check(with(fdbEntry(at.vtep, mac, dst), delFdb), "removing fdb entry " + mac, ENOENT))
      a.done.delFdb.emplace_back(mac, dst);
  for (const auto& dst : ops.delFlood)
    if (check(with(fdbEntry(at.vtep, kZeroMac, dst), delFdb), "removing flood entry " + dst, ENOENT))
      a.done.delFlood.push_back(dst);
  // Replace, not add: an entry this table did not make (left from before a
  // restart), an IP that moved to another MAC or a MAC that moved to another
  // VTEP is overwritten in place, one round trip each.
  auto replaceNeigh = [&](const auto& e) { return k.replaceNeigh(ns, e); };
  auto replaceFdb = [&](const auto& e) { return k.replaceFdb(ns, e); };
  auto appendFlood = [&](const auto& e) { return k.addFdb(ns, e, kernel::FdbAdd::kAppend); };
  for (const auto& [ip, mac] : ops.addNeigh)
    if (check(with(neighEntry(at.vtep, ip, mac), replaceNeigh), "neighbour " + ip + " -> " + mac, 0))
      a.done.addNeigh.emplace_back(ip, mac);
  for (const auto& [mac, dst] : ops.addFdb)
    if (check(with(fdbEntry(at.vtep, mac, dst), replaceFdb), "fdb entry " + mac + " -> " + dst, 0))
      a.done.addFdb.emplace_back(mac, dst);
  for (const auto& dst : ops.addFlood)
    if (check(with(fdbEntry(at.vtep, kZeroMac, dst), appendFlood), "flood entry -> " + dst, EEXIST))
      a.done.addFlood.push_back(dst);
  return a;
}

void recordPeerOps(PeerEntries& have, const PeerOps& done) {
  for (const auto& [ip, mac] : done.delNeigh) have.neigh.erase(ip);
  for (const auto& [mac, dst] : done.delFdb) have.fdb.erase(mac);
  for (const auto& dst : done.delFlood) have.flood.erase(dst);
  for (const auto& [ip, mac] : done.addNeigh) have.neigh[ip] = mac;
  for (const auto& [mac, dst] : done.addFdb) have.fdb[mac] = dst;
  for (const auto& dst : done.addFlood) have.flood.insert(dst);
}

PeerOps PeerTable::dirtyOpsLocked(const std::string& identity, Sandbox& s) {
  PeerOps ops;
  const Claims* c = lookup(claims_, identity);
  // The value the greatest endpoint id claims (desiredEntries' rule), if any.
  auto wanted = [](const std::map<std::string, std::map<std::string, std::string>>* byKey,
                   const std::string& key) -> const std::string* {
    const auto* who = byKey ? lookup(*byKey, key) : nullptr;
    return who && !who->empty() ? &who->rbegin()->second : nullptr;
  };
  auto diffKeys = [](const std::set<std::string>& keys, auto want,
                     const std::map<std::string, std::string>& have, auto& del, auto& add) {
    for (const auto& k : keys) {
      const std::string* w = want(k);
      const std::string* h = lookup(have, k);
      if (w && (!h || *h != *w))
        add.emplace_back(k, *w);
      else if (!w && h)
        del.emplace_back(k, *h);
    }
  };
  diffKeys(
      s.dirty.ips, [&](const std::string& k) { return wanted(c ? &c->ips : nullptr, k); }, s.have.neigh,
      ops.delNeigh, ops.addNeigh);
  diffKeys(
      s.dirty.macs, [&](const std::string& k) { return wanted(c ? &c->macs : nullptr, k); }, s.have.fdb,
      ops.delFdb, ops.addFdb);
  for (const auto& v : s.dirty.vteps) {
    bool w = c && c->vteps.count(v), h = s.have.flood.count(v);
    if (w && !h) ops.addFlood.push_back(v);
    if (!w && h) ops.delFlood.push_back(v);
  }
  s.dirty = {};
  return ops;
}

std::vector<PeerTable::Work> PeerTable::dueWorkLocked() {
  static const std::map<std::string, EndpointRecord> kNone;
  std::vector<Work> work;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [identity, s] : sandboxes_) {
    if (!s.changed && !(s.failing && now >= s.retryAt)) continue;
    s.changed = false;
    PeerOps ops;
    if (s.full) {
      const auto* recs = lookup(records_, identity);
      ops = diffEntries(s.have, desiredEntries(recs ? *recs : kNone));
      s.full = false;
      s.dirty = {};
    } else {
      ops = dirtyOpsLocked(identity, s);
    }
    work.push_back({identity, s.where, s.generation, std::move(ops)});
  }
  return work;
}

PeerTable::SyncResult PeerTable::sync() {
  std::lock_guard<std::mutex> serial(syncMu_);
  std::vector<Work> work;
  {
    std::lock_guard<std::mutex> lk(mu_);
    work = dueWorkLocked();
  }
  SyncResult result;
  for (const auto& w : work) {                                   // no lock held: the kernel may be slow
    AppliedPeerOps a = programPeerOps(kernel_, w.where, w.ops);  // (nothing to do is a success too)
    result.applied += a.done.size();
    result.failed += a.failed;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(w.identity);
    if (it == sandboxes_.end() || it->second.generation != w.generation) continue;  // gone or rebuilt
    Sandbox& s = it->second;
    recordPeerOps(s.have, a.done);
    if (s.failing) ++result.retries;
    if (a.failed) {
      if (!s.failing)  // once per run of failures, not per retry
        LOG_WARN("peers", a.failed << " entr" << (a.failed == 1 ? "y" : "ies") << " in " << w.where.netns
                                   << " could not be programmed (" << a.firstError << "); retrying");
      s.backoff = s.failing ? std::min(options_.maxRetry, s.backoff * 2) : options_.firstRetry;
      s.retryAt = std::chrono::steady_clock::now() + s.backoff;
      s.failing = true;
      s.full = true;  // the retry looks at every key
    } else if (s.failing) {
      LOG_INFO("peers", "entries in " << w.where.netns << " programmed after retrying");
      s.failing = false;
    }
  }
  std::lock_guard<std::mutex> lk(mu_);
  totals_.applied += result.applied;
  totals_.failed += result.failed;
  totals_.retries += result.retries;
  return result;
}

PeerTable::SyncResult PeerTable::totals() const {
  std::lock_guard<std::mutex> lk(mu_);
  return totals_;
}

bool PeerTable::synced() const {
  std::lock_guard<std::mutex> lk(mu_);
  return synced_;
}

size_t PeerTable::pruneStale() {
  std::lock_guard<std::mutex> serial(syncMu_);
  struct Prune {
    std::string identity;
    PeerSandbox where;
    uint64_t generation;
    PeerEntries want;
  };
  std::vector<Prune> work;
  {
    static const std::map<std::string, EndpointRecord> kNone;
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [identity, s] : sandboxes_) {
      const auto* recs = lookup(records_, identity);
      work.push_back({identity, s.where, s.generation, desiredEntries(recs ? *recs : kNone)});
    }
  }
  size_t removed = 0;
  for (const auto& w : work) {
    auto neigh = kernel_.listNeigh(w.where.netns, w.where.vtep);
    auto fdb = kernel_.listFdb(w.where.netns, w.where.vtep);
    if (!neigh.ok() || !fdb.ok()) continue;  // the sandbox is a matter for reconcile
    PeerEntries present;                     // wanted and there
    for (const auto& e : *neigh) {
      const std::string ip = e.ip.str(), mac = e.mac.str();
      if (const auto* want = lookup(w.want.neigh, ip); want && *want == mac)
        present.neigh[ip] = mac;
      else if (kernel_.delNeigh(w.where.netns, e).ok())
        ++removed;
    }
    for (const auto& e : *fdb) {
      if (!e.dst) continue;               // listing always names the destination
      if (e.mac.isMulticast()) continue;  // group MACs: multicast pruning's (driver/mcast_pruner.h)
      const std::string mac = e.mac.str(), dst = e.dst->str();
      const bool flood = e.mac.isZero();
      bool wanted = flood ? w.want.flood.count(dst) > 0 : [&] {
        const auto* want = lookup(w.want.fdb, mac);
        return want && *want == dst;
      }();
      if (wanted) {
        if (flood)
          present.flood.insert(dst);
        else
          present.fdb[mac] = dst;
      } else if (kernel_.delFdb(w.where.netns, e).ok()) {
        ++removed;
      }
    }
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(w.identity);
    if (it == sandboxes_.end() || it->second.generation != w.generation) continue;
    it->second.have = std::move(present);  // the kernel's word; sync() adds what is missing
    it->second.changed = true;
    it->second.full = true;
  }
  if (removed) LOG_INFO("peers", "removed " << removed << " stale neighbour/fdb entries");
  std::lock_guard<std::mutex> lk(mu_);
  synced_ = true;
  return removed;
}

}  // namespace weft::driver
