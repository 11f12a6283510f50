// Validation shared by both implementations of kernel/bridge_mcast.h, and the
// in-memory one (FakeBridgeMulticast).
#include "kernel/bridge_mcast.h"

#include <algorithm>

#include "kernel/validate.h"

namespace weft::kernel {

namespace {

Status interval(const std::string& op, const char* what, uint32_t ms, uint32_t min) {
  if (ms < min || ms > kMaxMcastIntervalMs || ms % 10 != 0)
    return Error{EINVAL, op + ": " + what + " " + std::to_string(ms) + " ms must be a multiple of 10 ms in " +
                             std::to_string(min) + "-" + std::to_string(kMaxMcastIntervalMs) + " ms"};
  return {};
}

}  // namespace

bool isMulticastGroup(const IpAddr& a) { return a.isV6() ? a.bytes[0] == 0xff : (a.bytes[0] & 0xf0) == 0xe0; }

Status checkBridgeMcast(const std::string& op, const BridgeMcast& c) {
  if (auto s = interval(op, "query interval", c.queryIntervalMs, kMinMcastQueryIntervalMs); !s) return s;
  if (auto s = interval(op, "membership interval", c.membershipIntervalMs, kMinMcastQueryIntervalMs); !s)
    return s;
  if (auto s = interval(op, "last-member interval", c.lastMemberIntervalMs, kMinMcastLastMemberIntervalMs);
      !s)
    return s;
  if (c.igmpVersion != 2 && c.igmpVersion != 3)
    return Error{EINVAL, op + ": IGMP version " + std::to_string(c.igmpVersion) + " must be 2 or 3"};
  if (c.mldVersion != 1 && c.mldVersion != 2)
    return Error{EINVAL, op + ": MLD version " + std::to_string(c.mldVersion) + " must be 1 or 2"};
  if (auto s = interval(op, "startup query interval", c.startupQueryIntervalMs, kMinMcastQueryIntervalMs); !s)
    return s;
  if (auto s =
          interval(op, "query response interval", c.queryResponseIntervalMs, kMinMcastLastMemberIntervalMs);
      !s)
    return s;
  // A listener answers within the response interval of each query: an
  // entry must outlive a query interval plus that, or listeners that do
  // answer every query lose their entry in between.
  if (c.queryResponseIntervalMs >= c.queryIntervalMs ||
      c.membershipIntervalMs <= c.queryIntervalMs + c.queryResponseIntervalMs)
    return Error{EINVAL, op + ": membership interval " + std::to_string(c.membershipIntervalMs) +
                             " ms must be longer than the query interval " +
                             std::to_string(c.queryIntervalMs) + " ms plus the response interval " +
                             std::to_string(c.queryResponseIntervalMs) +
                             " ms (itself shorter than the query interval)"};
  return {};
}

Result<FakeBridgeMulticast::Key> FakeBridgeMulticast::bridgeKey(const std::string& op, const Netns& ns,
                                                                const std::string& bridge) {
  if (auto s = checkLinkName(op, bridge); !s) return s.error();
  auto l = k_.getLink(ns, bridge);
  if (!l) return l.error();
  if (l->kind != LinkKind::kBridge) return Error{EINVAL, op + ": " + bridge + " is not a bridge"};
  return Key{ns, bridge, l->ifindex};
}

Result<FakeBridgeMulticast::Key> FakeBridgeMulticast::portKey(const std::string& op, const Netns& ns,
                                                              const std::string& port) {
  if (auto s = checkLinkName(op, port); !s) return s.error();
  auto l = k_.getLink(ns, port);
  if (!l) return l.error();
  if (l->master.empty()) return Error{EINVAL, op + ": " + port + " is not a bridge port"};
  return Key{ns, port, l->ifindex};
}

Status FakeBridgeMulticast::setBridgeMcast(const Netns& ns, const std::string& bridge, const BridgeMcast& c) {
  if (auto s = checkBridgeMcast("setBridgeMcast " + bridge, c); !s) return s;
  auto key = bridgeKey("setBridgeMcast", ns, bridge);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  bridges_[*key] = c;
  if (!c.snooping)  // the kernel flushes its MDB when snooping goes off
    for (auto& [port, groups] : groups_)
      if (std::get<0>(port) == ns && k_.getLink(ns, std::get<1>(port)).ok() &&
          k_.getLink(ns, std::get<1>(port))->master == bridge)
        groups.clear();
  return {};
}

Result<BridgeMcast> FakeBridgeMulticast::getBridgeMcast(const Netns& ns, const std::string& bridge) {
  auto key = bridgeKey("getBridgeMcast", ns, bridge);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bridges_.find(*key);
  return it == bridges_.end() ? BridgeMcast{} : it->second;
}

Status FakeBridgeMulticast::setPortMcastRouter(const Netns& ns, const std::string& port, McastRouter mode) {
  if (static_cast<uint8_t>(mode) > static_cast<uint8_t>(McastRouter::kPermanent))
    return Error{EINVAL, "setPortMcastRouter " + port + ": mode " + std::to_string(static_cast<int>(mode))};
  auto key = portKey("setPortMcastRouter", ns, port);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  ports_[*key] = mode;
  return {};
}

Result<McastRouter> FakeBridgeMulticast::getPortMcastRouter(const Netns& ns, const std::string& port) {
  auto key = portKey("getPortMcastRouter", ns, port);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ports_.find(*key);
  return it == ports_.end() ? McastRouter::kLearn : it->second;
}

Status FakeBridgeMulticast::setPortIsolated(const Netns& ns, const std::string& port, bool isolated) {
  auto key = portKey("setPortIsolated", ns, port);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  if (isolated)
    isolated_.insert(*key);
  else
    isolated_.erase(*key);
  return {};
}

Result<bool> FakeBridgeMulticast::getPortIsolated(const Netns& ns, const std::string& port) {
  auto key = portKey("getPortIsolated", ns, port);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  return isolated_.count(*key) > 0;
}

Status FakeBridgeMulticast::report(const Netns& ns, const std::string& port, const IpAddr& group,
                                   bool joined) {
  if (!isMulticastGroup(group)) return Error{EINVAL, "report: " + group.str() + " is not a multicast group"};
  auto key = portKey("report", ns, port);
  if (!key) return key.error();
  auto master = k_.getLink(ns, port)->master;
  auto bridge = getBridgeMcast(ns, master);
  if (!bridge) return bridge.error();
  std::lock_guard<std::mutex> lock(mu_);
  if (!bridge->snooping) return {};
  if (joined)
    groups_[*key].insert(group);
  else
    groups_[*key].erase(group);
  return {};
}

Result<std::vector<MdbEntry>> FakeBridgeMulticast::listMdb(const Netns& ns, const std::string& bridge) {
  auto key = bridgeKey("listMdb", ns, bridge);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MdbEntry> out;
  for (auto it = groups_.begin(); it != groups_.end();) {
    const auto& [pns, name, index] = it->first;
    if (pns != ns) {
      ++it;
      continue;
    }
    auto l = k_.getLink(ns, name);
    if (!l || l->ifindex != index || l->master.empty()) {  // deleted or detached: the kernel flushed it
      it = groups_.erase(it);
      continue;
    }
    if (l->master == bridge)
      for (const IpAddr& g : it->second) out.push_back({name, g});
    ++it;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace weft::kernel
