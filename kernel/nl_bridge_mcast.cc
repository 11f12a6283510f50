// The real BridgeMulticast (kernel/bridge_mcast.h): one NETLINK_ROUTE socket
// per call, opened by a short-lived thread inside the namespace (a socket
// stays in the namespace it was made in; no shared thread switches). These
// calls are rare (a sandbox's set-up, a port's attach, an MDB read after a
// change), so no socket is cached.
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <map>

#include "kernel/bridge_mcast.h"
#include "kernel/netlink_internal.h"
#include "kernel/netns_util.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_mcast.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

class NetlinkBridgeMulticast : public BridgeMulticast {
 public:
  explicit NetlinkBridgeMulticast(Kernel& k) : k_(k) {}

  Status setBridgeMcast(const Netns& ns, const std::string& bridge, const BridgeMcast& c) override {
    if (auto s = checkBridgeMcast("setBridgeMcast " + bridge, c); !s) return s;
    auto sock = socketIn(ns, "setBridgeMcast");
    if (!sock) return sock.error();
    auto l = link(**sock, bridge, "setBridgeMcast");
    if (!l) return l.error();
    if (l->info.kind != LinkKind::kBridge)
      return Error{EINVAL, "setBridgeMcast: " + bridge + " is not a bridge"};
    auto m = nl::bridgeMcastSet(l->info.ifindex, c);
    return (*sock)->request(m, "setBridgeMcast " + bridge);
  }

  Result<BridgeMcast> getBridgeMcast(const Netns& ns, const std::string& bridge) override {
    auto sock = socketIn(ns, "getBridgeMcast");
    if (!sock) return sock.error();
    std::optional<BridgeMcast> c;
    bool isBridge = false;
    auto m = nl::linkGet(bridge);
    if (auto s = checkLinkName("getBridgeMcast", bridge); !s) return s.error();
    Status s = (*sock)->request(m, "getBridgeMcast " + bridge, [&](const nlmsghdr* r) {
      if (auto l = nl::parseLink(r)) isBridge = l->info.kind == LinkKind::kBridge;
      c = nl::parseBridgeMcast(r);
    });
    if (!s) return nl::translate(s, ENODEV, ENOENT).error();
    if (!isBridge || !c) return Error{EINVAL, "getBridgeMcast: " + bridge + " is not a bridge"};
    return *c;
  }

  Status setPortMcastRouter(const Netns& ns, const std::string& port, McastRouter mode) override {
    if (static_cast<uint8_t>(mode) > static_cast<uint8_t>(McastRouter::kPermanent))
      return Error{EINVAL, "setPortMcastRouter " + port + ": mode " + std::to_string(static_cast<int>(mode))};
    auto sock = socketIn(ns, "setPortMcastRouter");
    if (!sock) return sock.error();
    auto l = link(**sock, port, "setPortMcastRouter");
    if (!l) return l.error();
    if (!l->masterIndex) return Error{EINVAL, "setPortMcastRouter: " + port + " is not a bridge port"};
    auto m = nl::portMcastRouterSet(l->info.ifindex, mode);
    return (*sock)->request(m, "setPortMcastRouter " + port);
  }

  Result<McastRouter> getPortMcastRouter(const Netns& ns, const std::string& port) override {
    if (auto s = checkLinkName("getPortMcastRouter", port); !s) return s.error();
    auto sock = socketIn(ns, "getPortMcastRouter");
    if (!sock) return sock.error();
    std::optional<McastRouter> mode;
    bool isPort = false;
    auto m = nl::linkGet(port);
    Status s = (*sock)->request(m, "getPortMcastRouter " + port, [&](const nlmsghdr* r) {
      if (auto l = nl::parseLink(r)) isPort = l->masterIndex != 0;
      mode = nl::parsePortMcastRouter(r);
    });
    if (!s) return nl::translate(s, ENODEV, ENOENT).error();
    if (!isPort || !mode) return Error{EINVAL, "getPortMcastRouter: " + port + " is not a bridge port"};
    return *mode;
  }

  Status setPortIsolated(const Netns& ns, const std::string& port, bool isolated) override {
    auto sock = socketIn(ns, "setPortIsolated");
    if (!sock) return sock.error();
    auto l = link(**sock, port, "setPortIsolated");
    if (!l) return l.error();
    if (!l->masterIndex) return Error{EINVAL, "setPortIsolated: " + port + " is not a bridge port"};
    auto m = nl::portIsolatedSet(l->info.ifindex, isolated);
    return (*sock)->request(m, "setPortIsolated " + port);
  }

  Result<bool> getPortIsolated(const Netns& ns, const std::string& port) override {
    if (auto s = checkLinkName("getPortIsolated", port); !s) return s.error();
    auto sock = socketIn(ns, "getPortIsolated");
    if (!sock) return sock.error();
    std::optional<bool> isolated;
    bool isPort = false;
    auto m = nl::linkGet(port);
    Status s = (*sock)->request(m, "getPortIsolated " + port, [&](const nlmsghdr* r) {
      if (auto l = nl::parseLink(r)) isPort = l->masterIndex != 0;
      isolated = nl::parsePortIsolated(r);
    });
    if (!s) return nl::translate(s, ENODEV, ENOENT).error();
    if (!isPort || !isolated) return Error{EINVAL, "getPortIsolated: " + port + " is not a bridge port"};
    return *isolated;
  }

  Result<std::vector<MdbEntry>> listMdb(const Netns& ns, const std::string& bridge) override {
    auto sock = socketIn(ns, "listMdb");
    if (!sock) return sock.error();
    auto l = link(**sock, bridge, "listMdb");
    if (!l) return l.error();
    if (l->info.kind != LinkKind::kBridge) return Error{EINVAL, "listMdb: " + bridge + " is not a bridge"};
    std::vector<std::pair<int, IpAddr>> raw;
    auto m = nl::mdbDump(l->info.ifindex);
    Status s = (*sock)->dump(m, "listMdb " + bridge, [&](const nlmsghdr* r) {
      for (auto& e : nl::parseMdb(r, l->info.ifindex)) raw.push_back(std::move(e));
    });
    if (!s) return s.error();
    std::map<int, std::string> names;
    auto dump = nl::linkDump();
    s = (*sock)->dump(dump, "listMdb " + bridge + ": links", [&](const nlmsghdr* r) {
      if (auto x = nl::parseLink(r)) names[x->info.ifindex] = x->info.name;
    });
    if (!s) return s.error();
    std::vector<MdbEntry> out;
    for (const auto& [index, group] : raw)
      if (names.count(index)) out.push_back({names[index], group});
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

 private:
  Result<std::unique_ptr<nl::Socket>> socketIn(const Netns& ns, const std::string& op) {
    auto fd = openNetnsFile(k_.netnsPath(ns));
    if (!fd) return Error{fd.code(), op + ": namespace '" + ns + "': " + fd.error().message};
    std::unique_ptr<nl::Socket> sock;
    auto st = runInNetns(fd->get(), [&]() -> Status {
      auto s = nl::Socket::open(NETLINK_ROUTE);
      if (!s) return s.error();
      sock = std::move(*s);
      return {};
    });
    if (!st) return st.error();
    return sock;
  }

  Result<nl::LinkRecord> link(nl::Socket& sock, const std::string& name, const std::string& op) {
    if (auto s = checkLinkName(op, name); !s) return s.error();
    std::optional<nl::LinkRecord> rec;
    auto m = nl::linkGet(name);
    Status s = sock.request(m, op + " " + name, [&](const nlmsghdr* r) {
      if (auto l = nl::parseLink(r)) rec = std::move(*l);
    });
    if (!s) return nl::translate(s, ENODEV, ENOENT).error();
    if (!rec) return Error{ENOENT, op + ": no link " + name};
    return *rec;
  }

  Kernel& k_;
};

}  // namespace

BridgeMulticastPtr makeNetlinkBridgeMulticast(Kernel& k) {
  return std::make_unique<NetlinkBridgeMulticast>(k);
}

}  // namespace weft::kernel
