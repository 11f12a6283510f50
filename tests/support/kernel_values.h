#pragma once
// Kernel entries spelled as text in tests. The shim takes values (MacAddr,
// IpAddr, Prefix); these build them from the text a test reads best in. A
// typo in a test's text throws, which gtest reports as the test failing.

#include <stdexcept>
#include <string>

#include "kernel/types.h"

namespace weft::testvalues {

inline MacAddr mac(const std::string& s) {
  auto m = MacAddr::parse(s);
  if (!m) throw std::invalid_argument("test MAC '" + s + "'");
  return *m;
}

inline IpAddr ip(const std::string& s) {
  auto a = IpAddr::parse(s);
  if (!a) throw std::invalid_argument("test IP '" + s + "'");
  return *a;
}

// dst "": no destination (delFdb: every destination of the MAC).
inline kernel::FdbEntry fdbEntry(const std::string& dev, const std::string& m, const std::string& dst) {
  return kernel::FdbEntry{dev, mac(m), dst.empty() ? std::nullopt : std::optional(ip(dst))};
}

inline kernel::NeighEntry neighEntry(const std::string& dev, const std::string& a, const std::string& m) {
  return kernel::NeighEntry{dev, ip(a), mac(m)};
}

// dst "default": the /0 of the gateway's family (IPv4 without a gateway);
// an address without "/n" is a host route. gateway "": none.
inline kernel::Route route(const std::string& dst, const std::string& gateway, const std::string& dev) {
  kernel::Route r;
  if (!gateway.empty()) r.gateway = ip(gateway);
  if (dst == "default") {
    r.dst = Prefix{IpAddr::any(r.gateway ? r.gateway->family : AF_INET), 0};
  } else {
    auto p = Prefix::parseHostOrPrefix(dst);
    if (!p) throw std::invalid_argument("test route destination '" + dst + "'");
    r.dst = *p;
  }
  r.dev = dev;
  return r;
}

}  // namespace weft::testvalues
