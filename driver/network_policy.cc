#include "driver/network_policy.h"

#include <cerrno>

#include "datapath/mtu.h"

namespace weft::driver {

uint32_t stableHash(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

uint32_t defaultVni(const std::string& identity, uint32_t reserved) {
  uint32_t vni = stableHash(identity) % kMaxWeftVni + 1;
  if (vni == reserved) vni = vni % kMaxWeftVni + 1;  // the next one, the same on every host
  return vni;
}

Status refuseReservedVni(const NetworkOptions& o, uint32_t reserved) {
  if (o.vni && reserved && *o.vni == reserved)
    return Error{EINVAL, "-o vni=" + std::to_string(*o.vni) +
                             " is reserved for weft's data-plane probes (setting HEALTH_VNI); choose another "
                             "VNI (1-" +
                             std::to_string(kMaxWeftVni) + ")"};
  return Status::Ok();
}

Result<uint32_t> chooseVni(const NetworkOptions& o, const std::string& identity, const std::string& networkId,
                           const std::map<std::string, Network>& networks, uint32_t reserved) {
  if (auto st = refuseReservedVni(o, reserved); !st) return st.error();
  uint32_t vni = o.vni ? *o.vni : defaultVni(identity, reserved);
  for (const auto& [id, n] : networks) {
    if (id == networkId) continue;
    if (n.vni == vni)
      return Error{EEXIST, "VNI " + std::to_string(vni) + " is already used by weft network " +
                               id.substr(0, 12) + (o.vni ? "" : " (chosen from the network's identity)") +
                               "; give this network another one with -o vni=N (1-" +
                               std::to_string(kMaxWeftVni) + ")"};
  }
  return vni;
}

Result<uint32_t> networkMtu(const NetworkOptions& o, const Underlay& under, uint32_t defaultMtu,
                            CryptoBackend backend, Ipv6Subnets v6) {
  uint32_t overhead = (under.v6 ? kVxlanOverheadV6 : kVxlanOverheadV4) + (o.encrypted ? kEspOverhead : 0);
  if (o.encrypted && backend == CryptoBackend::kUserspace)
    overhead = static_cast<uint32_t>(datapath::packetOverhead(under.v6) + datapath::kInnerEthernetHeader);
  if (under.mtu <= overhead + kMinMtu)
    return Error{EINVAL, "underlay MTU " + std::to_string(under.mtu) + " is too small for VXLAN"};
  uint32_t max = under.mtu - overhead;
  uint32_t want = o.mtu ? *o.mtu : (defaultMtu ? defaultMtu : max);
  if (want > max)
    return Error{EINVAL, "mtu " + std::to_string(want) + " is more than the underlay (MTU " +
                             std::to_string(under.mtu) + ") can carry over VXLAN" +
                             (o.encrypted ? " with encryption" : "") + "; the most is " +
                             std::to_string(max)};
  if (v6 == Ipv6Subnets::kYes && want < kMinIpv6Mtu) {
    std::string from = o.mtu        ? "-o mtu=" + std::to_string(want)
                       : defaultMtu ? "the MTU setting (" + std::to_string(want) + ")"
                                    : "the underlay's MTU " + std::to_string(under.mtu) + " less " +
                                          std::to_string(under.mtu - want) + " bytes of VXLAN" +
                                          (o.encrypted ? " and encryption" : "") + " overhead";
    return Error{EINVAL, "a network with an IPv6 subnet needs an MTU of at least " +
                             std::to_string(kMinIpv6Mtu) + " (IPv6's minimum link MTU), but " + from +
                             " gives " + std::to_string(want) +
                             (max >= kMinIpv6Mtu ? "; give -o mtu=" + std::to_string(kMinIpv6Mtu) + " or more"
                                                 : "; the underlay carries at most " + std::to_string(max) +
                                                       ": raise its MTU or drop the IPv6 subnet")};
  }
  return want;
}

}  // namespace weft::driver
