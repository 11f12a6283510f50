#pragma once
// How a weft network's VNI and MTU are chosen: pure functions of the
// options, the underlay and the other networks (no kernel, no lock), so the
// rules are tested apart from the Driver that applies them.

#include <cstdint>
#include <map>
#include <string>

#include "common/result.h"
#include "driver/model.h"
#include "driver/network_options.h"

namespace weft::driver {

// VXLAN encapsulation over an IPv4/IPv6 underlay, and what ESP adds on top.
inline constexpr uint32_t kVxlanOverheadV4 = 50;
inline constexpr uint32_t kVxlanOverheadV6 = 70;
inline constexpr uint32_t kEspOverhead = 40;  // ESP header + IV + ICV + trailer (AES-GCM), rounded up

// FNV-1a: the same text gives the same VNI on every host and every version.
uint32_t stableHash(const std::string& s);
// The VNI of a network without -o vni: 1..kMaxWeftVni from its identity,
// stepping over `reserved` (weft's data-plane probes, HEALTH_VNI; 0: none)
// to the next one -- the same on every host.
uint32_t defaultVni(const std::string& identity, uint32_t reserved = 0);

// EINVAL when the user asked for the reserved VNI (0: none reserved).
Status refuseReservedVni(const NetworkOptions& o, uint32_t reserved);

// o.vni or defaultVni(identity, reserved); EINVAL for the reserved VNI;
// EEXIST naming the network (other than networkId) that already uses it.
Result<uint32_t> chooseVni(const NetworkOptions& o, const std::string& identity, const std::string& networkId,
                           const std::map<std::string, Network>& networks, uint32_t reserved = 0);

struct Underlay {
  uint32_t mtu = 0;
  bool v6 = false;  // the local VTEP address is IPv6
};
// IPv6 needs every link to carry 1280 bytes (RFC 8200, section 5).
inline constexpr uint32_t kMinIpv6Mtu = 1280;
enum class Ipv6Subnets { kNo, kYes };  // whether the network has an IPv6 subnet

// o.mtu, else defaultMtu, else the most the underlay carries; EINVAL when
// the underlay is too small for VXLAN, the wanted MTU does not fit, or a
// network with an IPv6 subnet would get less than kMinIpv6Mtu. An
// encrypted network's overhead is the backend's: ESP over VXLAN (kKernel,
// and kAuto), or the userspace datapath's own packet (kUserspace: outer
// IP + UDP + 40 + inner Ethernet, datapath/mtu.h).
Result<uint32_t> networkMtu(const NetworkOptions& o, const Underlay& under, uint32_t defaultMtu,
                            CryptoBackend backend = CryptoBackend::kAuto, Ipv6Subnets v6 = Ipv6Subnets::kNo);

}  // namespace weft::driver
