#pragma once
// weft-plugin's kernel ESP backend of encrypted networks (issue 11): its key
// epochs (driver/esp_epochs.h), ESP pairs (driver/esp_pairs.h) and plane
// (driver/kernel_plane.h), started when this host can run it, handed to the
// driver, and its periodic work.

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/driver.h"
#include "driver/esp_epochs.h"
#include "driver/kernel_plane.h"
#include "kernel/bridge_mcast.h"
#include "kernel/kernel.h"
#include "plugin/config.h"

namespace weft::plugin {

// What the kernel backend's keys are bound to besides the cluster key and
// the host pair (datapath::deriveEspKey): one set of SAs per host pair for
// every encrypted network, so the cluster, not a network.
inline constexpr const char* kEspKeyScope = "weft cluster esp";

// The plane's peers as /weft.Crypto shows them under kernel.peers: per peer
// its epochs and outbound SPI, and the traffic of its SAs installed now
// (driver::EspTraffic) under the userspace backend's per-peer names --
// sealedPackets, sealedBytes, openedPackets, openedBytes, authFailed,
// replayed -- left out when the kernel's SAs could not be listed.
nlohmann::json espPeersJson(const std::vector<driver::EspPeerState>& states);

// Rotation by packet count, as the userspace backend rekeys
// (datapath::RekeyPolicy::maxPackets): this host moves to its next epoch
// once one outbound SA has sealed this many packets -- at 1 Gbit/s of
// 1,500-byte frames about every 3 minutes, ahead of the 10-minute rotation.
inline constexpr uint64_t kEspMaxPacketsPerEpoch = uint64_t{1} << 24;

// True when some peer's outbound SA at the current epoch has sealed at
// least `limit` packets. Peers still holding the previous outbound SA (its
// 2 s grace after a rotation) are left out: their count includes it.
bool espPacketLimitReached(const std::vector<driver::EspPeerState>& states, uint64_t limit);

class KernelBackend {
 public:
  // Opens STATE_DIR/esp-epochs.json (a corrupt one is an error naming it),
  // and builds the ESP pairs over `key` (the cluster's primary key) and the
  // plane on ESP_PORT, which adopts what an earlier run left in the kernel.
  static Result<std::unique_ptr<KernelBackend>> start(kernel::Kernel& k, const Config& cfg,
                                                      std::span<const uint8_t> key);

  // Hands the plane and its epochs to the driver (before drv.start()).
  void attachTo(driver::Driver& drv);
  // Periodic (weft-plugin: every 100 ms): rotations that are due and
  // peers' graces that ended; and every `pairsEvery` ticks, the pairs the
  // driver puts on the kernel backend that the plane has no ESP with ask
  // the epochs for a fresh one when theirs was used before (a pair dropped
  // and wanted again within one epoch), a rotation is asked when an
  // outbound SA reached `maxPackets` (once per epoch; it comes as soon as
  // the minimum interval allows), then the plane is refreshed (its
  // retries).
  void tick(driver::Driver& drv, unsigned tickNo, unsigned pairsEvery = 10,
            uint64_t maxPackets = kEspMaxPacketsPerEpoch);
  // weftctl crypto: per ESP peer, the plane's epochs, SPI and traffic
  // (espPeersJson).
  nlohmann::json status() const;

  driver::EspEpochBook& epochs() { return *epochs_; }
  driver::KernelPlane& plane() { return *plane_; }

 private:
  KernelBackend() = default;
  void refresh();

  std::unique_ptr<driver::EspEpochBook> epochs_;
  kernel::BridgeMulticastPtr bridge_;
  std::unique_ptr<driver::KernelPlane> plane_;
  std::optional<uint32_t> packetRotationAskedAt_;  // the epoch a packet-count rotation was asked at
};

}  // namespace weft::plugin
