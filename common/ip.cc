#include "common/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace weft {

namespace {
u128 hostMask(int bits, int len) {
  int host = bits - len;
  if (host <= 0) return 0;
  if (host >= 128) return ~u128(0);
  return (u128(1) << host) - 1;
}

// A decimal prefix length of 1..3 digits, no sign, no spaces.
std::optional<int> parseLen(std::string_view s) {
  if (s.empty() || s.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}
}  // namespace

std::optional<IpAddr> IpAddr::parse(std::string_view s) {
  // The longest text form is an IPv6 address with an embedded IPv4 (45).
  if (s.empty() || s.size() > INET6_ADDRSTRLEN - 1) return std::nullopt;
  const std::string z(s);
  IpAddr a;
  if (inet_pton(AF_INET, z.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, z.c_str(), a.bytes.data()) != 1) return std::nullopt;
  a.family = AF_INET6;
  return a;
}

IpAddr IpAddr::fromBytes(int family, const void* data) {
  IpAddr a;
  a.family = family == AF_INET6 ? AF_INET6 : AF_INET;
  std::memcpy(a.bytes.data(), data, a.size());
  return a;
}

IpAddr IpAddr::fromU128(int family, u128 value) {
  IpAddr a = any(family);
  for (int i = static_cast<int>(a.size()) - 1; i >= 0; --i) {
    a.bytes[i] = static_cast<uint8_t>(value & 0xff);
    value >>= 8;
  }
  return a;
}

IpAddr IpAddr::any(int family) {
  IpAddr a;
  a.family = family == AF_INET6 ? AF_INET6 : AF_INET;
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes.data(), buf, sizeof buf)) return {};
  return buf;
}

u128 IpAddr::toU128() const {
  u128 v = 0;
  for (size_t i = 0; i < size(); ++i) v = (v << 8) | bytes[i];
  return v;
}

bool IpAddr::isZero() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes[i]) return false;
  return true;
}

bool IpAddr::isLinkLocal6() const { return isV6() && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }

std::optional<Prefix> Prefix::parse(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  return parseHostOrPrefix(s);
}

std::optional<Prefix> Prefix::parseHostOrPrefix(std::string_view s) {
  auto slash = s.find('/');
  auto a = IpAddr::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  if (slash == std::string_view::npos) return host(*a);
  auto len = parseLen(s.substr(slash + 1));
  if (!len || *len > a->bits()) return std::nullopt;
  return Prefix{*a, *len};
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }

Prefix Prefix::network() const { return Prefix{first(), len}; }

IpAddr Prefix::first() const {
  return IpAddr::fromU128(addr.family, addr.toU128() & ~hostMask(addr.bits(), len));
}

IpAddr Prefix::last() const {
  return IpAddr::fromU128(addr.family, first().toU128() | hostMask(addr.bits(), len));
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  return a.toU128() >= first().toU128() && a.toU128() <= last().toU128();
}

bool Prefix::overlaps(const Prefix& o) const {
  if (o.addr.family != addr.family) return false;
  return first().toU128() <= o.last().toU128() && o.first().toU128() <= last().toU128();
}

u128 Prefix::size() const {
  u128 m = hostMask(addr.bits(), len);
  return m == ~u128(0) ? m : m + 1;
}

}  // namespace weft
