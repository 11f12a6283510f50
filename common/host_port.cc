#include "common/host_port.h"

#include <arpa/inet.h>

#include <cstring>

namespace weft {

namespace {
std::optional<uint16_t> parsePort(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p < 1 || p > 65535) return std::nullopt;
  return static_cast<uint16_t>(p);
}
}  // namespace

std::optional<HostPort> HostPort::parse(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
    auto a = IpAddr::parse(host);
    if (!a || !a->isV6()) return std::nullopt;  // brackets are for IPv6 only
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // unbracketed IPv6
  }
  auto a = IpAddr::parse(host);
  auto p = parsePort(port);
  if (!a || !p) return std::nullopt;
  return HostPort{*a, *p};
}

std::optional<HostPort> HostPort::parseOrDefaultPort(std::string_view s, uint16_t defaultPort) {
  if (auto a = IpAddr::parse(s)) return HostPort{*a, defaultPort};
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
    auto a = IpAddr::parse(s.substr(1, s.size() - 2));
    if (a && a->isV6()) return HostPort{*a, defaultPort};
    return std::nullopt;
  }
  return parse(s);
}

std::optional<HostPort> HostPort::fromSockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
    return HostPort{IpAddr::fromBytes(AF_INET, &v4->sin_addr), ntohs(v4->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
    return HostPort{IpAddr::fromBytes(AF_INET6, &v6->sin6_addr), ntohs(v6->sin6_port)};
  }
  return std::nullopt;
}

std::string HostPort::str() const {
  std::string host = addr.str();
  return (addr.isV6() ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

sockaddr_storage HostPort::toSockaddr(socklen_t* len) const {
  sockaddr_storage ss{};
  if (addr.isV6()) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    std::memcpy(&v6->sin6_addr, addr.bytes.data(), 16);
    *len = sizeof(sockaddr_in6);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    std::memcpy(&v4->sin_addr, addr.bytes.data(), 4);
    *len = sizeof(sockaddr_in);
  }
  return ss;
}

}  // namespace weft
