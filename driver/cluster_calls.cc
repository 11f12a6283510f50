// The driver and the cluster: its joined local endpoints are published, and
// remote endpoints go to the peer table (driver/peer_table.h), which programs
// them into each local sandbox.

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

void Driver::setCluster(Cluster* cluster) {
  std::vector<EndpointRecord> mine;
  std::set<std::string> seeds;
  {
    std::lock_guard<std::mutex> lk(mu_);
    cluster_ = cluster;
    if (!cluster_) return;
    // Standalone hosts in a cluster agree on addresses through leases; in
    // swarm scope swarm's own IPAM hands them out.
    if (cfg_.scope == "local" && !cfg_.advertiseAddr.empty()) {
      ipam_.enableLeases(cfg_.advertiseAddr, cfg_.leaseRules);
      publishedLeases_.clear();  // a new cluster: tell it everything
      syncLeasesLocked();
      publishedPoolNames_.clear();
      syncPoolNamesLocked();
    }
    publishedMtus_.clear();  // likewise
    syncMtuRecordsLocked();
    capsPublished_ = false;  // a new cluster: tell it
    espPublished_ = 0;
    publishCryptoCapsLocked();
    for (const auto& [id, e] : endpoints_)
      if (e.joined) mine.push_back(localRecordLocked(e));
    seeds = swarm_.others();
  }
  for (const auto& a : seeds) cluster->addSeed(a);
  for (const auto& r : mine) cluster->publish(r);
}

EndpointRecord Driver::localRecordLocked(const Endpoint& e) const {
  const Network& n = networks_.at(e.networkId);
  return EndpointRecord{n.identity, e.id, e.address, e.addressIpv6, e.mac, cfg_.advertiseAddr};
}

void Driver::applyRemote(const EndpointRecord& r, RecordState state) {
  const auto arrived = std::chrono::steady_clock::now();
  if (PoolNames::isRecordNetwork(r.network)) {  // not an endpoint: what a host means by a pool name
    std::lock_guard<std::mutex> lk(mu_);
    applyPoolNameLocked(r, state == RecordState::kActive);
    return;
  }
  if (NetworkMtus::isRecordNetwork(r.network)) {  // not an endpoint: a host's MTU of a network
    std::lock_guard<std::mutex> lk(mu_);
    applyMtuRecordLocked(r, state == RecordState::kActive);
    return;
  }
  if (EspEpochBook::isRecord(r)) {  // not an endpoint: a host's kernel ESP key epoch
    // Kept only where the kernel backend runs (nobody else asks).
    if (!espEpochs_) return;
    bool changed = false;
    if (auto st = espEpochs_->apply(r, state == RecordState::kActive, &changed); !st) {
      LOG_WARN("crypto", "refused " << st.error().message);
      return;
    }
    if (changed && refreshKernel_) refreshKernel_();
    return;
  }
  if (CryptoCaps::isRecordNetwork(r.network)) {  // not an endpoint: what a host's crypto can do
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (auto st = cryptoCaps_.apply(r, state == RecordState::kActive, cfg_.advertiseAddr); !st) {
        LOG_WARN("crypto", "refused " << st.error().message);
        return;
      }
    }
    syncEncryptedPeers();  // the choice for that host's pairs may change
    return;
  }
  // No driver lock: the peer table has its own, and sync() programs outside it.
  if (!peers_.apply(r, state)) return;
  if (state == RecordState::kActive)
    LOG_DEBUG("peers", "remote endpoint " << r.endpoint.substr(0, 12) << " " << r.ipv4 << " " << r.mac
                                          << " at " << r.vtep << " (" << r.network << ")");
  else
    LOG_DEBUG("peers", "remote endpoint " << r.endpoint.substr(0, 12) << " of " << r.network << " gone");
  // sync() is serialized: when it returns, this change is programmed (or
  // failed), also if another caller's sync did it.
  if (syncPeers().failed) return;
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - arrived;
  std::lock_guard<std::mutex> lk(lagMu_);
  lag_.observe(took.count());
}

Histogram Driver::convergenceLag() const {
  std::lock_guard<std::mutex> lk(lagMu_);
  return lag_;
}

void Driver::beginResync() {
  peers_.beginResync();
  // A new control-plane session: claims not settled yet wait `settle` from
  // now, when the sidecar starts syncing the other hosts' claims (a claim
  // must not settle on a view the host never had).
  std::lock_guard<std::mutex> lk(mu_);
  const int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  for (auto& [cidr, book] : ipam_.leaseBooks()) book.restartPending(now);
}

size_t Driver::prunePeers() {
  // Remote endpoints the current session never confirmed: deleted while the
  // control plane was away.
  for (const auto& r : peers_.forgetUnconfirmed())
    LOG_INFO("peers", "forgetting remote endpoint " << r.endpoint.substr(0, 12) << " of " << r.network
                                                    << ": not confirmed by the cluster since the restart");
  // Entries no record accounts for (left from before a restart), and theirs.
  size_t removed = peers_.pruneStale();
  peers_.sync();
  // Encrypted networks' forwarding entries kept from before a restart, too.
  // (The kernel backend's also drops the SAs and policies an earlier run
  // left for pairs the resynced cluster no longer has.)
  EncryptedPlane *plane, *kernelPlane;
  {
    std::lock_guard<std::mutex> lk(mu_);
    plane = plane_;
    kernelPlane = kernelPlane_;
  }
  if (plane) plane->pruneRestored();
  if (kernelPlane) kernelPlane->pruneRestored();
  return removed;
}

std::vector<EndpointRecord> Driver::remoteEndpoints() const { return peers_.records(); }

std::map<std::string, uint32_t> Driver::dataPlanePeers() const {
  auto vteps = peers_.remoteVteps();  // its own lock: taken before mu_, never inside it
  std::lock_guard<std::mutex> lk(mu_);
  std::map<std::string, uint32_t> out;
  for (const auto& [id, n] : networks_) {
    if (faults_.faulted(id)) continue;  // no usable sandbox: nothing to carry
    auto it = vteps.find(n.identity);
    if (it == vteps.end()) continue;
    for (const auto& v : it->second) out[v] = std::max(out[v], n.mtu);
  }
  return out;
}

PeerTable::SyncResult Driver::syncPeers() {
  dropReclaimedRemotes();
  auto result = peers_.sync();
  syncEncryptedPeers();
  return result;
}

}  // namespace weft::driver
