// NetlinkKernel: permanent neighbour entries (AF_INET/AF_INET6) and VXLAN
// FDB entries (AF_BRIDGE, NTF_SELF; iproute2 bridge/fdb.c semantics).
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>

#include "kernel/inet.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

nl::Message neighMessage(uint16_t type, uint16_t flags, uint8_t family, int index, uint16_t state,
                         uint8_t ntf) {
  nl::Message m(type, flags);
  auto* ndm = m.extra<ndmsg>();
  ndm->ndm_family = family;
  ndm->ndm_ifindex = index;
  ndm->ndm_state = state;
  ndm->ndm_flags = ntf;
  return m;
}

struct NeighRecord {
  int index;
  uint16_t state;
  uint8_t flags;
  std::optional<IpAddr> dst;
  std::optional<MacAddr> mac;
};

NeighRecord parseNeighMsg(const nlmsghdr* r) {
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(r));
  const nlattr* tb[NDA_MAX + 1];
  nl::parseAttrs(r, sizeof(ndmsg), tb, NDA_MAX);
  NeighRecord rec{ndm->ndm_ifindex, ndm->ndm_state, ndm->ndm_flags, {}, {}};
  if (tb[NDA_DST]) {
    auto len = mnl_attr_get_payload_len(tb[NDA_DST]);
    if (len == 4 || len == 16)
      rec.dst = IpAddr::fromBytes(len == 4 ? AF_INET : AF_INET6, mnl_attr_get_payload(tb[NDA_DST]));
  }
  if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6) {
    MacAddr m;
    std::memcpy(m.bytes.data(), mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
    rec.mac = m;
  }
  return rec;
}

}  // namespace

// --- FDB ---

Status NetlinkKernel::addFdb(const Netns& ns, const FdbEntry& e, bool append) {
  auto p = parseFdb("addFdb", e, append, false);
  if (!p) return p.error();
  auto sock = routeSocket(ns, "addFdb");
  if (!sock) return sock.error();
  auto link = queryLink(**sock, e.dev, 0, "addFdb");
  if (!link) return link.error();
  if (link->kind != LinkKind::kVxlan) return invalid("addFdb: '" + e.dev + "' is not a vxlan device");
  const FdbEntry canon{e.dev, p->mac.str(), p->dst.str()};
  if (append) {
    // The kernel accepts appending a destination that is already there; the
    // contract says EEXIST.
    auto have = listFdb(ns, e.dev);
    if (!have) return have.error();
    for (auto& x : *have)
      if (x == canon) return Error{EEXIST, "addFdb: " + canon.mac + " -> " + canon.dst + " already exists"};
  }
  auto m = neighMessage(RTM_NEWNEIGH, NLM_F_CREATE | (append ? NLM_F_APPEND : NLM_F_EXCL), AF_BRIDGE,
                        link->ifindex, NUD_PERMANENT | NUD_NOARP, NTF_SELF);
  mnl_attr_put(m.hdr(), NDA_LLADDR, 6, p->mac.bytes.data());
  mnl_attr_put(m.hdr(), NDA_DST, p->dst.size(), p->dst.bytes.data());
  return (*sock)->request(m, "addFdb " + canon.mac + " -> " + canon.dst + " on " + e.dev);
}

Status NetlinkKernel::delFdb(const Netns& ns, const FdbEntry& e) {
  auto p = parseFdb("delFdb", e, false, true);
  if (!p) return p.error();
  auto sock = routeSocket(ns, "delFdb");
  if (!sock) return sock.error();
  auto link = queryLink(**sock, e.dev, 0, "delFdb");
  if (!link) return link.error();
  if (link->kind != LinkKind::kVxlan) return invalid("delFdb: '" + e.dev + "' is not a vxlan device");
  if (!e.dst.empty()) {
    // The kernel answers 0 when the MAC exists but not with this destination;
    // the contract says ENOENT.
    auto have = listFdb(ns, e.dev);
    if (!have) return have.error();
    const FdbEntry canon{e.dev, p->mac.str(), p->dst.str()};
    if (std::find(have->begin(), have->end(), canon) == have->end())
      return Error{ENOENT, "delFdb: " + canon.mac + " -> " + canon.dst + " on " + e.dev + " does not exist"};
  }
  auto m = neighMessage(RTM_DELNEIGH, 0, AF_BRIDGE, link->ifindex, 0, NTF_SELF);
  mnl_attr_put(m.hdr(), NDA_LLADDR, 6, p->mac.bytes.data());
  if (!e.dst.empty()) mnl_attr_put(m.hdr(), NDA_DST, p->dst.size(), p->dst.bytes.data());
  return (*sock)->request(m, "delFdb " + p->mac.str() + " " + e.dst + " on " + e.dev);
}

Result<std::vector<FdbEntry>> NetlinkKernel::listFdb(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listFdb", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listFdb");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listFdb");
  if (!index) return index.error();
  auto m = neighMessage(RTM_GETNEIGH, 0, AF_BRIDGE, 0, 0, 0);
  std::vector<FdbEntry> out;
  Status s = (*sock)->dump(m, "listFdb " + dev, [&](const nlmsghdr* r) {
    if (r->nlmsg_type != RTM_NEWNEIGH) return;
    auto rec = parseNeighMsg(r);
    if (rec.index == *index && (rec.flags & NTF_SELF) && rec.dst && rec.mac)
      out.push_back(FdbEntry{dev, rec.mac->str(), rec.dst->str()});
  });
  if (!s) return s.error();
  return out;
}

// --- neighbours ---

Status NetlinkKernel::addNeigh(const Netns& ns, const NeighEntry& e) {
  auto p = parseNeigh("addNeigh", e, false);
  if (!p) return p.error();
  auto sock = routeSocket(ns, "addNeigh");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, e.dev, "addNeigh");
  if (!index) return index.error();
  auto m = neighMessage(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_EXCL, static_cast<uint8_t>(p->ip.family), *index,
                        NUD_PERMANENT, 0);
  mnl_attr_put(m.hdr(), NDA_DST, p->ip.size(), p->ip.bytes.data());
  mnl_attr_put(m.hdr(), NDA_LLADDR, 6, p->mac.bytes.data());
  return (*sock)->request(m, "addNeigh " + p->ip.str() + " on " + e.dev);
}

Status NetlinkKernel::delNeigh(const Netns& ns, const NeighEntry& e) {
  auto p = parseNeigh("delNeigh", e, true);
  if (!p) return p.error();
  auto sock = routeSocket(ns, "delNeigh");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, e.dev, "delNeigh");
  if (!index) return index.error();
  auto m = neighMessage(RTM_DELNEIGH, 0, static_cast<uint8_t>(p->ip.family), *index, 0, 0);
  mnl_attr_put(m.hdr(), NDA_DST, p->ip.size(), p->ip.bytes.data());
  return (*sock)->request(m, "delNeigh " + p->ip.str() + " on " + e.dev);
}

Result<std::vector<NeighEntry>> NetlinkKernel::listNeigh(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listNeigh", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listNeigh");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listNeigh");
  if (!index) return index.error();
  std::vector<NeighEntry> out;
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    auto m = neighMessage(RTM_GETNEIGH, 0, family, 0, 0, 0);
    Status s = (*sock)->dump(m, "listNeigh " + dev, [&](const nlmsghdr* r) {
      if (r->nlmsg_type != RTM_NEWNEIGH) return;
      auto rec = parseNeighMsg(r);
      if (rec.index == *index && (rec.state & NUD_PERMANENT) && rec.dst && rec.mac)
        out.push_back(NeighEntry{dev, rec.dst->str(), rec.mac->str()});
    });
    if (!s) return s.error();
  }
  return out;
}

}  // namespace weft::kernel
