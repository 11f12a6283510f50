#pragma once
// IP address and prefix values shared by both kernel shim implementations, so
// that parsing, canonical spelling and EINVAL decisions are identical.

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>

namespace weft::kernel {

struct IpAddr {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};

  // Accepts dotted-quad IPv4 or RFC 4291 IPv6 text; nothing else.
  static std::optional<IpAddr> parse(const std::string& s);
  static IpAddr fromBytes(int family, const void* data);
  std::string str() const;  // canonical (inet_ntop) spelling
  size_t size() const;      // 4 or 16
  int maxPrefix() const { return static_cast<int>(size() * 8); }
  bool isV6() const;
  bool isZero() const;
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

struct Cidr {
  IpAddr addr;
  int prefix = 0;

  // "a.b.c.d/n" or "x::y/n"; without "/n" the prefix is the full length.
  // "default" is accepted only when defaultFamily is AF_INET or AF_INET6.
  static std::optional<Cidr> parse(const std::string& s, int defaultFamily = 0);
  std::string str() const;  // "10.0.0.1/24"
  Cidr network() const;     // host bits cleared
  bool hostBitsZero() const { return network().addr == addr; }
  bool contains(const IpAddr& ip) const;
  bool operator==(const Cidr&) const = default;
  auto operator<=>(const Cidr&) const = default;
};

}  // namespace weft::kernel
