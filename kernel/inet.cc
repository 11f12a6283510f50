#include "kernel/inet.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

namespace weft::kernel {

std::optional<IpAddr> IpAddr::parse(const std::string& s) {
  IpAddr a;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = AF_INET;
  } else {
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
    a.family = AF_INET6;
  }
  return a;
}

IpAddr IpAddr::fromBytes(int family, const void* data) {
  IpAddr a;
  a.family = family;
  std::memcpy(a.bytes.data(), data, family == AF_INET ? 4 : 16);
  return a;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes.data(), buf, sizeof buf)) return {};
  return buf;
}

size_t IpAddr::size() const { return family == AF_INET6 ? 16 : 4; }
bool IpAddr::isV6() const { return family == AF_INET6; }

bool IpAddr::isZero() const {
  for (size_t i = 0; i < size(); ++i)
    if (bytes[i]) return false;
  return true;
}

std::optional<Cidr> Cidr::parse(const std::string& s, int defaultFamily) {
  if (s == "default") {
    if (defaultFamily != AF_INET && defaultFamily != AF_INET6) return std::nullopt;
    Cidr c;
    c.addr.family = defaultFamily;
    return c;
  }
  auto slash = s.find('/');
  auto ip = IpAddr::parse(s.substr(0, slash));
  if (!ip) return std::nullopt;
  Cidr c{*ip, ip->maxPrefix()};
  if (slash != std::string::npos) {
    std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3) return std::nullopt;
    int n = 0;
    for (char ch : p) {
      if (ch < '0' || ch > '9') return std::nullopt;
      n = n * 10 + (ch - '0');
    }
    if (n > ip->maxPrefix()) return std::nullopt;
    c.prefix = n;
  }
  return c;
}

std::string Cidr::str() const { return addr.str() + "/" + std::to_string(prefix); }

Cidr Cidr::network() const {
  Cidr c = *this;
  for (int i = 0; i < static_cast<int>(addr.size()); ++i) {
    int bitsHere = prefix - i * 8;
    uint8_t mask = bitsHere >= 8 ? 0xff : bitsHere <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bitsHere));
    c.addr.bytes[i] &= mask;
  }
  return c;
}

bool Cidr::contains(const IpAddr& ip) const {
  if (ip.family != addr.family) return false;
  Cidr other{ip, prefix};
  return other.network().addr == network().addr;
}

}  // namespace weft::kernel
