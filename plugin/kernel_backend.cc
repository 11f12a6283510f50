#include "plugin/kernel_backend.h"

#include <nlohmann/json.hpp>

#include "common/log.h"

namespace weft::plugin {

Result<std::unique_ptr<KernelBackend>> KernelBackend::start(kernel::Kernel& k, const Config& cfg,
                                                            std::span<const uint8_t> key) {
  std::unique_ptr<KernelBackend> b(new KernelBackend());
  auto epochs = driver::EspEpochBook::open(
      {cfg.stateDir + "/" + driver::kEspEpochsFile, cfg.advertiseAddr, driver::EspEpochPolicy{}});
  if (!epochs.ok()) return epochs.error();
  b->epochs_ = std::move(*epochs);
  auto pairs = driver::EspPairs::create(
      k, driver::EspConfig{kEspKeyScope, cfg.advertiseAddr, cfg.advertiseAddr, cfg.espPort},
      std::vector<uint8_t>(key.begin(), key.end()));
  if (!pairs.ok()) return pairs.error();
  b->bridge_ = kernel::makeNetlinkBridgeMulticast(k);
  auto plane =
      driver::KernelPlane::create(k, *b->bridge_, driver::KernelPlaneConfig{cfg.advertiseAddr, cfg.espPort},
                                  std::move(*pairs), *b->epochs_);
  if (!plane.ok()) return plane.error();
  b->plane_ = std::move(*plane);
  LOG_INFO("crypto", "kernel ESP backend on: VXLAN on udp port "
                         << cfg.espPort << " inside ESP, key epoch " << b->epochs_->current() << " ("
                         << cfg.stateDir << "/" << driver::kEspEpochsFile << ")");
  return b;
}

void KernelBackend::refresh() {
  if (auto st = plane_->refresh(); !st) LOG_WARN("crypto", "kernel ESP backend: " << st.error().message);
}

void KernelBackend::attachTo(driver::Driver& drv) {
  drv.setKernelPlane(plane_.get(), epochs_.get(), [this] { refresh(); });
}

void KernelBackend::tick(driver::Driver& drv, unsigned tickNo, unsigned pairsEvery, uint64_t maxPackets) {
  drv.tickKernelCrypto();
  if (pairsEvery == 0 || tickNo % pairsEvery != 0) return;
  const auto want = drv.kernelPeers();
  const auto have = plane_->espPeers();
  const std::set<std::string> with(have.begin(), have.end());
  for (const auto& peer : want)
    if (!with.count(peer) && !epochs_->inEpochs(peer).empty() && epochs_->needFresh(peer))
      LOG_INFO("crypto", "kernel ESP: " << peer
                                        << " waits for this host's next key epoch (the current one was "
                                           "used with it before); rotating as soon as allowed");
  const uint32_t epoch = epochs_->current();
  if (packetRotationAskedAt_ != epoch && espPacketLimitReached(plane_->peerStates(), maxPackets)) {
    packetRotationAskedAt_ = epoch;
    LOG_INFO("crypto", "kernel ESP: an outbound SA at epoch " << epoch << " sealed " << maxPackets
                                                              << " packets; rotating");
    if (auto r = drv.rotateKernelCrypto(); !r.ok())
      LOG_WARN("crypto", "kernel ESP: rotation by packet count: " << r.error().message);
  }
  refresh();
}

bool espPacketLimitReached(const std::vector<driver::EspPeerState>& states, uint64_t limit) {
  for (const auto& s : states)
    if (!s.previousOut && s.traffic && s.traffic->sealedPackets >= limit) return true;
  return false;
}

nlohmann::json espPeersJson(const std::vector<driver::EspPeerState>& states) {
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& s : states) {
    nlohmann::json p{{"peer", s.peer},
                     {"outEpoch", s.outEpoch},
                     {"previousOut", s.previousOut ? nlohmann::json(*s.previousOut) : nlohmann::json()},
                     {"inEpochs", s.inEpochs},
                     {"outSpi", s.outSpi}};
    // The userspace backend's names (driver/userspace_plane.cc), so weftctl
    // and the metrics read one shape; absent when the SAs could not be listed.
    if (const auto& t = s.traffic) {
      p["sealedPackets"] = t->sealedPackets;
      p["sealedBytes"] = t->sealedBytes;
      p["openedPackets"] = t->openedPackets;
      p["openedBytes"] = t->openedBytes;
      p["authFailed"] = t->authFailed;
      p["replayed"] = t->replayed;
    }
    peers.push_back(std::move(p));
  }
  return peers;
}

nlohmann::json KernelBackend::status() const { return {{"peers", espPeersJson(plane_->peerStates())}}; }

}  // namespace weft::plugin
