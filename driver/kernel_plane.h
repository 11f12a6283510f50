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
// Key epochs come from an EspEpochSource (driver/esp_epoch_source.h):
// directional, this host's outbound epoch per peer and the set of the peer's
// epochs accepted inbound. A peer whose epochs are not known yet gets no
// entries; its entries are remembered and programmed by refresh() once they
// are. refresh() also carries out rotations (the source's outbound epoch
// moved: setOut, make before break since the peer accepts current + 1
// ahead) and inbound changes (setIn). Before any outbound SA is created the
// source records the use (willCreateOut); within a run the plane never
// creates one at a (peer, epoch) it had. The source is called under the
// plane's lock: it must not call into the plane while holding a lock of its
// own that the plane's callers hold.
//
// Restarts: the kernel keeps SAs, policies, the VTEPs and their entries.
// A new plane adopts them: EspPairs::readLeftovers at create, the VTEP and
// its FDB/neighbour entries at attach (read back, so identical entries are
// not programmed again), and each peer's SAs when its epochs are still the
// wanted ones (an outbound SA that exists is adopted without willCreateOut:
// the source's outEpoch after a restart names the epoch in use, and
// willCreateOut refuses it only for creation). Entries and SAs kept from
// before stay until the control plane has resynced (pruneRestored): then
// what nobody asked for goes, leftover SAs of peers included.
//
// Separation between networks: the SAs are per host pair, shared by all
// encrypted networks of the pair on the one port (xfrm selects by address
// and port, not by VNI). Per-network keys would not separate more among
// cluster members: every network key derives from the cluster key, which
// each member holds.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/encrypted_plane.h"
#include "driver/esp_epoch_source.h"
#include "driver/esp_pairs.h"
#include "driver/peer_table.h"
#include "kernel/bridge_mcast.h"
#include "kernel/kernel.h"

namespace weft::driver {

inline constexpr const char* kKernelVtepName = "wesp0";  // one per sandbox

struct KernelPlaneConfig {
  std::string self;   // this host's underlay address (its id in the key derivation)
  uint16_t port = 0;  // the kernel backend's VXLAN port, the one EspPairs guards
  // How long the previous outbound SA stays after a rotation (refresh()
  // removes it after): packets that looked it up just before the switch
  // still leave under it. At most kMaxEspOutGrace.
  std::chrono::milliseconds outGrace{2000};
};
inline constexpr std::chrono::milliseconds kMaxEspOutGrace{60000};

// A peer's traffic as the kernel counted it on the peer's SAs installed
// now (kernel::XfrmCounters, summed; the names are the userspace backend's,
// datapath::Counters). An SA takes its counts with it when it goes: after a
// rotation the outbound numbers are the new SA's plus the previous one's
// while it stays for its grace, then the new SA's only (they drop); inbound
// likewise when one of the peer's epochs leaves. A peer whose ESP is
// removed and given again starts at 0; a restart adopts the SAs, and their
// counts run on.
struct EspTraffic {
  uint64_t sealedPackets = 0, sealedBytes = 0;  // outbound SAs: sent to the peer
  uint64_t openedPackets = 0, openedBytes = 0;  // inbound SAs: authenticated from the peer
  uint64_t authFailed = 0;                      // inbound, the ICV did not verify
  uint64_t replayed = 0;  // inbound, refused by the anti-replay window (seen before or too old)
  bool operator==(const EspTraffic&) const = default;
};

// What `weftctl crypto` shows per kernel peer.
struct EspPeerState {
  std::string peer;
  uint32_t outEpoch = 0;
  std::optional<uint32_t> previousOut;  // still installed after a rotation
  std::set<uint32_t> inEpochs;
  uint32_t outSpi = 0;
  std::optional<EspTraffic> traffic;  // nullopt: the kernel's SAs could not be listed
  bool operator==(const EspPeerState&) const = default;
};

class KernelPlane : public EncryptedPlane {
 public:
  // esp: configured for cfg.self and cfg.port (checked); what an earlier run
  // left in the kernel is read (EspPairs::readLeftovers). `epochs` outlives
  // the plane.
  static Result<std::unique_ptr<KernelPlane>> create(kernel::Kernel& k, kernel::BridgeMulticast& bm,
                                                     KernelPlaneConfig cfg, EspPairs esp,
                                                     EspEpochSource& epochs);
  // Leaves everything in the kernel (a restart adopts it).
  ~KernelPlane() override = default;

  Status attach(const EncryptedNetwork& n) override;
  void detach(const std::string& identity) override;
  void setPeers(const std::string& identity, const PeerEntries& entries) override;
  void pruneRestored() override;
  // Multicast pruning is not built for this backend: its VTEP floods every
  // group to every ESP peer (as before pruning; nothing lost). Per-group FDB
  // entries as on a plain network's VTEP would do it.
  void setGroups(const std::string&, const GroupRoutes&) override {}

  // Re-checks every peer against the epoch source: rotations, inbound
  // changes, the previous outbound SAs whose grace is over, and the pending
  // entries of peers whose epochs became known. The first error, after
  // doing all it could.
  Status refresh();

  // What is programmed in a network's VTEP; nullopt when the network is not
  // attached. The host pairs with ESP, and their state.
  std::optional<PeerEntries> programmed(const std::string& identity) const;
  std::vector<std::string> espPeers() const;
  // Per ESP peer its epochs, SPI and traffic (one listing of the kernel's
  // SAs for all of them).
  std::vector<EspPeerState> peerStates() const;

 private:
  KernelPlane(kernel::Kernel& k, kernel::BridgeMulticast& bm, KernelPlaneConfig cfg, EspPairs esp,
              EspEpochSource& epochs)
      : k_(k), bm_(bm), cfg_(std::move(cfg)), esp_(std::move(esp)), epochs_(epochs) {}

  struct Net {
    std::string netns;
    PeerEntries want;      // the last setPeers (all peers, with ESP or not)
    PeerEntries have;      // programmed in its VTEP
    PeerEntries restored;  // found in an adopted VTEP, kept until pruneRestored
  };
  // Gives a peer ESP when it has none (false: it has none and cannot now).
  bool ensureEsp(const std::string& peer);
  // Programs a network's entries for the peers with ESP.
  void syncLocked(const std::string& identity, Net& n);
  // Removes ESP of every peer no network's VTEP has an entry for any more.
  void dropUnusedEsp();

  kernel::Kernel& k_;
  kernel::BridgeMulticast& bm_;
  KernelPlaneConfig cfg_;
  EspPairs esp_;
  EspEpochSource& epochs_;
  mutable std::mutex mu_;  // setPeers comes from several threads
  bool portClosed_ = false;
  std::map<std::string, Net> nets_;  // by identity
  // Per peer, every outbound epoch it had in this run (never twice).
  std::map<std::string, std::set<uint32_t>> usedOut_;
  // When each peer's previous outbound SA was replaced.
  std::map<std::string, std::chrono::steady_clock::time_point> switchedAt_;
};

}  // namespace weft::driver
