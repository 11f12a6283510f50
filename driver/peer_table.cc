#include "driver/peer_table.h"

#include <algorithm>
#include <cerrno>

#include "common/log.h"
#include "driver/ip.h"

namespace weft::driver {

namespace {

const char* kZeroMac = "00:00:00:00:00:00";

// "10.0.0.2/24" or "10.0.0.2" -> "10.0.0.2" (canonical spelling); "" if neither.
std::string ipOf(const std::string& cidr) {
  if (auto p = Prefix::parse(cidr)) return p->addr.str();
  if (auto a = IpAddr::parse(cidr)) return a->str();
  return "";
}

template <class K, class V>
const V* lookup(const std::map<K, V>& m, const K& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace

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
      if (const auto* x = lookup(w, k); !x || *x != v) del.emplace_back(k, v);
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

void PeerTable::touchLocked(const std::string& identity) {
  if (auto it = sandboxes_.find(identity); it != sandboxes_.end()) it->second.changed = true;
}

bool PeerTable::apply(const EndpointRecord& r, RecordState state) {
  if (!self_.empty() && r.vtep == self_) return false;  // our own, echoed back
  std::lock_guard<std::mutex> lk(mu_);
  auto& table = records_[r.network];
  const std::pair<std::string, std::string> key{r.network, r.endpoint};
  if (state == RecordState::kWithdrawn) {
    confirmed_.erase(key);
    if (!table.erase(r.endpoint)) return false;
    touchLocked(r.network);
    return true;
  }
  confirmed_[key] = session_;
  auto [it, added] = table.try_emplace(r.endpoint, r);
  if (!added && it->second == r) return false;  // nothing new
  it->second = r;
  touchLocked(r.network);
  return true;
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
      it = table.erase(it);
      touchLocked(identity);
    }
  }
  return gone;
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
  Sandbox& s = sandboxes_[identity];
  s = Sandbox{where, {}, ++generation_};
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

namespace {

// Applies `ops` to one sandbox; what succeeded is recorded in `done` as the
// change it makes to the sandbox's entries. Returns the first failure's text.
struct Applied {
  PeerOps done;
  size_t failed = 0;
  std::string firstError;
};

Applied program(kernel::Kernel& k, const PeerSandbox& at, const PeerOps& ops) {
  Applied a;
  auto check = [&](const Status& st, const std::string& what, int benign) {
    if (st.ok() || st.code() == benign) return true;
    if (a.firstError.empty()) a.firstError = what + ": " + st.error().message;
    ++a.failed;
    return false;
  };
  const std::string& ns = at.netns;
  for (const auto& [ip, mac] : ops.delNeigh)
    if (check(k.delNeigh(ns, {at.vtep, ip, mac}), "removing neighbour " + ip, ENOENT))
      a.done.delNeigh.emplace_back(ip, mac);
  for (const auto& [mac, dst] : ops.delFdb)
    if (check(k.delFdb(ns, {at.vtep, mac, dst}), "removing fdb entry " + mac, ENOENT))
      a.done.delFdb.emplace_back(mac, dst);
  for (const auto& dst : ops.delFlood)
    if (check(k.delFdb(ns, {at.vtep, kZeroMac, dst}), "removing flood entry " + dst, ENOENT))
      a.done.delFlood.push_back(dst);
  // Replace, not add: an entry this table did not make (left from before a
  // restart), an IP that moved to another MAC or a MAC that moved to another
  // VTEP is overwritten in place, one round trip each.
  for (const auto& [ip, mac] : ops.addNeigh)
    if (check(k.replaceNeigh(ns, {at.vtep, ip, mac}), "neighbour " + ip + " -> " + mac, 0))
      a.done.addNeigh.emplace_back(ip, mac);
  for (const auto& [mac, dst] : ops.addFdb)
    if (check(k.replaceFdb(ns, {at.vtep, mac, dst}), "fdb entry " + mac + " -> " + dst, 0))
      a.done.addFdb.emplace_back(mac, dst);
  for (const auto& dst : ops.addFlood)
    if (check(k.addFdb(ns, {at.vtep, kZeroMac, dst}, true), "flood entry -> " + dst, EEXIST))
      a.done.addFlood.push_back(dst);
  return a;
}

void record(PeerEntries& have, const PeerOps& done) {
  for (const auto& [ip, mac] : done.delNeigh) have.neigh.erase(ip);
  for (const auto& [mac, dst] : done.delFdb) have.fdb.erase(mac);
  for (const auto& dst : done.delFlood) have.flood.erase(dst);
  for (const auto& [ip, mac] : done.addNeigh) have.neigh[ip] = mac;
  for (const auto& [mac, dst] : done.addFdb) have.fdb[mac] = dst;
  for (const auto& dst : done.addFlood) have.flood.insert(dst);
}

}  // namespace

std::vector<PeerTable::Work> PeerTable::snapshotLocked(bool onlyDue) {
  static const std::map<std::string, EndpointRecord> kNone;
  std::vector<Work> work;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [identity, s] : sandboxes_) {
    if (onlyDue && !s.changed && !(s.failing && now >= s.retryAt)) continue;
    if (onlyDue) s.changed = false;
    const auto* recs = lookup(records_, identity);
    work.push_back({identity, s.where, s.generation, s.have, desiredEntries(recs ? *recs : kNone)});
  }
  return work;
}

PeerTable::SyncResult PeerTable::sync() {
  std::lock_guard<std::mutex> serial(syncMu_);
  std::vector<Work> work;
  {
    std::lock_guard<std::mutex> lk(mu_);
    work = snapshotLocked(true);
  }
  SyncResult result;
  for (const auto& w : work) {  // no lock held: the kernel may be slow
    Applied a = program(kernel_, w.where, diffEntries(w.have, w.want));  // (nothing to do is a success too)
    result.applied += a.done.size();
    result.failed += a.failed;
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(w.identity);
    if (it == sandboxes_.end() || it->second.generation != w.generation) continue;  // gone or rebuilt
    Sandbox& s = it->second;
    record(s.have, a.done);
    if (a.failed) {
      if (!s.failing)  // once per run of failures, not per retry
        LOG_WARN("peers", a.failed << " entr" << (a.failed == 1 ? "y" : "ies") << " in " << w.where.netns
                                   << " could not be programmed (" << a.firstError << "); retrying");
      s.backoff = s.failing ? std::min(options_.maxRetry, s.backoff * 2) : options_.firstRetry;
      s.retryAt = std::chrono::steady_clock::now() + s.backoff;
      s.failing = true;
    } else if (s.failing) {
      LOG_INFO("peers", "entries in " << w.where.netns << " programmed after retrying");
      s.failing = false;
    }
  }
  return result;
}

size_t PeerTable::pruneStale() {
  std::lock_guard<std::mutex> serial(syncMu_);
  std::vector<Work> work;
  {
    std::lock_guard<std::mutex> lk(mu_);
    work = snapshotLocked(false);
  }
  size_t removed = 0;
  for (const auto& w : work) {
    auto neigh = kernel_.listNeigh(w.where.netns, w.where.vtep);
    auto fdb = kernel_.listFdb(w.where.netns, w.where.vtep);
    if (!neigh.ok() || !fdb.ok()) continue;  // the sandbox is a matter for reconcile
    PeerEntries present;                     // wanted and there
    for (const auto& e : *neigh) {
      if (const auto* mac = lookup(w.want.neigh, ipOf(e.ip)); mac && *mac == e.mac)
        present.neigh[ipOf(e.ip)] = e.mac;
      else if (kernel_.delNeigh(w.where.netns, e).ok())
        ++removed;
    }
    for (const auto& e : *fdb) {
      bool wanted = e.mac == kZeroMac ? w.want.flood.count(e.dst) > 0 : [&] {
        const auto* dst = lookup(w.want.fdb, e.mac);
        return dst && *dst == e.dst;
      }();
      if (wanted) {
        if (e.mac == kZeroMac)
          present.flood.insert(e.dst);
        else
          present.fdb[e.mac] = e.dst;
      } else if (kernel_.delFdb(w.where.netns, e).ok()) {
        ++removed;
      }
    }
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(w.identity);
    if (it == sandboxes_.end() || it->second.generation != w.generation) continue;
    it->second.have = std::move(present);  // the kernel's word; sync() adds what is missing
    it->second.changed = true;
  }
  if (removed) LOG_INFO("peers", "removed " << removed << " stale neighbour/fdb entries");
  return removed;
}

}  // namespace weft::driver
