#pragma once
// IPv4/IPv6 addresses and prefixes as plain integers, for IPAM and validation.

#include <cstdint>
#include <optional>
#include <string>

namespace weft::driver {

using u128 = unsigned __int128;

struct IpAddr {
  bool v6 = false;
  u128 value = 0;  // IPv4 in the low 32 bits

  static std::optional<IpAddr> parse(const std::string& s);
  std::string str() const;
  int bits() const { return v6 ? 128 : 32; }
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

struct Prefix {
  IpAddr addr;  // as written (may have host bits set, e.g. a gateway CIDR)
  int len = 0;

  // "10.0.0.0/24", "fd00::/64"; rejects a missing or out-of-range length.
  static std::optional<Prefix> parse(const std::string& s);
  std::string str() const;  // addr/len as stored
  Prefix network() const;   // host bits cleared
  IpAddr first() const;     // network address
  IpAddr last() const;      // broadcast / last address
  bool contains(const IpAddr& a) const;
  bool overlaps(const Prefix& o) const;
  u128 size() const;  // number of addresses (saturating for /0 v6)
  bool operator==(const Prefix&) const = default;
};

}  // namespace weft::driver
