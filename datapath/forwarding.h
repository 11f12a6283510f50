#pragma once
// Where an inner Ethernet frame goes, per network: a known unicast
// destination MAC to the peer (underlay address) that holds it; broadcast,
// multicast and unknown unicast to every peer of the network (head-end
// replication, as VXLAN's all-zero-MAC flood entries do).
//
// Fed with the strings the PeerTable already computes (PeerEntries: MAC ->
// VTEP, flood VTEPs), so the driver can later program it like the kernel's
// FDB. Lookups are on the hot path and allocate nothing.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"

namespace weft::datapath {

// Explicit bounds, so a runaway control plane cannot grow the table without end.
inline constexpr size_t kMaxMacsPerNetwork = 65536;
inline constexpr size_t kMaxPeersPerNetwork = 1024;

// A peer's underlay address: IPv4 or IPv6, and the datapath's UDP port.
struct PeerAddr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  bool operator==(const PeerAddr&) const = default;
  auto operator<=>(const PeerAddr&) const = default;
  std::string str() const;  // "198.18.0.1:4790", "[2001:db8::1]:4790"
};
Result<PeerAddr> parsePeerAddr(const std::string& ip, uint16_t port);

// "02:42:ac:11:00:02" -> 48-bit value; error naming the text otherwise.
Result<uint64_t> parseMac(const std::string& mac);

class ForwardingTable {
 public:
  // `port` is the datapath's UDP port on every peer.
  explicit ForwardingTable(uint16_t port) : port_(port) {}

  // MAC -> peer (replaces an existing entry for the MAC). Multicast or
  // all-zero MACs are refused: they are always flooded.
  Status setMac(const std::string& mac, const std::string& vtep);
  Status removeMac(const std::string& mac);  // ENOENT when absent
  // A peer that receives flooded frames. EEXIST when already there.
  Status addFloodPeer(const std::string& vtep);
  Status removeFloodPeer(const std::string& vtep);  // ENOENT when absent

  enum class Kind { kDrop, kUnicast, kFlood };
  struct Route {
    Kind kind = Kind::kDrop;
    std::span<const PeerAddr> peers;  // one for unicast; the flood list otherwise
  };
  // Frames shorter than an Ethernet header are dropped.
  Route lookup(std::span<const uint8_t> frame) const;

  size_t macCount() const { return macs_.size(); }
  size_t floodCount() const { return flood_.size(); }

 private:
  uint16_t port_;
  std::unordered_map<uint64_t, PeerAddr> macs_;
  std::vector<PeerAddr> flood_;  // sorted, unique
};

}  // namespace weft::datapath
