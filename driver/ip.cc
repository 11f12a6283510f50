#include "driver/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace weft::driver {

namespace {
u128 hostMask(int bits, int len) {
  int host = bits - len;
  if (host <= 0) return 0;
  if (host >= 128) return ~u128(0);
  return (u128(1) << host) - 1;
}
}  // namespace

std::optional<IpAddr> IpAddr::parse(const std::string& s) {
  if (s.empty() || s.size() > 45) return std::nullopt;
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
    a.v6 = false;
    a.value = ntohl(v4.s_addr);
    return a;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  a.v6 = true;
  for (int i = 0; i < 16; ++i) a.value = (a.value << 8) | v6.s6_addr[i];
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  if (!v6) {
    in_addr v4{};
    v4.s_addr = htonl(static_cast<uint32_t>(value));
    inet_ntop(AF_INET, &v4, buf, sizeof buf);
    return buf;
  }
  in6_addr a{};
  u128 v = value;
  for (int i = 15; i >= 0; --i) {
    a.s6_addr[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  inet_ntop(AF_INET6, &a, buf, sizeof buf);
  return buf;
}

std::optional<Prefix> Prefix::parse(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size() || s.size() - slash > 4) return std::nullopt;
  auto a = IpAddr::parse(s.substr(0, slash));
  if (!a) return std::nullopt;
  int len = 0;
  for (size_t i = slash + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    len = len * 10 + (s[i] - '0');
  }
  if (len > a->bits()) return std::nullopt;
  return Prefix{*a, len};
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }

Prefix Prefix::network() const {
  Prefix p = *this;
  p.addr.value &= ~hostMask(addr.bits(), len);
  if (!addr.v6) p.addr.value &= 0xffffffffu;
  return p;
}

IpAddr Prefix::first() const { return network().addr; }

IpAddr Prefix::last() const {
  IpAddr a = first();
  a.value |= hostMask(addr.bits(), len);
  return a;
}

bool Prefix::contains(const IpAddr& a) const {
  if (a.v6 != addr.v6) return false;
  return a.value >= first().value && a.value <= last().value;
}

bool Prefix::overlaps(const Prefix& o) const {
  if (o.addr.v6 != addr.v6) return false;
  return first().value <= o.last().value && o.first().value <= last().value;
}

u128 Prefix::size() const {
  u128 m = hostMask(addr.bits(), len);
  return m == ~u128(0) ? m : m + 1;
}

}  // namespace weft::driver
