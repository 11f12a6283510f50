#include "common/mac.h"

#include <cstdio>

namespace weft {

namespace {
int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<MacAddr> MacAddr::parse(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  MacAddr m;
  for (int i = 0; i < 6; ++i) {
    int hi = hexDigit(s[i * 3]), lo = hexDigit(s[i * 3 + 1]);
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

}  // namespace weft
