#pragma once
// IPv4/IPv6 addresses and prefixes: the one value type every layer uses
// (IPAM, kernel shim, driver, gossip records). Text is parsed once, where it
// enters (HTTP, IPC, config); inside, addresses are values. Stored as network
// byte order bytes, which is what netlink and sockets want; the IPAM
// arithmetic works on the same value as an unsigned 128-bit integer.

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft {

using u128 = unsigned __int128;

struct IpAddr {
  int family = AF_INET;             // or AF_INET6; a default IpAddr is 0.0.0.0
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  // Dotted-quad IPv4 or RFC 4291 IPv6 text, nothing else (no zone, no
  // brackets, no leading/trailing space). The family is whichever parses.
  static std::optional<IpAddr> parse(std::string_view s);
  static IpAddr fromBytes(int family, const void* data);  // 4 or 16 bytes
  static IpAddr fromU128(int family, u128 value);         // IPv4 in the low 32 bits
  static IpAddr any(int family);                          // 0.0.0.0 or ::

  std::string str() const;  // canonical (inet_ntop) spelling
  u128 toU128() const;      // IPv4 in the low 32 bits
  bool isV6() const { return family == AF_INET6; }
  size_t size() const { return isV6() ? 16 : 4; }
  int bits() const { return static_cast<int>(size() * 8); }
  bool isZero() const;
  bool isLinkLocal6() const;  // fe80::/10
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

struct Prefix {
  IpAddr addr;  // as written (may have host bits set, e.g. an interface address)
  int len = 0;

  // "10.0.0.0/24", "fd00::/64"; rejects a missing or out-of-range length.
  static std::optional<Prefix> parse(std::string_view s);
  // As parse(), but an address without "/n" is a host prefix (/32, /128).
  static std::optional<Prefix> parseHostOrPrefix(std::string_view s);
  static Prefix host(const IpAddr& a) { return Prefix{a, a.bits()}; }

  std::string str() const;  // addr/len as stored
  Prefix network() const;   // host bits cleared
  bool hostBitsZero() const { return network().addr == addr; }
  IpAddr first() const;  // network address
  IpAddr last() const;   // broadcast / last address
  bool contains(const IpAddr& a) const;
  bool overlaps(const Prefix& o) const;
  u128 size() const;  // number of addresses (saturating for /0 v6)
  bool operator==(const Prefix&) const = default;
  auto operator<=>(const Prefix&) const = default;
};

}  // namespace weft
