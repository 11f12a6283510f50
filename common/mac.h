#pragma once
// An Ethernet MAC address: the value the kernel shim, the driver and the
// gossip records share ("aa:bb:cc:dd:ee:ff" is only its text form).

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace weft {

struct MacAddr {
  std::array<uint8_t, 6> bytes{};

  // Exactly six two-digit hex groups separated by ':' (either case).
  static std::optional<MacAddr> parse(std::string_view s);
  std::string str() const;  // lower case
  bool isZero() const;
  bool isMulticast() const { return bytes[0] & 1; }
  bool operator==(const MacAddr&) const = default;
  auto operator<=>(const MacAddr&) const = default;
};

}  // namespace weft
