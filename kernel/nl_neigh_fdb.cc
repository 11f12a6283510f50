// NetlinkKernel: permanent neighbour entries (AF_INET/AF_INET6) and VXLAN
// FDB entries (AF_BRIDGE, NTF_SELF; iproute2 bridge/fdb.c semantics).
// Messages come from nl_msg_neigh.h and nl_msg_fdb.h. Adding, replacing and
// deleting an entry is one round trip once the device's index is cached;
// the contract's checks the kernel cannot answer by itself (appending a
// destination that is already there, deleting one that is not) cost one
// more: a lookup of the MAC when it is unicast, else a dump of that one
// device's FDB.
#include <linux/neighbour.h>

#include "kernel/link_cache.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/nl_msg_fdb.h"
#include "kernel/nl_msg_neigh.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

Status vxlanOnly(const std::string& op, const std::string& dev, const LinkRef& l) {
  if (l.kind != LinkKind::kVxlan) return invalid(op + ": '" + dev + "' is not a vxlan device");
  return {};
}

}  // namespace

// --- FDB ---

Result<bool> NetlinkKernel::hasFdb(nl::Socket& sock, int index, const MacAddr& mac, const IpAddr& dst,
                                   const std::string& op) {
  bool found = false;
  auto matches = [&](const nlmsghdr* r) {
    auto rec = nl::parseNeigh(r);
    found |= rec && rec->ifindex == index && (rec->flags & NTF_SELF) && rec->mac == mac && rec->dst == dst;
  };
  if (!isFloodMac(mac)) {
    // A unicast MAC has one destination: ask for that entry alone.
    auto m = nl::fdbGet(index, mac);
    Status s = sock.request(m, op + ": looking the MAC up", matches);
    if (!s && s.code() != ENOENT) return s.error();
    return found;
  }
  auto m = nl::fdbDump(index);
  if (Status s = sock.dump(m, op + ": listing the FDB", matches); !s) return s.error();
  return found;
}

Status NetlinkKernel::addFdb(const Netns& ns, const FdbEntry& e, FdbAdd how) {
  if (auto s = checkFdb("addFdb", e, how == FdbAdd::kAppend ? FdbUse::kAppend : FdbUse::kCreate); !s)
    return s;
  auto sock = routeSocket(ns, "addFdb");
  if (!sock) return sock.error();
  const std::string what = "addFdb " + e.mac.str() + " -> " + e.dst->str() + " on " + e.dev;
  return withLink(*sock, e.dev, "addFdb", [&](const LinkRef& l) -> Status {
    if (auto s = vxlanOnly("addFdb", e.dev, l); !s) return s;
    if (how == FdbAdd::kAppend) {
      // The kernel accepts appending a destination that is already there;
      // the contract says EEXIST.
      auto have = hasFdb(**sock, l.index, e.mac, *e.dst, what);
      if (!have) return have.error();
      if (*have) return Error{EEXIST, what + ": already exists"};
    }
    auto m = nl::fdbAdd(l.index, {e.mac, *e.dst, {}, {}},
                        how == FdbAdd::kAppend ? nl::FdbWrite::kAppend : nl::FdbWrite::kCreate);
    return (*sock)->request(m, what);
  });
}

Status NetlinkKernel::replaceFdb(const Netns& ns, const FdbEntry& e) {
  if (auto s = checkFdb("replaceFdb", e, FdbUse::kReplace); !s) return s;
  if (isFloodMac(e.mac))
    return invalid("replaceFdb: " + e.mac.str() + " is a flood/multicast MAC (append its destinations)");
  auto sock = routeSocket(ns, "replaceFdb");
  if (!sock) return sock.error();
  return withLink(*sock, e.dev, "replaceFdb", [&](const LinkRef& l) -> Status {
    if (auto s = vxlanOnly("replaceFdb", e.dev, l); !s) return s;
    auto m = nl::fdbAdd(l.index, {e.mac, *e.dst, {}, {}}, nl::FdbWrite::kReplace);
    return (*sock)->request(m, "replaceFdb " + e.mac.str() + " -> " + e.dst->str() + " on " + e.dev);
  });
}

Status NetlinkKernel::delFdb(const Netns& ns, const FdbEntry& e) {
  if (auto s = checkFdb("delFdb", e, FdbUse::kDelete); !s) return s;
  auto sock = routeSocket(ns, "delFdb");
  if (!sock) return sock.error();
  const std::string what = "delFdb " + e.mac.str() + " " + (e.dst ? e.dst->str() : "") + " on " + e.dev;
  // A dump by a stale index finds nothing rather than failing with ENODEV,
  // which would read as ENOENT: a flood MAC's check uses a fresh index.
  if (e.dst && isFloodMac(e.mac)) sock->links->forget(e.dev);
  return withLink(*sock, e.dev, "delFdb", [&](const LinkRef& l) -> Status {
    if (auto s = vxlanOnly("delFdb", e.dev, l); !s) return s;
    if (e.dst) {
      // The kernel answers 0 when the MAC exists but not with this
      // destination; the contract says ENOENT.
      auto have = hasFdb(**sock, l.index, e.mac, *e.dst, what);
      if (!have) return have.error();
      if (!*have) return Error{ENOENT, what + ": does not exist"};
    }
    auto m = nl::fdbDelete(l.index, e.mac, e.dst);
    return (*sock)->request(m, what);
  });
}

Result<std::vector<FdbEntry>> NetlinkKernel::listFdb(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listFdb", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listFdb");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listFdb");
  if (!index) return index.error();
  auto m = nl::fdbDump(*index);
  std::vector<FdbEntry> out;
  Status s = (*sock)->dump(m, "listFdb " + dev, [&](const nlmsghdr* r) {
    auto rec = nl::parseNeigh(r);
    if (rec && rec->family == AF_BRIDGE && rec->ifindex == *index && (rec->flags & NTF_SELF) && rec->dst &&
        rec->mac)
      out.push_back(FdbEntry{dev, *rec->mac, *rec->dst});
  });
  if (!s) return s.error();
  return out;
}

// --- neighbours ---

Status NetlinkKernel::addNeigh(const Netns& ns, const NeighEntry& e) {
  if (auto s = checkNeigh("addNeigh", e); !s) return s;
  auto sock = routeSocket(ns, "addNeigh");
  if (!sock) return sock.error();
  return withLink(*sock, e.dev, "addNeigh", [&](const LinkRef& l) {
    auto m = nl::neighAdd(l.index, e.ip, e.mac, nl::NeighWrite::kCreate);
    return (*sock)->request(m, "addNeigh " + e.ip.str() + " on " + e.dev);
  });
}

Status NetlinkKernel::replaceNeigh(const Netns& ns, const NeighEntry& e) {
  if (auto s = checkNeigh("replaceNeigh", e); !s) return s;
  auto sock = routeSocket(ns, "replaceNeigh");
  if (!sock) return sock.error();
  return withLink(*sock, e.dev, "replaceNeigh", [&](const LinkRef& l) {
    auto m = nl::neighAdd(l.index, e.ip, e.mac, nl::NeighWrite::kReplace);
    return (*sock)->request(m, "replaceNeigh " + e.ip.str() + " -> " + e.mac.str() + " on " + e.dev);
  });
}

Status NetlinkKernel::delNeigh(const Netns& ns, const NeighEntry& e) {
  if (auto s = checkNeigh("delNeigh", e); !s) return s;
  auto sock = routeSocket(ns, "delNeigh");
  if (!sock) return sock.error();
  return withLink(*sock, e.dev, "delNeigh", [&](const LinkRef& l) {
    auto m = nl::neighDelete(l.index, e.ip);
    return (*sock)->request(m, "delNeigh " + e.ip.str() + " on " + e.dev);
  });
}

Result<std::vector<NeighEntry>> NetlinkKernel::listNeigh(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listNeigh", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listNeigh");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listNeigh");
  if (!index) return index.error();
  std::vector<NeighEntry> out;
  for (int family : {AF_INET, AF_INET6}) {
    auto m = nl::neighDump(family);
    Status s = (*sock)->dump(m, "listNeigh " + dev, [&](const nlmsghdr* r) {
      auto rec = nl::parseNeigh(r);
      if (rec && rec->ifindex == *index && (rec->state & NUD_PERMANENT) && rec->dst && rec->mac)
        out.push_back(NeighEntry{dev, *rec->dst, *rec->mac});
    });
    if (!s) return s.error();
  }
  return out;
}

}  // namespace weft::kernel
