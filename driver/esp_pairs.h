#pragma once
// The kernel backend of encrypted networks (issue 11): ESP in transport mode
// through xfrm between this host and each peer, for the encrypted networks'
// own VXLAN UDP port only. Per host pair and per direction one SA with
// rfc4106(gcm(aes)) (256-bit key, 4-byte salt, 16-byte ICV), extended
// sequence numbers and an anti-replay window; keys and SPIs come from
// datapath::deriveEspKey (HKDF over the key material, host pair, direction and
// epoch), so both hosts compute the same SAs without exchanging anything but
// the material itself.
//
// Policies, per peer: out (self -> peer, udp dport = port) requires ESP with
// the current outbound SPI; in (peer -> self, udp dport = port) requires ESP
// with the pair's reqid and any SPI, so the previous and next inbound SAs are
// both accepted during a rekey.
//
// Rekey is make-before-break in three steps, so a cluster can order them
// (every host prepares before any activates):
//   prepare(peer, e)  installs epoch e's inbound and outbound SAs (inbound
//                     traffic under e is accepted from here on);
//   activate(peer, e) moves the outbound policy to e's SPI in one
//                     XFRM_MSG_UPDPOLICY (no moment without a policy);
//   retire(peer)      removes the previous epoch's SAs, after an overlap that
//                     covers packets still in flight under it.
// An epoch must never be used twice under the same material (sequence
// numbers restart with the SA: the peer's replay window drops them and GCM
// nonces repeat); the caller persists the epoch or derives it from something
// monotonic, as datapath/README.md asks of the userspace backend.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::driver {

// Limits, checked.
// As many peers as the userspace datapath forwards to per network
// (datapath::kMaxPeersPerNetwork); with 32-bit derived SPIs, the chance that
// two of a host's inbound SAs collide stays below 1 in 8000 (n^2 / 2^33).
inline constexpr size_t kMaxEspPeers = 1024;
inline constexpr uint32_t kEspReplayWindow = 2048;  // packets, with ESN

struct EspConfig {
  std::string scope;     // what the keys are bound to (the cluster or network id)
  std::string selfId;    // this host's id (the same string its peers use for it)
  std::string selfAddr;  // this host's underlay (VTEP) address
  uint16_t port = 0;     // the encrypted networks' VXLAN UDP port, not 0
  uint32_t replayWindow = kEspReplayWindow;
};

struct EspPeer {
  std::string id;
  std::string addr;  // the peer's underlay (VTEP) address, same family as selfAddr
};

class EspPairs {
 public:
  // Checks the config and material (datapath::validate); nothing is
  // programmed until addPeer.
  static Result<EspPairs> create(kernel::Kernel& k, EspConfig cfg, std::vector<uint8_t> material);

  // Installs the pair's SAs for `epoch` and both policies. On failure what
  // it added is removed again.
  Status addPeer(const EspPeer& peer, uint32_t epoch);
  // Removes the pair's policies and every SA of it.
  Status removePeer(const std::string& id);

  // The encrypted port's catch-all (kernel/types.h, XfrmPolicy::block):
  // VXLAN on cfg.port from any host to this one, and from this one to any
  // host, is discarded unless a pair's ESP policy selects it -- cleartext is
  // refused by xfrm itself, not by an iptables match whose absence fails
  // open. Meant to be installed before the first pair and left in place
  // across restarts (closing a closed port is fine: it is adopted), so the
  // port carries no cleartext while weft-plugin is down either.
  Status closePort();
  // Removes the catch-all (no encrypted network left on this host).
  Status openPort();
  std::vector<kernel::XfrmPolicy> portBlocks() const;

  Status prepare(const std::string& id, uint32_t epoch);
  Status activate(const std::string& id, uint32_t epoch);
  Status retire(const std::string& id);

  struct PairState {
    EspPeer peer;
    uint32_t reqid = 0;
    uint32_t active = 0;                 // outbound epoch
    std::optional<uint32_t> previous;    // still accepted inbound until retire
    std::optional<uint32_t> next;        // prepared, not yet active
    std::map<uint32_t, uint32_t> inSpi;  // epoch -> inbound SPI
    std::map<uint32_t, uint32_t> outSpi;
  };
  const PairState* pair(const std::string& id) const;
  size_t size() const { return pairs_.size(); }
  std::vector<std::string> peers() const;
  const EspConfig& config() const { return cfg_; }

 private:
  EspPairs(kernel::Kernel& k, EspConfig cfg, std::vector<uint8_t> material)
      : k_(&k), cfg_(std::move(cfg)), material_(std::move(material)) {}

  // The two SAs (in, out) of `epoch` for a peer.
  Result<std::pair<kernel::XfrmState, kernel::XfrmState>> states(const EspPeer& peer, uint32_t reqid,
                                                                 uint32_t epoch) const;
  Status installEpoch(PairState& p, uint32_t epoch);
  Status removeEpoch(PairState& p, uint32_t epoch);
  kernel::XfrmPolicy outPolicy(const PairState& p, uint32_t spi) const;
  kernel::XfrmPolicy inPolicy(const PairState& p) const;

  kernel::Kernel* k_;
  EspConfig cfg_;
  std::vector<uint8_t> material_;
  std::map<std::string, PairState> pairs_;
};

}  // namespace weft::driver
