#include "kernel/types.h"

#include <cstdio>

namespace weft::kernel {

std::optional<MacAddr> MacAddr::parse(const std::string& s) {
  if (s.size() != 17) return std::nullopt;
  MacAddr m;
  for (int i = 0; i < 6; ++i) {
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i * 3]), lo = hex(s[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return m;
}

std::string MacAddr::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3],
                bytes[4], bytes[5]);
  return buf;
}

bool MacAddr::isZero() const {
  for (auto b : bytes)
    if (b) return false;
  return true;
}

const char* linkKindName(LinkKind k) {
  switch (k) {
    case LinkKind::kBridge:
      return "bridge";
    case LinkKind::kVeth:
      return "veth";
    case LinkKind::kVxlan:
      return "vxlan";
    case LinkKind::kOther:
      return "other";
  }
  return "other";
}

}  // namespace weft::kernel
