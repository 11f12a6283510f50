#include "driver/kernel_plane.h"

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
                                                         EpochOf epochOf) {
  if (cfg.port == 0) return Error{EINVAL, "kernel ESP backend: its VXLAN port must not be 0"};
  if (esp.config().selfAddr != cfg.self || esp.config().port != cfg.port)
    return Error{EINVAL, "kernel ESP backend: its ESP pairs are for " + esp.config().selfAddr + " port " +
                             std::to_string(esp.config().port) + ", not " + cfg.self + " port " +
                             std::to_string(cfg.port)};
  if (!epochOf) return Error{EINVAL, "kernel ESP backend: no source of key epochs"};
  return std::unique_ptr<KernelPlane>(
      new KernelPlane(k, bm, std::move(cfg), std::move(esp), std::move(epochOf)));
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
  if (Status st = k_.createVxlan(v, n.netns); st) {
    made = true;
  } else if (st.code() != EEXIST || !k_.getLink(n.netns, kKernelVtepName).ok()) {
    // (EEXIST with the device in the sandbox: a restart adopts its VTEP.)
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
  nets_.emplace(n.identity, Net{n.netns, {}});
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
  const std::optional<uint32_t> epoch = epochOf_(peer);
  if (!epoch) {
    LOG_DEBUG("crypto", "kernel ESP backend: no key epoch agreed with " << peer << " yet");
    return false;
  }
  // SAs made again at an epoch they had before would restart its sequence
  // numbers under the same key (GCM nonces repeat): never within a run.
  if (usedEpochs_[peer].count(*epoch)) {
    LOG_WARN("crypto", "kernel ESP backend: no ESP with "
                           << peer << ": epoch " << *epoch
                           << " was used with it before; waiting for a new one");
    return false;
  }
  if (auto st = esp_.addPeer(EspPeer{peer, peer}, *epoch); !st) {
    LOG_WARN("crypto", "kernel ESP backend: no ESP with " << peer << ": " << st.error().message);
    return false;
  }
  usedEpochs_[peer].insert(*epoch);
  return true;
}

void KernelPlane::setPeers(const std::string& identity, const PeerEntries& entries) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = nets_.find(identity);
  if (it == nets_.end()) return;
  // ESP first, entries after: a VTEP never points at a peer without SAs.
  std::map<std::string, PairBackend> byVtep;
  auto decide = [&](const std::string& vtep) {
    if (!byVtep.count(vtep)) byVtep[vtep] = ensureEsp(vtep) ? PairBackend::kKernel : PairBackend::kRefused;
  };
  for (const auto& vtep : entries.flood) decide(vtep);
  for (const auto& [mac, vtep] : entries.fdb) decide(vtep);
  const PeerEntries want = splitEntries(entries, byVtep).kernel;
  const PeerOps ops = diffEntries(it->second.have, want);
  if (ops.size()) {
    AppliedPeerOps a = programPeerOps(k_, PeerSandbox{it->second.netns, kKernelVtepName}, ops);
    recordPeerOps(it->second.have, a.done);
    if (a.failed)  // retried by the next call (the difference is still there)
      LOG_WARN("crypto", "kernel ESP backend: " << identity << ": " << a.failed
                                                << " entries not programmed: " << a.firstError);
  }
  dropUnusedEsp();
}

void KernelPlane::dropUnusedEsp() {
  std::set<std::string> used;
  for (const auto& [id, n] : nets_) {
    used.insert(n.have.flood.begin(), n.have.flood.end());
    for (const auto& [mac, vtep] : n.have.fdb) used.insert(vtep);
  }
  for (const auto& peer : esp_.peers())
    if (!used.count(peer))
      if (auto st = esp_.removePeer(peer); !st)
        LOG_WARN("crypto", "kernel ESP backend: removing ESP with " << peer << ": " << st.error().message);
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
