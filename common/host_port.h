#pragma once
// An IP address and a port: "198.18.0.1:7946", "[fd00::1]:7946". The one
// parser for host:port text (gossip bind/advertise/seed addresses, the
// sidecar's peer names); IPv6 is always bracketed, so the last ':' is never
// guessed at.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ip.h"

namespace weft {

struct HostPort {
  IpAddr addr;
  uint16_t port = 0;  // 1..65535 once parsed

  // "ip:port" or "[ipv6]:port"; an unbracketed IPv6 address is refused (its
  // last group would read as a port). Port 1..65535, decimal, <= 5 digits.
  static std::optional<HostPort> parse(std::string_view s);
  // As parse(), and also a bare address ("198.18.0.1", "fd00::1",
  // "[fd00::1]"), which gets defaultPort.
  static std::optional<HostPort> parseOrDefaultPort(std::string_view s, uint16_t defaultPort);
  static std::optional<HostPort> fromSockaddr(const sockaddr* sa);  // AF_INET/AF_INET6 only

  std::string str() const;  // canonical: "198.18.0.1:7946", "[fd00::1]:7946"
  sockaddr_storage toSockaddr(socklen_t* len) const;
  bool operator==(const HostPort&) const = default;
  auto operator<=>(const HostPort&) const = default;
};

}  // namespace weft
