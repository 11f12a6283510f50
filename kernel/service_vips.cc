#include "kernel/service_vips.h"

#include <cctype>
#include <sstream>

namespace weft::kernel {

bool validVipTableTag(const std::string& tag) {
  if (tag.empty() || tag.size() > 32) return false;
  for (char c : tag)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

Result<std::string> renderVipScript(const std::string& tag, const std::vector<ServiceVip>& vips) {
  if (!validVipTableTag(tag))
    return Error{EINVAL, "service VIP table tag \"" + tag + "\" is not 1-32 of [0-9a-zA-Z_-]"};
  if (vips.size() > kMaxVipsPerTable)
    return Error{EINVAL, "too many service VIPs in one network: " + std::to_string(vips.size()) +
                             " (the most is " + std::to_string(kMaxVipsPerTable) + ")"};
  const std::string table = "inet weft-svc-" + tag;
  std::ostringstream nat, refuse;
  for (const ServiceVip& v : vips) {
    if (v.vip.isZero()) return Error{EINVAL, "service VIP without an address"};
    if (v.backends.size() > kMaxBackendsPerVip)
      return Error{EINVAL, "service VIP " + v.vip.str() + " has " + std::to_string(v.backends.size()) +
                               " backends (the most is " + std::to_string(kMaxBackendsPerVip) + ")"};
    const char* fam = v.vip.isV6() ? "ip6" : "ip";
    if (v.backends.empty()) {
      refuse << "    " << fam << " daddr " << v.vip.str() << " reject\n";
      continue;
    }
    nat << "    " << fam << " daddr " << v.vip.str() << " dnat " << fam << " to numgen inc mod "
        << v.backends.size() << " map { ";
    for (size_t i = 0; i < v.backends.size(); ++i) {
      const IpAddr& b = v.backends[i];
      if (b.family != v.vip.family)
        return Error{EINVAL, "service VIP " + v.vip.str() + ": backend " + b.str() + " is of another family"};
      nat << (i ? ", " : "") << i << " : " << b.str();
    }
    nat << " }\n";
  }
  // "table X" then "delete table X": the table exists whatever was there
  // before, and is then gone; the new one (if any) follows in the same
  // transaction, so no packet ever sees a half-built table.
  std::string s = "table " + table + "\ndelete table " + table + "\n";
  if (vips.empty()) return s;
  s += "table " + table + " {\n";
  // Priority -100 (dstnat): before conntrack confirms the connection.
  s += "  chain nat-out {\n    type nat hook output priority -100; policy accept;\n" + nat.str() + "  }\n";
  s += "  chain filter-out {\n    type filter hook output priority 0; policy accept;\n" + refuse.str() +
       "  }\n";
  s += "}\n";
  return s;
}

}  // namespace weft::kernel
