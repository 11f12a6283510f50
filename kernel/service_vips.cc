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
    // (see below: connections sent to backends that have all left)
    const std::string staleOf = std::string("ct state new ct original ") + fam + " daddr " + v.vip.str();
    if (v.backends.empty()) {
      refuse << "    " << fam << " daddr " << v.vip.str() << " reject\n";
      refuse << "    meta l4proto tcp " << staleOf << " reject with tcp reset\n";
      refuse << "    " << staleOf << " reject\n";
      continue;
    }
    nat << "    " << fam << " daddr " << v.vip.str() << " dnat " << fam << " to numgen inc mod "
        << v.backends.size() << " map { ";
    std::string set;
    for (size_t i = 0; i < v.backends.size(); ++i) {
      const IpAddr& b = v.backends[i];
      if (b.family != v.vip.family)
        return Error{EINVAL, "service VIP " + v.vip.str() + ": backend " + b.str() + " is of another family"};
      nat << (i ? ", " : "") << i << " : " << b.str();
      set += (i ? ", " : "") + b.str();
    }
    nat << " }\n";
    // A connection that never got an answer keeps its conntrack entry, and
    // with it the backend it was sent to (up to 2 min for a TCP SYN, renewed
    // by every retry; a later connection from the same source port is the
    // same entry): when that backend has left, its packets would go on to
    // nowhere. They are refused instead (a TCP reset closes the entry, so the
    // port's next connection is balanced afresh). Answered connections to a
    // backend that left (draining ones) are left alone.
    const std::string stale = staleOf + " " + fam + " daddr != { " + set + " }";
    refuse << "    meta l4proto tcp " << stale << " reject with tcp reset\n";
    refuse << "    " << stale << " reject\n";
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
