#include "driver/sandbox.h"

#include <algorithm>

#include "common/ip.h"
#include "common/log.h"
#include "driver/names.h"

namespace weft::driver {

namespace {

Status ctx(const Status& st, const std::string& what) {
  if (st) return st;
  return Error{st.code(), what + ": " + st.error().message};
}

kernel::VxlanSpec vxlanSpec(const SandboxSpec& s) {
  kernel::VxlanSpec v;
  v.name = s.vxlanName;
  v.vni = s.vni;
  v.port = s.port;
  v.local = s.local;
  v.learning = false;
  v.proxy = true;
  v.mtu = s.mtu;
  return v;
}

Status addVtep(kernel::Kernel& k, const SandboxSpec& s) {
  auto st = k.createVxlan(vxlanSpec(s), s.netns);
  if (!st && st.code() == EEXIST) {
    // weft's own VTEP for this VNI (same name) may be stuck in an orphaned
    // sandbox -- a namespace whose files are gone but that something else
    // keeps alive, e.g. across a plugin upgrade. It serves nothing there.
    if (auto orphan = k.removeUnreachableVxlan(s.vxlanName, s.vni, s.port); orphan.ok()) {
      LOG_WARN("sandbox", "removed " << s.vxlanName << " (vni " << s.vni
                                     << ") from an orphaned sandbox that no namespace file reaches "
                                        "(host nsid "
                                     << *orphan << "); it held the VNI this network needs");
      st = k.createVxlan(vxlanSpec(s), s.netns);
    }
  }
  if (!st && st.code() == EEXIST)
    return Error{EEXIST, "cannot create VTEP " + s.vxlanName + " (vni " + std::to_string(s.vni) +
                             ", udp port " + std::to_string(s.port) +
                             "): a VXLAN device that is not weft's holds that name or VNI on this host "
                             "(see `ip -d link show type vxlan`); remove it, or give the network another VNI "
                             "with -o vni="};
  if (!st) return ctx(st, "create VTEP " + s.vxlanName);
  if (auto m = k.setMaster(s.netns, s.vxlanName, kBridgeName); !m)
    return ctx(m, "enslave " + s.vxlanName + " to br0");
  return ctx(k.setLinkUp(s.netns, s.vxlanName, true), "set " + s.vxlanName + " up");
}

Status addBridge(kernel::Kernel& k, const SandboxSpec& s) {
  if (auto st = k.createBridge(s.netns, kBridgeName, s.mtu); !st) return ctx(st, "create br0");
  for (const auto& gw : s.gateways)
    if (auto st = k.addAddress(s.netns, kBridgeName, gw); !st)
      return ctx(st, "add gateway " + gw + " to br0");
  return ctx(k.setLinkUp(s.netns, kBridgeName, true), "set br0 up");
}

}  // namespace

Status buildSandbox(kernel::Kernel& k, const SandboxSpec& s) {
  auto st = k.createNetns(s.netns);
  if (!st && st.code() == EEXIST)
    return Error{EEXIST, "network namespace " + s.netns +
                             " already exists; another weft network uses the same ID prefix"};
  if (!st) return ctx(st, "create namespace " + s.netns);
  if (auto b = addBridge(k, s); !b) {
    removeSandbox(k, s);
    return b;
  }
  if (!s.vtep) return Status::Ok();
  if (auto v = addVtep(k, s); !v) {
    removeSandbox(k, s);
    return v;
  }
  return Status::Ok();
}

Status removeSandbox(kernel::Kernel& k, const SandboxSpec& s) {
  auto v = k.deleteLink(s.netns, s.vxlanName);
  if (!v.okOr(ENOENT)) return ctx(v, "delete VTEP " + s.vxlanName);
  auto n = k.deleteNetns(s.netns);
  if (!n.okOr(ENOENT)) return ctx(n, "delete namespace " + s.netns);
  return Status::Ok();
}

Status reconcileSandbox(kernel::Kernel& k, const SandboxSpec& s, std::vector<std::string>* did,
                        std::vector<Correction>* fixes) {
  auto note = [&](const char* table, const char* action, std::string what) {
    if (fixes) fixes->push_back({table, action, what});
    did->push_back(std::move(what));
  };
  auto nsList = k.listNetns();
  if (!nsList.ok()) return nsList.error();
  if (std::find(nsList->begin(), nsList->end(), s.netns) == nsList->end()) {
    // A VTEP stranded in the host namespace would block the rebuild.
    if (k.getLink(kernel::kHostNetns, s.vxlanName).ok()) {
      k.deleteLink(kernel::kHostNetns, s.vxlanName);
      note("link", "removed", "removed stranded " + s.vxlanName + " from the host namespace");
    }
    if (auto st = buildSandbox(k, s); !st) return st;
    note("netns", "added", "rebuilt missing sandbox " + s.netns);
    return Status::Ok();
  }
  // br0
  auto br = k.getLink(s.netns, kBridgeName);
  if (!br.ok() || br->kind != kernel::LinkKind::kBridge) {
    if (br.ok()) k.deleteLink(s.netns, kBridgeName);
    if (auto st = addBridge(k, s); !st) return st;
    note("link", "added", "recreated br0 in " + s.netns);
  } else {
    if (br->mtu != s.mtu) {
      if (auto st = k.setMtu(s.netns, kBridgeName, s.mtu); !st) return ctx(st, "set br0 mtu");
      note("link", "mtu", "fixed br0 mtu in " + s.netns);
    }
    auto addrs = k.listAddresses(s.netns, kBridgeName);
    if (!addrs.ok()) return addrs.error();
    for (const auto& gw : s.gateways) {
      if (std::find(addrs->begin(), addrs->end(), gw) == addrs->end()) {
        if (auto st = k.addAddress(s.netns, kBridgeName, gw); !st.okOr(EEXIST))
          return ctx(st, "add gateway " + gw);
        note("addr", "added", "restored gateway " + gw + " on br0 in " + s.netns);
      }
    }
    for (const auto& a : *addrs) {
      auto p = Prefix::parse(a);
      bool linkLocal6 = p && p->addr.isLinkLocal6();
      if (linkLocal6) continue;
      if (std::find(s.gateways.begin(), s.gateways.end(), a) == s.gateways.end()) {
        k.delAddress(s.netns, kBridgeName, a);
        note("addr", "removed", "removed stray address " + a + " from br0 in " + s.netns);
      }
    }
    if (!br->up) {
      k.setLinkUp(s.netns, kBridgeName, true);
      note("link", "up", "set br0 up in " + s.netns);
    }
  }
  // VTEP
  auto vx = k.getLink(s.netns, s.vxlanName);
  if (!s.vtep) {
    // An encrypted network never has one: whatever is there would deliver
    // cleartext VXLAN.
    if (vx.ok()) {
      if (auto st = k.deleteLink(s.netns, s.vxlanName); !st.okOr(ENOENT)) return ctx(st, "delete VTEP");
      note("link", "removed", "removed " + s.vxlanName + " from encrypted network's sandbox " + s.netns);
    }
    return Status::Ok();
  }
  bool right = vx.ok() && vx->kind == kernel::LinkKind::kVxlan && vx->vni == s.vni &&
               (!vx->port || *vx->port == s.port);
  if (!right) {
    if (vx.ok()) k.deleteLink(s.netns, s.vxlanName);
    if (k.getLink(kernel::kHostNetns, s.vxlanName).ok()) k.deleteLink(kernel::kHostNetns, s.vxlanName);
    if (auto st = addVtep(k, s); !st) return st;
    note("link", vx.ok() ? "replaced" : "added",
         std::string(vx.ok() ? "replaced drifted " : "recreated missing ") + s.vxlanName + " in " + s.netns);
  } else {
    if (vx->mtu != s.mtu) {
      k.setMtu(s.netns, s.vxlanName, s.mtu);
      note("link", "mtu", "fixed " + s.vxlanName + " mtu");
    }
    if (vx->master != kBridgeName) {
      if (auto st = k.setMaster(s.netns, s.vxlanName, kBridgeName); !st) return ctx(st, "enslave vtep");
      note("link", "replaced", "re-enslaved " + s.vxlanName + " to br0");
    }
    if (!vx->up) {
      k.setLinkUp(s.netns, s.vxlanName, true);
      note("link", "up", "set " + s.vxlanName + " up");
    }
  }
  return Status::Ok();
}

Status plugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& hostVeth,
                    const std::string& sandboxVeth, uint32_t mtu) {
  auto st = k.createVeth(kernel::kHostNetns, hostVeth, netns, sandboxVeth, mtu);
  if (!st && st.code() == EEXIST)
    return Error{EEXIST, "interface " + hostVeth + " or " + sandboxVeth +
                             " already exists (endpoint ID prefix clash)"};
  if (!st) return ctx(st, "create veth " + hostVeth);
  if (auto m = k.setMaster(netns, sandboxVeth, kBridgeName); !m) {
    k.deleteLink(netns, sandboxVeth);
    return ctx(m, "attach " + sandboxVeth + " to br0");
  }
  if (auto u = k.setLinkUp(netns, sandboxVeth, true); !u) {
    k.deleteLink(netns, sandboxVeth);
    return ctx(u, "set " + sandboxVeth + " up");
  }
  return Status::Ok();
}

Status unplugEndpoint(kernel::Kernel& k, const std::string& netns, const std::string& sandboxVeth,
                      const std::string& retiredName) {
  auto st = k.retireLink(netns, sandboxVeth, retiredName, kRetiredLinkGroup);
  if (!st.okOr(ENOENT)) return ctx(st, "take veth " + sandboxVeth + " out of service");
  return Status::Ok();
}

Status reapRetired(kernel::Kernel& k, const std::string& netns) {
  auto st = k.deleteLinkGroup(netns, kRetiredLinkGroup);
  if (!st.okOr(ENOENT))
    return ctx(st, "delete retired veths in " + (netns.empty() ? "the host namespace" : netns));
  return Status::Ok();
}

}  // namespace weft::driver
