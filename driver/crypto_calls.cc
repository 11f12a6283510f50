// The driver and the two backends of encrypted networks (issue 11): this
// host's capability record, the other hosts' records, and per encrypted
// network and peer the backend chosen (driver/crypto_select.h) -- each
// network's remote entries go to the plane chosen for their VTEP, those of
// a refused peer to neither.

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

void Driver::setKernelPlane(EncryptedPlane* plane, EspEpochBook* epochs, std::function<void()> refresh) {
  kernelPlane_ = plane;
  espEpochs_ = epochs;
  refreshKernel_ = std::move(refresh);
}

std::string Driver::kernelOff() const {
  if (!cfg_.kernelCryptoOff.empty()) return cfg_.kernelCryptoOff;
  if (!kernelPlane_) return "the kernel ESP backend is not running in weft-plugin";
  return "";
}

HostCrypto Driver::hostCrypto() const { return HostCrypto{kernelOff().empty()}; }

void Driver::publishCryptoCapsLocked() {
  // Published while this host has an encrypted network (only hosts that
  // share one with it need it; it goes with the last one).
  bool want = false;
  for (const auto& [id, n] : networks_) want = want || n.encrypted();
  if (!cluster_ || cfg_.advertiseAddr.empty()) return;
  if (want != capsPublished_) {
    const EndpointRecord r = CryptoCaps::record(hostCrypto(), cfg_.advertiseAddr);
    if (want)
      cluster_->publish(r);
    else
      cluster_->withdraw(r.network, r.endpoint);
    capsPublished_ = want;
  }
  publishEspEpochLocked();
}

void Driver::publishEspEpochLocked() {
  if (!cluster_ || cfg_.advertiseAddr.empty()) return;
  const uint32_t epoch = capsPublished_ && espEpochs_ && kernelOff().empty() ? espEpochs_->current() : 0;
  if (epoch == espPublished_) return;
  if (epoch)
    cluster_->publish(EspEpochBook::recordFor(epoch, cfg_.advertiseAddr));
  else
    cluster_->withdraw(kCryptoCapsNetwork,
                       EspEpochBook::recordFor(espPublished_, cfg_.advertiseAddr).endpoint);
  espPublished_ = epoch;
}

void Driver::tickKernelCrypto() {
  if (!espEpochs_) return;
  const EspEpochBook::Tick t = espEpochs_->tick();
  if (!t.error.empty()) LOG_ERROR("crypto", t.error);
  if (t.rotated) {
    LOG_INFO("crypto", "kernel ESP: this host's key epoch is now " << espEpochs_->current());
    std::lock_guard<std::mutex> lk(mu_);
    publishEspEpochLocked();
  }
  // Published before the plane moves its outbound SAs: the peers accept
  // current + 1 already, so the order only matters for what they show.
  if (t.changed && refreshKernel_) refreshKernel_();
}

Result<nlohmann::json> Driver::rotateKernelCrypto() {
  if (!espEpochs_ || !kernelOff().empty())
    return Error{ENOTSUP, "the kernel ESP backend is off: " + kernelOff()};
  auto r = espEpochs_->rotate();
  if (!r.ok()) return r.error();
  if (r->rotated) {
    LOG_INFO("crypto", "kernel ESP: key rotation on request, this host's epoch is now " << r->epoch);
    {
      std::lock_guard<std::mutex> lk(mu_);
      publishEspEpochLocked();
    }
    if (refreshKernel_) refreshKernel_();
  } else {
    LOG_INFO("crypto", "kernel ESP: key rotation on request in "
                           << r->wait.count() << " s (the minimum interval since the last)");
  }
  return nlohmann::json{{"rotated", r->rotated}, {"epoch", r->epoch}, {"waitSeconds", r->wait.count()}};
}

void Driver::syncEncryptedPeers() {
  struct Net {
    std::string identity;
    CryptoBackend wanted;
  };
  std::vector<Net> nets;
  {
    std::lock_guard<std::mutex> lk(mu_);
    publishCryptoCapsLocked();
    for (const auto& [id, n] : networks_)
      if (n.encrypted() && !faults_.faulted(id)) nets.push_back({n.identity, n.options.cryptoBackend()});
  }
  if (nets.empty() || (!plane_ && !kernelPlane_)) return;
  std::map<std::string, std::map<std::string, EndpointRecord>> byNetwork;
  for (auto& r : peers_.records()) byNetwork[r.network].emplace(r.endpoint, std::move(r));
  const LocalCrypto self{kernelOff(), plane_ ? "" : planeOff_};
  for (const auto& n : nets) {
    const PeerEntries all = desiredEntries(byNetwork[n.identity]);
    std::map<std::string, PairSelection> chosen;
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (const auto& vtep : all.flood)
        chosen[vtep] = selectPairBackend(n.wanted, self, vtep, cryptoCaps_.of(vtep));
      auto& before = selections_[n.identity];
      for (const auto& [vtep, s] : chosen) {
        auto it = before.find(vtep);
        if (it != before.end() && it->second == s) continue;
        if (s.backend == PairBackend::kRefused)
          LOG_WARN("crypto", n.identity << ": nothing is sent to or accepted from " << vtep << ": " << s.why);
        else
          LOG_INFO("crypto", n.identity << ": " << pairBackendName(s.backend) << " backend for " << vtep
                                        << " (" << s.why << ")");
      }
      before = chosen;
    }
    std::map<std::string, PairBackend> byVtep;
    for (const auto& [vtep, s] : chosen) byVtep[vtep] = s.backend;
    SplitEntries split = splitEntries(all, byVtep);
    // Kernel first: a peer moving from userspace to kernel gets its SAs and
    // FDB entries before the TAP side lets go (and the other way round the
    // userspace side has its session before the kernel side drops the
    // pair); the bridge never forwards between the two ports (isolated).
    // Only the planes the network is attached to (attachEncryptedLocked).
    if (kernelPlane_ && self.kernelOff.empty() && n.wanted != CryptoBackend::kUserspace)
      kernelPlane_->setPeers(n.identity, split.kernel);
    if (plane_ && n.wanted != CryptoBackend::kKernel) plane_->setPeers(n.identity, split.userspace);
  }
}

std::set<std::string> Driver::kernelPeers() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::set<std::string> out;
  for (const auto& [identity, byVtep] : selections_)
    for (const auto& [vtep, s] : byVtep)
      if (s.backend == PairBackend::kKernel) out.insert(vtep);
  return out;
}

nlohmann::json Driver::cryptoSelection() const {
  std::lock_guard<std::mutex> lk(mu_);
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& [id, n] : networks_) {
    if (!n.encrypted()) continue;
    nlohmann::json peers = nlohmann::json::array();
    auto it = selections_.find(n.identity);
    if (it != selections_.end())
      for (const auto& [vtep, s] : it->second) {
        auto caps = cryptoCaps_.of(vtep);
        nlohmann::json p = {{"host", vtep},
                            {"backend", pairBackendName(s.backend)},
                            {"why", s.why},
                            {"peerKernelEsp", caps ? nlohmann::json(caps->kernelEsp) : nlohmann::json()}};
        // A kernel pair's epochs: the peer's that its inbound SAs are at
        // (empty: its epoch record has not arrived, so it gets no entries).
        if (s.backend == PairBackend::kKernel && espEpochs_) p["inEpochs"] = espEpochs_->inEpochs(vtep);
        peers.push_back(std::move(p));
      }
    nets.push_back({{"network", id.substr(0, 12)},
                    {"identity", n.identity},
                    {"crypto", cryptoBackendName(n.options.cryptoBackend())},
                    {"peers", peers}});
  }
  const std::string off = kernelOff();
  nlohmann::json epochs;  // null without the kernel backend
  if (espEpochs_ && off.empty()) epochs = espEpochs_->status();
  return {{"kernelEsp", off.empty()},
          {"kernelEpochs", epochs},
          {"kernelOff", off},
          {"userspace", plane_ != nullptr},
          {"userspaceOff", plane_ ? "" : planeOff_},
          {"networks", nets}};
}

}  // namespace weft::driver
