// NetlinkKernel: VTEPs left in orphaned sandboxes. A sandbox whose namespace
// files are gone but which something else keeps alive still holds its VNI
// on the host's VXLAN socket, so the sandbox cannot be rebuilt. No file
// reaches such a namespace, but the host namespace keeps an id (nsid) for it
// -- allocated when the VTEP was moved there from the host -- and rtnetlink
// can reach a peer's links by that id (IFLA_TARGET_NETNSID, Linux 4.20+).
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

#include <set>

#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/netns_util.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

nl::Message nsidMessage(uint16_t type, uint16_t flags) {
  nl::Message m(type, flags);
  m.extra<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  return m;
}

int nsidOf(const nlmsghdr* r) {
  const nlattr* tb[NETNSA_MAX + 1] = {};
  nl::parseAttrs(r, sizeof(rtgenmsg), tb, NETNSA_MAX);
  return tb[NETNSA_NSID] ? static_cast<int32_t>(mnl_attr_get_u32(tb[NETNSA_NSID])) : NETNSA_NSID_NOT_ASSIGNED;
}

nl::Message linkInPeer(uint16_t type, int nsid, const std::string& name) {
  nl::Message m(type, 0);
  m.extra<ifinfomsg>()->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(m.hdr(), IFLA_TARGET_NETNSID, static_cast<uint32_t>(nsid));
  return m;
}

}  // namespace

Result<int> NetlinkKernel::removeUnreachableVxlan(const std::string& name, uint32_t vni, uint16_t port) {
  const std::string op = "removeUnreachableVxlan " + name;
  if (auto s = checkLinkName("removeUnreachableVxlan", name); !s) return s.error();
  auto host = routeSocket(kHostNetns, "removeUnreachableVxlan");
  if (!host) return host.error();
  // Every peer namespace the host has an id for.
  std::set<int> peers;
  auto all = nsidMessage(RTM_GETNSID, 0);
  if (auto s = (*host)->dump(all, op + ": listing namespace ids",
                             [&](const nlmsghdr* r) {
                               if (int id = nsidOf(r); id >= 0) peers.insert(id);
                             });
      !s)
    return s.error();
  // Minus those a namespace file of ours reaches, and the host itself (it
  // may have an id for itself).
  auto ours = listNetns();
  if (!ours) return ours.error();
  ours->push_back(kHostNetns);
  for (const auto& ns : *ours) {
    auto fd = openNetnsFile(netnsPath(ns));
    if (!fd) continue;
    auto q = nsidMessage(RTM_GETNSID, 0);
    mnl_attr_put_u32(q.hdr(), NETNSA_FD, static_cast<uint32_t>(fd->get()));
    int id = NETNSA_NSID_NOT_ASSIGNED;
    if ((*host)->request(q, op + ": id of " + ns, [&](const nlmsghdr* r) { id = nsidOf(r); }))
      peers.erase(id);
  }
  for (int id : peers) {
    auto get = linkInPeer(RTM_GETLINK, id, name);
    std::optional<LinkInfo> found;
    int master = 0;
    if (!(*host)->request(get, op + ": in namespace id " + std::to_string(id),
                          [&](const nlmsghdr* r) { found = nl::parseLink(r, &master); }))
      continue;  // not there (ENODEV), or a namespace that is going away
    if (!found || found->kind != LinkKind::kVxlan || found->vni != vni ||
        (found->port && *found->port != port))
      continue;
    auto del = linkInPeer(RTM_DELLINK, id, name);
    if (auto s = (*host)->request(del, op + ": deleting it in namespace id " + std::to_string(id)); !s)
      return s.error();
    return id;
  }
  return Error{ENOENT, op + ": no VXLAN device with VNI " + std::to_string(vni) +
                           " in a namespace that no file reaches"};
}

}  // namespace weft::kernel
