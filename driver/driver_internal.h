#pragma once
// Helpers shared by the driver's implementation files (not part of its API).

#include <random>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/mac.h"
#include "common/result.h"
#include "driver/driver.h"
#include "driver/model.h"
#include "kernel/types.h"

namespace weft::driver::detail {

// One IPv4Data/IPv6Data entry of CreateNetwork (family AF_INET or AF_INET6):
// the pool a CIDR of that family, the gateway (if any) a CIDR inside it.
Result<Subnet> checkSubnet(const IpamData& d, int family);

inline Error notFound(const std::string& what, const std::string& id) {
  return Error{ENOENT, what + " " + id + " not found"};
}

// Docker's overlay derives a container's MAC from its IP: 02:42 + the IPv4
// (or the last 4 bytes of the IPv6) address, unique as the address is.
inline std::string macFromIp(const IpAddr& a) {
  MacAddr m;
  m.bytes[0] = 0x02;
  m.bytes[1] = 0x42;
  uint32_t low = static_cast<uint32_t>(a.toU128() & 0xffffffffu);
  m.bytes[2] = static_cast<uint8_t>(low >> 24);
  m.bytes[3] = static_cast<uint8_t>(low >> 16);
  m.bytes[4] = static_cast<uint8_t>(low >> 8);
  m.bytes[5] = static_cast<uint8_t>(low);
  return m.str();
}

inline std::string randomMac() {
  std::random_device rd;
  MacAddr m;
  for (auto& b : m.bytes) b = static_cast<uint8_t>(rd());
  m.bytes[0] = (m.bytes[0] & 0xfe) | 0x02;  // unicast, locally administered
  return m.str();
}

inline bool inSubnets(const std::vector<Subnet>& subs, const IpAddr& a) {
  for (const auto& s : subs) {
    auto p = Prefix::parse(s.pool);
    if (p && p->contains(a)) return true;
  }
  return false;
}

}  // namespace weft::driver::detail
