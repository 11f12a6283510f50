#pragma once
// The health namespace: where weft's data-plane probes live. One per host,
// `weft-health`, kept alive like a sandbox (a bind mount under the state
// directory), holding one VXLAN device `wx-health` on a reserved VNI
// (HEALTH_VNI) -- created in the host namespace, so it uses the host's VXLAN
// UDP socket and port exactly as the networks' VTEPs do, then moved in. Its
// address is this host's advertise address (/32 or /128, a default route
// through the device): the namespace reaches nothing but the other hosts' health
// namespaces, so the underlay's addresses can be reused without clashing,
// and every host knows every other host's probe address and MAC (derived
// from the address) without asking. Each peer gets a permanent neighbour
// entry (its address -> its MAC) and FDB entry (its MAC -> its VTEP), as a
// remote endpoint does.

#include <cstdint>
#include <set>
#include <string>

#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::driver {

inline constexpr const char* kHealthNetns = "weft-health";  // not "weft-<12 chars>": no sandbox's name
inline constexpr const char* kHealthVtep = "wx-health";
// Large enough for any network's MTU probe (the largest MTU a VXLAN device
// over IPv4 takes; over IPv6 it takes 20 bytes less).
inline constexpr uint32_t kHealthMtu = 65485;
inline constexpr uint32_t kHealthMtu6 = 65465;
// The health device's MTU for a host advertising `self`.
uint32_t healthMtu(const std::string& self);

struct HealthNetSpec {
  uint32_t vni = 0;
  uint16_t port = 4789;
  std::string self;  // this host's advertise address (IPv4 or IPv6: the underlay's family)
};

// The health device's MAC for the host with address `ip`: IPv4 a.b.c.d is
// 02:77:a:b:c:d; IPv6 is 06 followed by 40 bits of a hash (FNV-1a) of its
// 16 bytes -- both locally administered unicast, never the same for an IPv4
// and an IPv6 host. Two IPv6 hosts collide with odds of about n^2/2^41 (for
// 1,000 hosts one in four million); the probes of such a pair are lost, and
// say so, but nothing else uses these MACs. Empty when ip is no address.
std::string healthMac(const std::string& ip);

// Adopts what is right, repairs what drifted, builds what is missing: the
// namespace, the device (VNI, port, MAC, up), its address and route. Each
// action is appended to `did` in words. A VXLAN device of something else
// holding the VNI is EEXIST, naming the setting to change.
Status reconcileHealthNet(kernel::Kernel& k, const HealthNetSpec& s, std::vector<std::string>* did);

// Brings the neighbour and FDB entries of the device in line with `peers`
// (VTEP addresses of the underlay's family): adds what is missing or wrong,
// removes the rest.
// Returns the number of changes.
Result<size_t> syncHealthPeers(kernel::Kernel& k, const std::set<std::string>& peers);

// Removes the namespace and its device; missing is fine.
Status removeHealthNet(kernel::Kernel& k);

}  // namespace weft::driver
