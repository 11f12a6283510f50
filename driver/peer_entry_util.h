#pragma once
// Private to the peer table's implementation files (peer_table.cc,
// peer_heal.cc): its text entries turned into kernel values.

#include <map>
#include <string>

#include "common/ip.h"
#include "common/mac.h"
#include "common/result.h"
#include "kernel/types.h"

namespace weft::driver::peer_detail {

inline const char* const kZeroMac = "00:00:00:00:00:00";

// "10.0.0.2/24" or "10.0.0.2" -> "10.0.0.2" (canonical spelling); "" if neither.
inline std::string ipOf(const std::string& cidr) {
  if (auto p = Prefix::parse(cidr)) return p->addr.str();
  if (auto a = IpAddr::parse(cidr)) return a->str();
  return "";
}

// The table keeps the canonical text of records that were validated where
// they came in (the IPC decoder, the driver's own endpoints); the kernel
// takes values. Text that does not parse is refused like any failed
// programming (kept wanted, counted, logged), never dereferenced.
inline Result<kernel::NeighEntry> neighEntry(const std::string& dev, const std::string& ip,
                                             const std::string& mac) {
  auto a = IpAddr::parse(ip);
  auto m = MacAddr::parse(mac);
  if (!a || !m) return Error{EINVAL, "neighbour " + ip + " -> " + mac + " is not an IP and a MAC"};
  return kernel::NeighEntry{dev, *a, *m};
}

inline Result<kernel::FdbEntry> fdbEntry(const std::string& dev, const std::string& mac,
                                         const std::string& dst) {
  auto m = MacAddr::parse(mac);
  auto a = IpAddr::parse(dst);
  if (!m || !a) return Error{EINVAL, "fdb entry " + mac + " -> " + dst + " is not a MAC and an IP"};
  return kernel::FdbEntry{dev, *m, *a};
}

// Runs call(entry) when the entry parsed, else passes the parse error on.
template <class T, class F>
inline Status with(const Result<T>& entry, F&& call) {
  if (!entry) return entry.error();
  return call(*entry);
}

template <class K, class V>
inline const V* lookup(const std::map<K, V>& m, const K& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : &it->second;
}

}  // namespace weft::driver::peer_detail
