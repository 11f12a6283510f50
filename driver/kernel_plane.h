#pragma once
// The kernel backend of encrypted networks (issue 11) as an EncryptedPlane:
// per attached network a kernel VXLAN VTEP on br0 of its sandbox, on the
// kernel backend's own UDP port (not VXLAN_PORT, not the userspace
// datapath's ENCRYPTED_PORT), with learning off and its port isolated (it
// never forwards to the userspace backend's TAP on the same bridge, see
// BridgeMulticast::setPortIsolated). Its remote entries (setPeers) are only
// those of peers that have ESP with this host (EspPairs): a peer gets its
// SAs and policies before its first forwarding entry, and loses them only
// after its last one, over all networks (the SAs are per host pair, on the
// one port, not per network). Before the first VTEP the port is closed to
// cleartext (EspPairs::closePort): a peer without ESP gets nothing and
// sends nothing through.
//
// Key epochs come from the caller (epochOf: a peer's current epoch, or
// nullopt while none is agreed -- then the peer gets no entries). Within a
// run the plane never installs a peer's SAs twice at one epoch (a peer that
// left and came back needs a new one). How hosts agree on an epoch that
// never repeats a (key, sequence) pair across restarts, and the rotation of
// a running pair, are NOT built yet (README, "Encrypted networks": the
// kernel backend's state); so weft-plugin does not construct this plane,
// and no host advertises the kernel backend.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/encrypted_plane.h"
#include "driver/esp_pairs.h"
#include "driver/peer_table.h"
#include "kernel/bridge_mcast.h"
#include "kernel/kernel.h"

namespace weft::driver {

inline constexpr const char* kKernelVtepName = "wesp0";  // one per sandbox

struct KernelPlaneConfig {
  std::string self;   // this host's underlay address (its id in the key derivation)
  uint16_t port = 0;  // the kernel backend's VXLAN port, the one EspPairs guards
};

class KernelPlane : public EncryptedPlane {
 public:
  using EpochOf = std::function<std::optional<uint32_t>(const std::string& peer)>;
  // esp: configured for cfg.self and cfg.port (checked).
  static Result<std::unique_ptr<KernelPlane>> create(kernel::Kernel& k, kernel::BridgeMulticast& bm,
                                                     KernelPlaneConfig cfg, EspPairs esp, EpochOf epochOf);

  Status attach(const EncryptedNetwork& n) override;
  void detach(const std::string& identity) override;
  void setPeers(const std::string& identity, const PeerEntries& entries) override;
  // Multicast pruning is not built for this backend: its VTEP floods every
  // group to every ESP peer (as before pruning; nothing lost). Per-group FDB
  // entries as on a plain network's VTEP would do it, once weft-plugin
  // constructs this plane (see above).
  void setGroups(const std::string&, const GroupRoutes&) override {}

  // What is programmed in a network's VTEP; nullopt when the network is not
  // attached. The host pairs with ESP.
  std::optional<PeerEntries> programmed(const std::string& identity) const;
  std::vector<std::string> espPeers() const;

 private:
  KernelPlane(kernel::Kernel& k, kernel::BridgeMulticast& bm, KernelPlaneConfig cfg, EspPairs esp,
              EpochOf epochOf)
      : k_(k), bm_(bm), cfg_(std::move(cfg)), esp_(std::move(esp)), epochOf_(std::move(epochOf)) {}

  struct Net {
    std::string netns;
    PeerEntries have;  // programmed in its VTEP
  };
  // Gives a peer ESP when it has none (false: it has none and cannot now).
  bool ensureEsp(const std::string& peer);
  // Removes ESP of every peer no network's VTEP has an entry for any more.
  void dropUnusedEsp();

  kernel::Kernel& k_;
  kernel::BridgeMulticast& bm_;
  KernelPlaneConfig cfg_;
  EspPairs esp_;
  EpochOf epochOf_;
  mutable std::mutex mu_;  // setPeers comes from several threads
  bool portClosed_ = false;
  std::map<std::string, Net> nets_;  // by identity
  // Per peer, every epoch its SAs were installed at in this run.
  std::map<std::string, std::set<uint32_t>> usedEpochs_;
};

}  // namespace weft::driver
