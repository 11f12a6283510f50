#include "driver/kernel_plane.h"

#include <algorithm>
#include <set>

#include "common/log.h"
#include "driver/crypto_select.h"
#include "driver/names.h"

namespace weft::driver {

namespace {

Error fail(const Status& st, const std::string& what) {
  return Error{st.code(), "kernel ESP backend: " + what + ": " + st.error().message};
}

}  // namespace

Result<std::unique_ptr<KernelPlane>> KernelPlane::create(kernel::Kernel& k, kernel::BridgeMulticast& bm,
                                                         KernelPlaneConfig cfg, EspPairs esp,
                                                         EspEpochSource& epochs) {
  if (cfg.port == 0) return Error{EINVAL, "kernel ESP backend: its VXLAN port must not be 0"};
  if (esp.config().selfAddr != cfg.self || esp.config().port != cfg.port)
    return Error{EINVAL, "kernel ESP backend: its ESP pairs are for " + esp.config().selfAddr + " port " +
                             std::to_string(esp.config().port) + ", not " + cfg.self + " port " +
                             std::to_string(cfg.port)};
  if (cfg.outGrace.count() < 0 || cfg.outGrace > kMaxEspOutGrace)
    return Error{EINVAL, "kernel ESP backend: the previous outbound SA's grace must be 0 to " +
                             std::to_string(kMaxEspOutGrace.count()) + " ms, got " +
                             std::to_string(cfg.outGrace.count())};
  if (auto st = esp.readLeftovers(); !st) return fail(st, "reading what an earlier run left");
  if (size_t n = esp.leftoverPeers().size())
    LOG_INFO("crypto", "kernel ESP backend: SAs/policies of " << n << " peer(s) kept from the last run");
  return std::unique_ptr<KernelPlane>(new KernelPlane(k, bm, std::move(cfg), std::move(esp), epochs));
}

Status KernelPlane::attach(const EncryptedNetwork& n) {
  std::lock_guard<std::mutex> lk(mu_);
  if (nets_.count(n.identity)) return Status::Ok();
  // Closed before the first VTEP exists, so there is never a moment in
  // which the port takes cleartext.
  if (!portClosed_) {
    if (auto st = esp_.closePort(); !st) return fail(st, "closing port " + std::to_string(cfg_.port));
    portClosed_ = true;
  }
  // Learning off: only the peer table says where a MAC is. Proxy on: ARP and
  // ND are answered from the neighbour entries, as on plain networks.
  const kernel::VxlanSpec v{.name = kKernelVtepName,
                            .vni = n.vni,
                            .port = cfg_.port,
                            .local = cfg_.self,
                            .learning = false,
                            .proxy = true,
                            .l2miss = false,
                            .l3miss = false,
                            .mtu = n.mtu,
                            .mac = ""};
  bool made = false;
  PeerEntries found;  // in an adopted VTEP
  if (Status st = k_.createVxlan(v, n.netns); st) {
    made = true;
  } else if (st.code() == EEXIST && k_.getLink(n.netns, kKernelVtepName).ok()) {
    // A restart adopts its VTEP, and what is programmed in it: entries the
    // records still ask for are not programmed again.
    auto neigh = k_.listNeigh(n.netns, kKernelVtepName);
    auto fdb = k_.listFdb(n.netns, kKernelVtepName);
    if (!neigh.ok() || !fdb.ok())
      return fail(neigh.ok() ? Status(fdb.error()) : Status(neigh.error()),
                  "reading the entries of the adopted " + std::string(kKernelVtepName));
    for (const auto& e : *neigh) found.neigh[e.ip.str()] = e.mac.str();
    for (const auto& e : *fdb) {
      if (!e.dst || (e.mac.isMulticast() && !e.mac.isZero())) continue;
      if (e.mac.isZero())
        found.flood.insert(e.dst->str());
      else
        found.fdb[e.mac.str()] = e.dst->str();
    }
  } else {
    return fail(st, "creating VTEP " + std::string(kKernelVtepName) + " (vni " + std::to_string(n.vni) + ")");
  }
  auto undo = [&] {
    if (made) (void)k_.deleteLink(n.netns, kKernelVtepName);
  };
  const std::string dev = kKernelVtepName;
  Status st = k_.setMaster(n.netns, dev, kBridgeName);
  const char* what = "enslaving it to br0";
  if (st) {
    st = bm_.setPortIsolated(n.netns, dev, true);
    what = "isolating its bridge port";
  }
  if (st) {
    st = k_.setLinkUp(n.netns, dev, true);
    what = "setting it up";
  }
  if (!st) {
    undo();
    return fail(st, dev + ": " + what);
  }
  nets_.emplace(n.identity, Net{n.netns, {}, found, found});
  return Status::Ok();
}

void KernelPlane::detach(const std::string& identity) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return;
  // The VTEP goes first: nothing is sent to the peers below once their SAs
  // may be gone. (ENOENT: the sandbox went first.)
  if (auto st = k_.deleteLink(it->second.netns, kKernelVtepName); !st.okOr(ENOENT))
    LOG_WARN("crypto", "kernel ESP backend: removing " << kKernelVtepName << " of " << identity << ": "
                                                       << st.error().message);
  nets_.erase(it);
  // The port stays closed: no cleartext on it, also with no network left.
  dropUnusedEsp();
}

bool KernelPlane::ensureEsp(const std::string& peer) {
  if (esp_.pair(peer)) return true;
  const std::set<uint32_t> in = epochs_.inEpochs(peer);
  const std::optional<uint32_t> out = in.empty() ? std::nullopt : epochs_.outEpoch(peer);
  if (!out) {
    LOG_DEBUG("crypto", "kernel ESP backend: the key epochs with " << peer << " are not known yet");
    return false;
  }
  const EspPeer p{peer, peer};
  // An outbound SA an earlier run left at this epoch is adopted (its
  // sequence numbers run on); any other is created, recorded first.
  if (!esp_.outIsLeftover(p, *out)) {
    if (usedOut_[peer].count(*out)) {
      LOG_WARN("crypto", "kernel ESP backend: no ESP with "
                             << peer << ": outbound epoch " << *out
                             << " was used with it before; waiting for a new one");
      return false;
    }
    if (auto st = epochs_.willCreateOut(peer, *out); !st) {
      LOG_WARN("crypto", "kernel ESP backend: no ESP with " << peer << ": outbound epoch " << *out << ": "
                                                            << st.error().message);
      return false;
    }
  }
  usedOut_[peer].insert(*out);
  if (auto st = esp_.addPeer(p, *out, in); !st) {
    LOG_WARN("crypto", "kernel ESP backend: no ESP with " << peer << ": " << st.error().message);
    return false;
  }
  return true;
}

void KernelPlane::setPeers(const std::string& identity, const PeerEntries& entries) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return;
  it->second.want = entries;
  syncLocked(identity, it->second);
  dropUnusedEsp();
}

void KernelPlane::syncLocked(const std::string& identity, Net& n) {
  // ESP first, entries after: a VTEP never points at a peer without SAs.
  std::map<std::string, PairBackend> byVtep;
  auto decide = [&](const std::string& vtep) {
    if (!byVtep.count(vtep)) byVtep[vtep] = ensureEsp(vtep) ? PairBackend::kKernel : PairBackend::kRefused;
  };
  for (const auto& vtep : n.want.flood) decide(vtep);
  for (const auto& [mac, vtep] : n.want.fdb) decide(vtep);
  PeerEntries want = splitEntries(n.want, byVtep).kernel;
  // Entries kept from before a restart stay (where nothing newer says
  // otherwise) while their peer's SAs are there, adopted or left over,
  // until the control plane has resynced.
  if (!(n.restored == PeerEntries{})) {
    const auto leftover = esp_.leftoverPeers();
    auto hasSas = [&](const std::string& vtep) {
      return esp_.pair(vtep) || std::find(leftover.begin(), leftover.end(), vtep) != leftover.end();
    };
    for (const auto& [ip, mac] : n.restored.neigh) want.neigh.emplace(ip, mac);
    for (const auto& [mac, vtep] : n.restored.fdb)
      if (hasSas(vtep)) want.fdb.emplace(mac, vtep);
    for (const auto& vtep : n.restored.flood)
      if (hasSas(vtep)) want.flood.insert(vtep);
  }
  const PeerOps ops = diffEntries(n.have, want);
  if (ops.size()) {
    AppliedPeerOps a = programPeerOps(k_, PeerSandbox{n.netns, kKernelVtepName}, ops);
    recordPeerOps(n.have, a.done);
    if (a.failed)  // retried by the next call (the difference is still there)
      LOG_WARN("crypto", "kernel ESP backend: " << identity << ": " << a.failed
                                                << " entries not programmed: " << a.firstError);
  }
}

void KernelPlane::pruneRestored() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [identity, n] : nets_) {
    n.restored = {};
    syncLocked(identity, n);
  }
  dropUnusedEsp();
  // SAs and policies of peers no record asked for (left from before).
  if (auto st = esp_.removeLeftovers(); !st)
    LOG_WARN("crypto", "kernel ESP backend: removing SAs left from the last run: " << st.error().message);
}

Status KernelPlane::refresh() {
  std::lock_guard<std::mutex> lk(mu_);
  Status result = Status::Ok();
  auto note = [&](const Status& st, const std::string& what) {
    if (st) return;
    LOG_WARN("crypto", "kernel ESP backend: " << what << ": " << st.error().message);
    if (result) result = fail(st, what);
  };
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& peer : esp_.peers()) {
    const EspPairs::PairState* p = esp_.pair(peer);
    // Rotation of this host's direction (the peer accepts the next epoch
    // ahead, so its inbound SA is there before the policy moves).
    if (auto out = epochs_.outEpoch(peer); out && *out != p->out) {
      const std::string what = "rotating to outbound epoch " + std::to_string(*out) + " with " + peer;
      if (usedOut_[peer].count(*out)) {
        note(Error{EEXIST, "it was used with that peer before"}, what);
      } else if (auto st = epochs_.willCreateOut(peer, *out); !st) {
        note(st, what);
      } else {
        usedOut_[peer].insert(*out);
        Status moved = esp_.setOut(peer, *out);
        note(moved, what);
        if (moved) switchedAt_[peer] = now;
      }
    }
    const std::set<uint32_t> in = epochs_.inEpochs(peer);
    std::set<uint32_t> have;
    for (const auto& [e, spi] : p->inSpi) have.insert(e);
    if (!in.empty() && in != have) note(esp_.setIn(peer, in), "inbound epochs of " + peer);
    if (p->previousOut) {
      auto at = switchedAt_.find(peer);
      if (at == switchedAt_.end() || now - at->second >= cfg_.outGrace) {
        Status dropped = esp_.dropPreviousOut(peer);
        note(dropped, "removing the previous outbound SA to " + peer);
        if (dropped) switchedAt_.erase(peer);
      }
    }
  }
  // Pending entries of peers whose epochs became known.
  for (auto& [identity, n] : nets_) syncLocked(identity, n);
  dropUnusedEsp();
  return result;
}

void KernelPlane::dropUnusedEsp() {
  std::set<std::string> used;
  for (const auto& [id, n] : nets_) {
    used.insert(n.have.flood.begin(), n.have.flood.end());
    for (const auto& [mac, vtep] : n.have.fdb) used.insert(vtep);
  }
  for (const auto& peer : esp_.peers())
    if (!used.count(peer)) {
      if (auto st = esp_.removePeer(peer); !st)
        LOG_WARN("crypto", "kernel ESP backend: removing ESP with " << peer << ": " << st.error().message);
      else
        switchedAt_.erase(peer);
    }
}

namespace {

// An address as the kernel's listing spells it ("" when it is none).
std::string canonical(const std::string& addr) {
  auto a = IpAddr::parse(addr);
  return a ? a->str() : "";
}

bool hasSpi(const std::map<uint32_t, uint32_t>& byEpoch, uint32_t spi) {
  return std::any_of(byEpoch.begin(), byEpoch.end(), [&](const auto& e) { return e.second == spi; });
}

// The counters of the pair's installed SAs in `sas` (a listing), summed.
EspTraffic trafficOf(const EspPairs::PairState& p, const std::string& self,
                     const std::vector<kernel::XfrmState>& sas) {
  const std::string peer = canonical(p.peer.addr);
  EspTraffic t;
  for (const kernel::XfrmState& sa : sas) {
    if (!sa.counters || sa.reqid != p.reqid) continue;
    const kernel::XfrmCounters& c = *sa.counters;
    if (sa.src == self && sa.dst == peer && hasSpi(p.outSpi, sa.spi)) {
      t.sealedPackets += c.packets;
      t.sealedBytes += c.bytes;
    } else if (sa.src == peer && sa.dst == self && hasSpi(p.inSpi, sa.spi)) {
      t.openedPackets += c.packets;
      t.openedBytes += c.bytes;
      t.authFailed += c.authFailed;
      t.replayed += c.replayDropped();
    }
  }
  return t;
}

}  // namespace

std::vector<EspPeerState> KernelPlane::peerStates() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<EspPeerState> out;
  if (esp_.peers().empty()) return out;
  auto sas = k_.listXfrmStates();
  if (!sas) LOG_WARN("crypto", "kernel ESP backend: listing SAs for their counters: " << sas.error().message);
  const std::string self = canonical(cfg_.self);
  for (const std::string& peer : esp_.peers()) {
    const EspPairs::PairState* p = esp_.pair(peer);
    EspPeerState s{peer, p->out, p->previousOut, {}, p->outSpi.at(p->out), std::nullopt};
    for (const auto& [e, spi] : p->inSpi) s.inEpochs.insert(e);
    if (sas) s.traffic = trafficOf(*p, self, *sas);
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<PeerEntries> KernelPlane::programmed(const std::string& identity) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return std::nullopt;
  return it->second.have;
}

std::vector<std::string> KernelPlane::espPeers() const {
  std::lock_guard<std::mutex> lk(mu_);
  return esp_.peers();
}

}  // namespace weft::driver
