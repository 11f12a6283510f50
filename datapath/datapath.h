#pragma once
// The encrypted networks of one host and their peers: the receive side finds
// a packet's session from its fixed header (vni, sender id), the send side
// from the forwarding table's answer (peer underlay address). Every packet
// is counted: per peer once it is attributed to one, otherwise on the
// host-wide counters.
//
// Not thread-safe: one datapath loop owns it (a multi-queue datapath would
// hold one per queue, with per-queue sender ids or epochs).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "datapath/counters.h"
#include "datapath/forwarding.h"
#include "datapath/session.h"

namespace weft::datapath {

inline constexpr size_t kMaxNetworks = 4096;

class Datapath {
 public:
  // `selfHost` is this host's id in key derivation, `selfSenderId` its id on the wire.
  Datapath(std::string selfHost, uint32_t selfSenderId) : self_(std::move(selfHost)), selfId_(selfSenderId) {}

  // An encrypted network: its cluster-wide id, key material, rekey policy
  // and the datapath's UDP port. EEXIST if the vni is taken.
  Status addNetwork(uint32_t vni, const std::string& networkId, std::vector<uint8_t> material,
                    RekeyPolicy policy, uint16_t port);
  Status removeNetwork(uint32_t vni);  // ENOENT when absent

  struct PeerSpec {
    std::string host;           // the peer's host id (key derivation)
    uint32_t senderId = 0;      // its id on the wire
    std::string vtep;           // its underlay address
    uint32_t txStartEpoch = 0;  // first epoch this host seals with (never reused)
    uint32_t rxMinEpoch = 0;    // oldest epoch accepted from the peer
  };
  Status addPeer(uint32_t vni, const PeerSpec& peer, Clock::time_point now);
  Status removePeer(uint32_t vni, uint32_t senderId);

  ForwardingTable* forwarding(uint32_t vni);

  // Every sender session moves to its next key epoch now; how many did
  // (one whose epochs are used up stays, and its next seal fails as it would).
  size_t rotateAll(Clock::time_point now);

  // Seals frames for the peer at `to`; returns the packet size. The failure
  // is counted (sealFailed) and returned.
  Result<size_t> seal(uint32_t vni, const PeerAddr& to, Frames frames, std::span<uint8_t> out,
                      Clock::time_point now);

  struct Received {
    uint32_t vni = 0;
    uint32_t senderId = 0;
    std::vector<std::span<const uint8_t>> frames;  // into the packet
  };
  // Opens a received UDP payload in place. False (and counted) when it is
  // dropped; nothing beyond the fixed header is read before authentication.
  bool open(std::span<uint8_t> packet, Received* out, Clock::time_point now);

  const Counters& unattributed() const { return unattributed_; }
  // The highest key epoch any sender session has sealed with (or starts
  // at). Safe to read from any thread: the owner of the epoch reservation
  // (driver/userspace_plane.h) watches it without stopping the loop.
  uint32_t maxTxEpoch() const { return maxTxEpoch_.load(std::memory_order_relaxed); }

  struct PeerView {
    uint32_t senderId = 0;
    std::string host;
    std::string addr;  // underlay address:port
    uint32_t txEpoch = 0;
    Counters counters;
  };
  std::vector<PeerView> peers(uint32_t vni) const;
  const Counters* peerCounters(uint32_t vni, uint32_t senderId) const;
  Counters totals() const;

 private:
  struct Peer {
    std::string host;
    PeerAddr addr;
    TxSession tx;
    RxSession rx;
    Counters counters;
  };
  struct Network {
    std::string id;
    std::vector<uint8_t> material;
    RekeyPolicy policy;
    uint16_t port;
    ForwardingTable fdb;
    std::map<uint32_t, std::unique_ptr<Peer>> peers;  // by sender id
    std::map<PeerAddr, Peer*> byAddr;
  };
  Network* network(uint32_t vni);

  std::string self_;
  uint32_t selfId_;
  std::map<uint32_t, std::unique_ptr<Network>> networks_;
  Counters unattributed_;
  std::atomic<uint32_t> maxTxEpoch_{0};
  void noteEpoch(uint32_t e) {
    if (e > maxTxEpoch_.load(std::memory_order_relaxed)) maxTxEpoch_.store(e, std::memory_order_relaxed);
  }
};

}  // namespace weft::datapath
