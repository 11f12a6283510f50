// NetlinkKernel: VTEPs left in orphaned sandboxes. A sandbox whose namespace
// files are gone but which something else keeps alive still holds its VNI
// on the host's VXLAN socket, so the sandbox cannot be rebuilt. No file
// reaches such a namespace, but the host namespace keeps an id (nsid) for it
// -- allocated when the VTEP was moved there from the host -- and rtnetlink
// can reach a peer's links by that id (IFLA_TARGET_NETNSID, Linux 4.20+).
// Messages come from nl_msg_nsid.h and nl_msg_link.h.
#include <linux/net_namespace.h>

#include <set>

#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/netns_util.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_nsid.h"
#include "kernel/validate.h"

namespace weft::kernel {

Result<int> NetlinkKernel::removeUnreachableVxlan(const std::string& name, uint32_t vni, uint16_t port) {
  const std::string op = "removeUnreachableVxlan " + name;
  if (auto s = checkLinkName("removeUnreachableVxlan", name); !s) return s.error();
  auto host = routeSocket(kHostNetns, "removeUnreachableVxlan");
  if (!host) return host.error();
  // Every peer namespace the host has an id for.
  std::set<int> peers;
  auto all = nl::nsidDump();
  if (auto s = (*host)->dump(all, op + ": listing namespace ids",
                             [&](const nlmsghdr* r) {
                               if (int id = nl::parseNsid(r); id >= 0) peers.insert(id);
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
    auto q = nl::nsidOfFd(fd->get());
    int id = NETNSA_NSID_NOT_ASSIGNED;
    if ((*host)->request(q, op + ": id of " + ns, [&](const nlmsghdr* r) { id = nl::parseNsid(r); }))
      peers.erase(id);
  }
  for (int id : peers) {
    auto get = nl::linkGetInPeer(id, name);
    std::optional<LinkInfo> found;
    if (!(*host)->request(get, op + ": in namespace id " + std::to_string(id), [&](const nlmsghdr* r) {
          if (auto l = nl::parseLink(r)) found = l->info;
        }))
      continue;  // not there (ENODEV), or a namespace that is going away
    if (!found || found->kind != LinkKind::kVxlan || found->vni != vni ||
        (found->port && *found->port != port))
      continue;
    auto del = nl::linkDeleteInPeer(id, name);
    if (auto s = (*host)->request(del, op + ": deleting it in namespace id " + std::to_string(id)); !s)
      return s.error();
    return id;
  }
  return Error{ENOENT, op + ": no VXLAN device with VNI " + std::to_string(vni) +
                           " in a namespace that no file reaches"};
}

}  // namespace weft::kernel
