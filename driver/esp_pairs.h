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
// Epochs are directional (driver/esp_epoch_source.h): the SAs of direction
// self -> peer are at this host's epoch, those of peer -> self at the
// peer's. Per peer: ONE active outbound SA (plus the previous one for a
// short while after a switch: a packet that looked its SA up just before the
// switch is still encrypted under it rather than dropped as a dead SA's),
// and a SET of inbound SAs (the peer's current epoch, the next one accepted
// ahead, a previous one within its grace).
//
// Policies, per peer: out (self -> peer, udp dport = port) requires ESP with
// the active outbound SPI; in (peer -> self, udp dport = port) requires ESP
// with the pair's reqid and any SPI, so every installed inbound SA is
// accepted.
//
// Rotation of this host's direction is make before break: the peer installs
// the inbound SA of epoch e+1 ahead (it accepts current + 1), then setOut
// adds the outbound SA of e+1 and moves the out policy to its SPI in one
// XFRM_MSG_UPDPOLICY (never a moment without a policy). An outbound epoch is
// never used twice under the same material (sequence numbers restart with a
// new SA and GCM nonces repeat): setOut refuses one this object had, and the
// caller (driver/kernel_plane.h) records every use durably before it
// (EspEpochSource::willCreateOut).
//
// Adoption: the kernel keeps SAs and policies when weft-plugin restarts.
// readLeftovers() notes the ones an earlier run made (self at one end, the
// other end's address hashing to the reqid, which is how the plane names its
// peers: id = address); addPeer takes over those it wants unchanged (no
// delete, no add: their sequence numbers run on in the kernel) and removes
// the pair's others; removeLeftovers() removes those of peers nobody asked
// for.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
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
// Inbound epochs per peer: its current one, the next (accepted ahead) and a
// previous one in its grace make three; one more for a rotation whose grace
// overlaps the next.
inline constexpr size_t kMaxEspInEpochs = 4;

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

  // Notes what an earlier run left in the kernel (see above); changes
  // nothing. Call once, before the first addPeer.
  Status readLeftovers();
  // Addresses of peers with leftovers not yet taken over by addPeer.
  std::vector<std::string> leftoverPeers() const;
  // Whether addPeer would adopt (not create) the outbound SA of `epoch` to
  // `peer`: an earlier run left exactly that SA.
  bool outIsLeftover(const EspPeer& peer, uint32_t epoch) const;
  // Removes the leftovers of every peer addPeer did not take over (policies
  // first, then SAs). What could not be removed is kept for the next call.
  Status removeLeftovers();

  // Gives a peer its inbound SAs (`in`, not empty), its outbound SA at `out`
  // and both policies; wanted leftovers are adopted untouched, the pair's
  // other leftovers removed. On failure what it added is removed again.
  Status addPeer(const EspPeer& peer, uint32_t out, const std::set<uint32_t>& in);
  // Removes the pair's policies and every SA of it.
  Status removePeer(const std::string& id);

  // Rotation of the outbound direction: adds the SA of `epoch` (one this
  // object never had for the peer), then moves the out policy to it. The
  // SA it replaces stays as the previous one until dropPreviousOut (or the
  // next setOut, which removes it first). Same epoch as now: nothing to do.
  Status setOut(const std::string& id, uint32_t epoch);
  Status dropPreviousOut(const std::string& id);
  // The inbound SAs become exactly `epochs` (not empty): missing ones are
  // added first (all or nothing), then the others removed.
  Status setIn(const std::string& id, const std::set<uint32_t>& epochs);

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

  struct PairState {
    EspPeer peer;
    uint32_t reqid = 0;
    uint32_t out = 0;                      // active outbound epoch
    std::optional<uint32_t> previousOut;   // still installed, not selected
    std::map<uint32_t, uint32_t> outSpi;   // epoch -> SPI, installed outbound SAs
    std::map<uint32_t, uint32_t> inSpi;    // epoch -> SPI, installed inbound SAs
    std::set<uint32_t> usedOut;            // every outbound epoch this object had
    std::vector<kernel::XfrmState> stale;  // leftovers not wanted, removal failed
  };
  const PairState* pair(const std::string& id) const;
  size_t size() const { return pairs_.size(); }
  std::vector<std::string> peers() const;
  const EspConfig& config() const { return cfg_; }

 private:
  EspPairs(kernel::Kernel& k, EspConfig cfg, std::vector<uint8_t> material)
      : k_(&k), cfg_(std::move(cfg)), material_(std::move(material)) {}

  struct Leftover {
    std::vector<kernel::XfrmState> states;
    std::vector<kernel::XfrmPolicy> policies;
  };
  // The SA of one direction at `epoch`: inbound (peer -> self) or outbound.
  Result<kernel::XfrmState> state(const EspPeer& peer, uint32_t reqid, bool inbound, uint32_t epoch) const;
  kernel::XfrmPolicy outPolicy(const PairState& p, uint32_t spi) const;
  kernel::XfrmPolicy inPolicy(const PairState& p) const;
  Status removeStale(PairState& p);

  kernel::Kernel* k_;
  EspConfig cfg_;
  std::vector<uint8_t> material_;
  std::map<std::string, PairState> pairs_;
  std::map<std::string, Leftover> leftovers_;  // by the peer's address
};

}  // namespace weft::driver
