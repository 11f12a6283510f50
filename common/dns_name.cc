#include "common/dns_name.h"

namespace weft {

bool validDnsName(std::string_view s) {
  if (s.empty() || s.size() > kMaxDnsName) return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;  // leading dot or ".."
      label = 0;
      continue;
    }
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > kMaxDnsLabel) return false;
  }
  return label > 0;  // no trailing dot
}

std::string lowerName(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace weft
