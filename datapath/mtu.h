#pragma once
// The MTU rule of the encrypted datapath: a container's frame plus
// everything wrapped around it must fit the underlay's MTU, so the outer
// packet is never fragmented (fragmented tunnels are what collapsed
// Docker's encrypted overlay, moby#33133).
//
//   underlay MTU = outer IP + UDP + datapath header + tag + inner Ethernet + inner MTU
//
// (the inner frame's Ethernet header travels; its FCS does not).

#include <cstddef>
#include <cstdint>

#include "datapath/wire.h"

namespace weft::datapath {

inline constexpr size_t kOuterIpv4Header = 20;
inline constexpr size_t kOuterIpv6Header = 40;
inline constexpr size_t kUdpHeader = 8;
inline constexpr size_t kInnerEthernetHeader = 14;
// The smallest MTU IPv4 must carry (RFC 791): an underlay that leaves less
// for containers cannot serve an encrypted network.
inline constexpr uint32_t kMinInnerMtu = 68;

// Bytes on the underlay for each sealed single-frame packet beyond the inner
// frame itself.
constexpr size_t packetOverhead(bool ipv6Underlay) {
  return (ipv6Underlay ? kOuterIpv6Header : kOuterIpv4Header) + kUdpHeader + kOverhead;
}

// The container MTU for an underlay MTU; 0 when it would be below kMinInnerMtu.
constexpr uint32_t innerMtu(uint32_t underlayMtu, bool ipv6Underlay) {
  const size_t wrap = packetOverhead(ipv6Underlay) + kInnerEthernetHeader;
  return underlayMtu < wrap + kMinInnerMtu ? 0 : static_cast<uint32_t>(underlayMtu - wrap);
}

}  // namespace weft::datapath
