// Run-time self-healing of remote endpoints' kernel entries: what the kernel
// holds on a sandbox's VTEP is compared with what the table wants and has
// programmed, and put back (see PeerTable::heal).
#include <cerrno>

#include "common/log.h"
#include "driver/peer_entry_util.h"
#include "driver/peer_table.h"

namespace weft::driver {

using namespace peer_detail;

namespace {

// What the kernel holds on one VTEP, by key. A unicast MAC may (if someone
// appended by hand) have several destinations.
struct KernelEntries {
  std::map<std::string, std::string> neigh;          // IP -> MAC
  std::map<std::string, std::set<std::string>> fdb;  // MAC -> VTEPs
  std::set<std::string> flood;                       // VTEPs of the all-zero MAC
};

// One kernel operation of a heal and the fix it stands for.
struct HealOp {
  enum Kind { kReplaceNeigh, kDelNeigh, kReplaceFdb, kDelFdb, kAppendFlood, kDelFlood } kind;
  std::string key, value;  // IP/MAC/VTEP, MAC/VTEP/""
  const char* table;
  const char* action;
};

std::vector<HealOp> healOps(const KernelEntries& k, const PeerEntries& want, const PeerEntries& have,
                            bool mayRemove) {
  std::vector<HealOp> ops;
  // Neighbours and FDB entries share the rules: a settled key (programmed
  // as wanted) must be in the kernel as wanted; an unprogrammed wanted key
  // that the kernel holds with another value is replaced (and one it holds
  // as wanted adopted, by the caller); a key nobody wants and weft did not
  // program is removed.
  for (const auto& [ip, mac] : want.neigh) {
    const std::string* h = lookup(have.neigh, ip);
    const std::string* got = lookup(k.neigh, ip);
    if (h && *h == mac) {
      if (!got)
        ops.push_back({HealOp::kReplaceNeigh, ip, mac, "neigh", "added"});
      else if (*got != mac)
        ops.push_back({HealOp::kReplaceNeigh, ip, mac, "neigh", "replaced"});
    } else if (!h && got && *got != mac) {
      ops.push_back({HealOp::kReplaceNeigh, ip, mac, "neigh", "replaced"});
    }
  }
  for (const auto& [ip, mac] : k.neigh)
    if (mayRemove && !want.neigh.count(ip) && !have.neigh.count(ip))
      ops.push_back({HealOp::kDelNeigh, ip, mac, "neigh", "removed"});
  for (const auto& [mac, dst] : want.fdb) {
    const std::string* h = lookup(have.fdb, mac);
    const std::set<std::string>* got = lookup(k.fdb, mac);
    const bool right = got && got->size() == 1 && *got->begin() == dst;
    if (h && *h == dst) {
      if (!got)
        ops.push_back({HealOp::kReplaceFdb, mac, dst, "fdb", "added"});
      else if (!right)
        ops.push_back({HealOp::kReplaceFdb, mac, dst, "fdb", "replaced"});
    } else if (!h && got && !right) {
      ops.push_back({HealOp::kReplaceFdb, mac, dst, "fdb", "replaced"});
    }
  }
  for (const auto& [mac, dsts] : k.fdb)
    if (mayRemove && !want.fdb.count(mac) && !have.fdb.count(mac))
      for (const auto& dst : dsts) ops.push_back({HealOp::kDelFdb, mac, dst, "fdb", "removed"});
  for (const auto& dst : want.flood)
    if (have.flood.count(dst) && !k.flood.count(dst))
      ops.push_back({HealOp::kAppendFlood, dst, "", "flood", "added"});
  for (const auto& dst : k.flood)
    if (mayRemove && !want.flood.count(dst) && !have.flood.count(dst))
      ops.push_back({HealOp::kDelFlood, dst, "", "flood", "removed"});
  return ops;
}

Status applyHeal(kernel::Kernel& k, const PeerSandbox& at, const HealOp& op) {
  const std::string& ns = at.netns;
  switch (op.kind) {
    case HealOp::kReplaceNeigh:
      return with(neighEntry(at.vtep, op.key, op.value),
                  [&](const auto& e) { return k.replaceNeigh(ns, e); });
    case HealOp::kDelNeigh:
      return with(neighEntry(at.vtep, op.key, op.value), [&](const auto& e) { return k.delNeigh(ns, e); });
    case HealOp::kReplaceFdb: {
      // A MAC someone gave extra destinations: those go first (replace
      // rewrites one entry of the MAC only).
      auto all = fdbEntry(at.vtep, op.key, op.value);
      if (!all) return all.error();
      auto e = *all;
      e.dst.reset();
      if (auto st = k.delFdb(ns, e); !st.okOr(ENOENT)) return st;
      return k.replaceFdb(ns, *all);
    }
    case HealOp::kDelFdb:
      return with(fdbEntry(at.vtep, op.key, op.value), [&](const auto& e) { return k.delFdb(ns, e); });
    case HealOp::kAppendFlood:
      return with(fdbEntry(at.vtep, kZeroMac, op.key),
                  [&](const auto& e) { return k.addFdb(ns, e, kernel::FdbAdd::kAppend); });
    case HealOp::kDelFlood:
      return with(fdbEntry(at.vtep, kZeroMac, op.key), [&](const auto& e) { return k.delFdb(ns, e); });
  }
  return Error{EINVAL, "unknown heal operation"};
}

std::string describe(const HealOp& op) {
  const std::string gone = " (deleted behind weft's back)";
  switch (op.kind) {
    case HealOp::kReplaceNeigh:
      return std::string(op.action == std::string("added") ? "put back" : "corrected") + " neighbour " +
             op.key + " -> " + op.value + (op.action == std::string("added") ? gone : "");
    case HealOp::kDelNeigh:
      return "removed neighbour " + op.key + " -> " + op.value + " that no endpoint accounts for";
    case HealOp::kReplaceFdb:
      return std::string(op.action == std::string("added") ? "put back" : "corrected") + " fdb entry " +
             op.key + " -> " + op.value + (op.action == std::string("added") ? gone : "");
    case HealOp::kDelFdb:
      return "removed fdb entry " + op.key + " -> " + op.value + " that no endpoint accounts for";
    case HealOp::kAppendFlood:
      return "put back flood entry -> " + op.key + gone;
    case HealOp::kDelFlood:
      return "removed flood entry -> " + op.key + " that no remote host accounts for";
  }
  return "";
}

}  // namespace

std::vector<PeerTable::Fix> PeerTable::heal(const std::vector<std::string>& identities) {
  std::lock_guard<std::mutex> serial(syncMu_);  // never beside sync(): `have` is settled
  struct Look {
    std::string identity;
    PeerSandbox where;
    uint64_t generation;
    PeerEntries want, have;
  };
  std::vector<Look> looks;
  bool mayRemove = false;
  {
    static const std::map<std::string, EndpointRecord> kNone;
    std::lock_guard<std::mutex> lk(mu_);
    mayRemove = synced_;
    for (const auto& id : identities) {
      auto it = sandboxes_.find(id);
      if (it == sandboxes_.end()) continue;  // not attached: nothing programmed there
      const auto* recs = lookup(records_, id);
      looks.push_back({id, it->second.where, it->second.generation, desiredEntries(recs ? *recs : kNone),
                       it->second.have});
    }
  }
  std::vector<Fix> fixes;
  for (auto& l : looks) {
    auto neigh = kernel_.listNeigh(l.where.netns, l.where.vtep);
    auto fdb = kernel_.listFdb(l.where.netns, l.where.vtep);
    if (!neigh.ok() || !fdb.ok()) continue;
    KernelEntries k;
    for (const auto& e : *neigh) k.neigh[e.ip.str()] = e.mac.str();
    for (const auto& e : *fdb) {
      // Group MACs (01:00:5e, 33:33) are multicast pruning's, which keeps
      // them right itself (driver/mcast_pruner.h): wanted, not strays.
      if (!e.dst || e.mac.isMulticast()) continue;
      if (e.mac.isZero())
        k.flood.insert(e.dst->str());
      else
        k.fdb[e.mac.str()].insert(e.dst->str());
    }
    // What is in the kernel as wanted but not yet recorded as programmed
    // (an adopted entry) is recorded now; sync() has nothing left to do for it.
    PeerEntries adopted;
    for (const auto& [ip, mac] : l.want.neigh)
      if (const auto* got = lookup(k.neigh, ip); got && *got == mac && !l.have.neigh.count(ip))
        adopted.neigh[ip] = mac;
    for (const auto& [mac, dst] : l.want.fdb)
      if (const auto* got = lookup(k.fdb, mac);
          got && got->size() == 1 && *got->begin() == dst && !l.have.fdb.count(mac))
        adopted.fdb[mac] = dst;
    for (const auto& dst : l.want.flood)
      if (k.flood.count(dst) && !l.have.flood.count(dst)) adopted.flood.insert(dst);
    std::vector<HealOp> done;
    for (const auto& op : healOps(k, l.want, l.have, mayRemove)) {
      if (auto st = applyHeal(kernel_, l.where, op); !st) {
        LOG_WARN("reconcile", "could not repair " << op.table << " entry " << op.key << " in "
                                                  << l.where.netns << ": " << st.error().message
                                                  << "; trying again later");
        continue;
      }
      done.push_back(op);
      fixes.push_back({l.identity, op.table, op.action, describe(op)});
    }
    std::lock_guard<std::mutex> lk(mu_);
    auto it = sandboxes_.find(l.identity);
    if (it == sandboxes_.end() || it->second.generation != l.generation) continue;  // rebuilt meanwhile
    PeerEntries& have = it->second.have;
    for (const auto& [ip, mac] : adopted.neigh) have.neigh[ip] = mac;
    for (const auto& [mac, dst] : adopted.fdb) have.fdb[mac] = dst;
    have.flood.insert(adopted.flood.begin(), adopted.flood.end());
    for (const auto& op : done)  // a replaced unprogrammed key now holds what is wanted
      if (op.kind == HealOp::kReplaceNeigh)
        have.neigh[op.key] = op.value;
      else if (op.kind == HealOp::kReplaceFdb)
        have.fdb[op.key] = op.value;
  }
  return fixes;
}

}  // namespace weft::driver
