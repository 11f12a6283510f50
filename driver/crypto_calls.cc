// The driver and the two backends of encrypted networks (issue 11): this
// host's capability record, the other hosts' records, and per encrypted
// network and peer the backend chosen (driver/crypto_select.h) -- each
// network's remote entries go to the plane chosen for their VTEP, those of
// a refused peer to neither.

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

void Driver::setKernelPlane(EncryptedPlane* plane) { kernelPlane_ = plane; }

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
  if (!cluster_ || cfg_.advertiseAddr.empty() || want == capsPublished_) return;
  const EndpointRecord r = CryptoCaps::record(hostCrypto(), cfg_.advertiseAddr);
  if (want)
    cluster_->publish(r);
  else
    cluster_->withdraw(r.network, r.endpoint);
  capsPublished_ = want;
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
        peers.push_back({{"host", vtep},
                         {"backend", pairBackendName(s.backend)},
                         {"why", s.why},
                         {"peerKernelEsp", caps ? nlohmann::json(caps->kernelEsp) : nlohmann::json()}});
      }
    nets.push_back({{"network", id.substr(0, 12)},
                    {"identity", n.identity},
                    {"crypto", cryptoBackendName(n.options.cryptoBackend())},
                    {"peers", peers}});
  }
  const std::string off = kernelOff();
  return {{"kernelEsp", off.empty()},
          {"kernelOff", off},
          {"userspace", plane_ != nullptr},
          {"userspaceOff", plane_ ? "" : planeOff_},
          {"networks", nets}};
}

}  // namespace weft::driver
