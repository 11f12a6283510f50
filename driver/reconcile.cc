// Start-up reconcile: the kernel is brought in line with the persisted state.
// What matches is adopted, what drifted is repaired, what is stale (objects
// of networks or endpoints that no longer exist) is removed.

#include <algorithm>

#include "common/log.h"
#include "driver/driver.h"
#include "driver/health_netns.h"
#include "driver/names.h"
#include "driver/sandbox.h"

namespace weft::driver {

namespace {
bool startsWith(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
}  // namespace

Status Driver::reconcileNetworkLocked(Network& n, std::vector<std::string>* did) {
  // 1. The sandbox.
  if (auto st = reconcileSandbox(kernel_, sandboxSpecLocked(n), did); !st)
    return Error{st.code(), "restoring network " + n.id.substr(0, 12) + ": " + st.error().message};
  // 1b. An encrypted network's port (the plane adopts a TAP that survived).
  if (auto st = attachEncryptedLocked(n); !st)
    return Error{st.code(), "restoring network " + n.id.substr(0, 12) + ": " + st.error().message};
  // 2. Endpoints: joined is whatever the kernel says -- an endpoint whose
  //    sandbox-side veth exists is joined (adopted and repaired), one whose
  //    veth vanished (its container died while weft was down) is not.
  for (const auto& eid : n.endpoints) {
    Endpoint& e = endpoints_.at(eid);
    auto l = kernel_.getLink(n.netns, e.sandboxVeth);
    e.joined = l.ok();
    if (!l.ok()) continue;
    if (l->master != kBridgeName) {
      kernel_.setMaster(n.netns, e.sandboxVeth, kBridgeName);
      did->push_back("re-attached " + e.sandboxVeth + " to br0");
    }
    if (!l->up) {
      kernel_.setLinkUp(n.netns, e.sandboxVeth, true);
      did->push_back("set " + e.sandboxVeth + " up");
    }
  }
  // 3. Stale veths inside the sandbox.
  auto links = kernel_.listLinks(n.netns);
  if (!links.ok())
    return Error{links.code(), "restoring network " + n.id.substr(0, 12) + ": " + links.error().message};
  for (const auto& l : *links) {
    if (!startsWith(l.name, kSandboxVethPrefix)) continue;
    bool known = std::any_of(n.endpoints.begin(), n.endpoints.end(), [&](const std::string& eid) {
      const Endpoint& e = endpoints_.at(eid);
      return e.joined && e.sandboxVeth == l.name;
    });
    if (!known) {
      kernel_.deleteLink(n.netns, l.name);
      did->push_back("removed stale veth " + l.name + " from " + n.netns);
    }
  }
  return Status::Ok();
}

Status Driver::reconcileLocked(ReconcileReport* report) {
  auto& did = report->actions;
  // 0. Veths retired before a restart and never reaped.
  for (const auto& [id, n] : networks_) driver::reapRetired(kernel_, n.netns);
  driver::reapRetired(kernel_, kernel::kHostNetns);
  // 1-3. Each known network on its own: one that cannot be restored is
  //      reported and retried (repairFaulted), and does not keep weft from
  //      serving the others.
  for (auto& [id, n] : networks_) {
    if (auto st = reconcileNetworkLocked(n, &did); !st) {
      markFaultyLocked(n, st.error().message);
      report->faults[id] = st.error().message;
    } else if (!n.encrypted()) {
      peers_.attach(n.identity, {n.netns, n.vxlanName});
    }
  }
  // 4. Stale sandboxes: namespaces of networks deleted while weft was down.
  auto nsList = kernel_.listNetns();
  if (!nsList.ok()) return nsList.error();
  for (const auto& ns : *nsList) {
    if (!startsWith(ns, kNetnsPrefix) || ns == kHealthNetns) continue;  // the prober's own
    bool known = std::any_of(networks_.begin(), networks_.end(),
                             [&](const auto& kv) { return kv.second.netns == ns; });
    if (known) continue;
    if (auto links = kernel_.listLinks(ns); links.ok())
      for (const auto& l : *links)
        if (l.kind == kernel::LinkKind::kVxlan) kernel_.deleteLink(ns, l.name);
    if (auto st = kernel_.deleteNetns(ns); !st.okOr(ENOENT))
      return Error{st.code(), "removing stale namespace " + ns + ": " + st.error().message};
    did.push_back("removed stale sandbox " + ns);
  }
  // 5. Strays in the host namespace: VTEPs that never reached their sandbox,
  //    host ends of veths that Docker never took.
  auto host = kernel_.listLinks(kernel::kHostNetns);
  if (!host.ok()) return host.error();
  for (const auto& l : *host) {
    bool stray = false;
    if (startsWith(l.name, kVxlanPrefix) && l.kind == kernel::LinkKind::kVxlan) stray = true;
    if (startsWith(l.name, kHostVethPrefix) && l.kind == kernel::LinkKind::kVeth) {
      stray = !std::any_of(endpoints_.begin(), endpoints_.end(),
                           [&](const auto& kv) { return kv.second.joined && kv.second.hostVeth == l.name; });
    }
    if (stray) {
      kernel_.deleteLink(kernel::kHostNetns, l.name);
      did.push_back("removed stray " + l.name + " from the host namespace");
    }
  }
  for (const auto& a : did) LOG_INFO("reconcile", a);
  return Status::Ok();
}

}  // namespace weft::driver
