#pragma once
// FakeKernel: an in-memory model of the kernel objects weft manages, with the
// same errno semantics as NetlinkKernel (see kernel/kernel.h). Used by unit
// tests and by `weft-plugin --fake-kernel`. Thread-safe (one mutex).
//
// Modelled kernel behaviour (pinned by tests/kernel against the real kernel):
//  * every namespace (host included) starts with a "lo" device, down;
//  * deleting a veth end deletes its peer; deleting a namespace deletes its
//    links (and the peers of its veths elsewhere);
//  * a VXLAN device with the same VNI, UDP port and address family as an
//    existing one is EEXIST wherever either lives (they are all created in
//    the host namespace, whose VXLAN socket table the check uses);
//  * a bridge's MTU follows the smallest port MTU (1500 with no ports) until
//    setMtu() is called on the bridge;
//  * setting a link down flushes its neighbour entries, its routes and its
//    IPv6 addresses (keep_addr_on_down=0); removing its last IPv4 address
//    flushes its IPv4 routes; deleting a link removes everything on it;
//  * IPv4 addresses: duplicate = same address and prefix; deleting a primary
//    deletes the secondaries of its subnet. IPv6: duplicate = same address;
//  * routes need their device up (ENETDOWN) and a gateway reachable through an
//    address on an up link (ENETUNREACH); an IPv4 static route to a connected
//    prefix is EEXIST; listRoutes() lists only the routes added through the
//    shim (not kernel-made connected routes);
//  * setMaster: missing master ENODEV, a non-bridge master EOPNOTSUPP, a bridge
//    or lo as a port EINVAL; deleteLink("lo") EOPNOTSUPP;
//  * echo (ICMP) from a namespace: to an address of the namespace answered
//    when lo is up; otherwise routed by connected prefix of an up link, then
//    by routes (none: ENETUNREACH); larger than that device's MTU: EMSGSIZE;
//    through a VXLAN device it needs the neighbour and FDB entries and a
//    remote VTEP set with setRemoteVtep (else lost); any other device: lost;
//  * known sysctls only (others ENOENT); integer values; net/ipv4/ip_forward
//    is conf/all/forwarding and writing it sets every conf/*/forwarding.
// Not modelled: bridge MAC inheritance from ports, traffic other than echo, DAD.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "kernel/kernel.h"

namespace weft::kernel {

class FakeKernel : public Kernel {
 public:
  explicit FakeKernel(std::string netnsDir);

  // --- test controls (not part of Kernel) ---
  void setUnderlayMtu(uint32_t mtu);
  // The next call of method `op` (e.g. "createVeth") fails with `err` and
  // changes nothing. Several calls queue up.
  void failNext(const std::string& op, int err);
  // The namespace stays alive with everything in it, but no file reaches it
  // any more (as when its mounts are gone and something else holds it): it
  // leaves listNetns() and cannot be named, its VXLAN devices still hold
  // their VNIs. Returns its id in the host (see removeUnreachableVxlan).
  Result<int> orphanNetns(const Netns& name);
  // Another host's VTEP at `vtep` (the fake has no other hosts, so by
  // default nothing sent to a VTEP comes back): echo probes encapsulated
  // towards it come back when the underlay packet (probe + 50 bytes of VXLAN
  // over IPv4, 70 over IPv6) is at most `maxUnderlayPacket`; 0 forgets it.
  void setRemoteVtep(const std::string& vtep, uint32_t maxUnderlayPacket);
  // While muted, changes wake no watcher (as if their notifications were
  // lost): what a watcher does without them can be tested.
  void muteWatches(bool muted);
  // Echo probes sent so far (all namespaces).
  uint64_t echoesSent() const;

  Status probe() override;
  Status createNetns(const Netns& name) override;
  Status deleteNetns(const Netns& name) override;
  Result<std::vector<Netns>> listNetns() override;
  std::string netnsPath(const Netns& name) const override;

  Status createBridge(const Netns& ns, const std::string& name, uint32_t mtu) override;
  Status createVeth(const Netns& ns, const std::string& name, const Netns& peerNs,
                    const std::string& peerName, uint32_t mtu) override;
  Status createVxlan(const VxlanSpec& spec, const Netns& targetNs) override;
  Status deleteLink(const Netns& ns, const std::string& name) override;
  Result<int> removeUnreachableVxlan(const std::string& name, uint32_t vni, uint16_t port) override;
  Status retireLink(const Netns& ns, const std::string& name, const std::string& newName,
                    uint32_t group) override;
  Status deleteLinkGroup(const Netns& ns, uint32_t group) override;
  Status setLinkUp(const Netns& ns, const std::string& name, bool up) override;
  Status setMtu(const Netns& ns, const std::string& name, uint32_t mtu) override;
  Status setMaster(const Netns& ns, const std::string& name, const std::string& master) override;
  Result<LinkInfo> getLink(const Netns& ns, const std::string& name) override;
  Result<std::vector<LinkInfo>> listLinks(const Netns& ns) override;

  Status addAddress(const Netns& ns, const std::string& dev, const std::string& cidr) override;
  Status delAddress(const Netns& ns, const std::string& dev, const std::string& cidr) override;
  Result<std::vector<std::string>> listAddresses(const Netns& ns, const std::string& dev) override;
  Status addRoute(const Netns& ns, const Route& route) override;
  Status delRoute(const Netns& ns, const Route& route) override;
  Result<std::vector<Route>> listRoutes(const Netns& ns) override;

  Status addFdb(const Netns& ns, const FdbEntry& e, FdbAdd how) override;
  Status replaceFdb(const Netns& ns, const FdbEntry& e) override;
  Status delFdb(const Netns& ns, const FdbEntry& e) override;
  Result<std::vector<FdbEntry>> listFdb(const Netns& ns, const std::string& dev) override;
  Status addNeigh(const Netns& ns, const NeighEntry& e) override;
  Status replaceNeigh(const Netns& ns, const NeighEntry& e) override;
  Status delNeigh(const Netns& ns, const NeighEntry& e) override;
  Result<std::vector<NeighEntry>> listNeigh(const Netns& ns, const std::string& dev) override;

  // Watchers are woken by every operation that may change their namespace;
  // bound to the namespace itself (one deleted and re-created under the same
  // name is another), like the kernel's.
  Result<ChangeWatchPtr> watchChanges(const Netns& ns) override;

  Result<uint32_t> underlayMtu(const std::string& localAddr) override;

  Result<std::vector<EchoResult>> echo(const Netns& ns, const std::vector<EchoProbe>& probes,
                                       std::chrono::milliseconds timeout) override;

  Status setSysctl(const Netns& ns, const std::string& key, const std::string& value) override;
  Result<std::string> getSysctl(const Netns& ns, const std::string& key) override;

  Status setServiceVips(const std::string& netnsPath, const std::string& tag,
                        const std::vector<ServiceVip>& vips) override;
  // Tests: the VIP table weft-svc-<tag> in the namespace whose file is
  // netnsPath (nullopt: no such table or namespace).
  std::optional<std::vector<ServiceVip>> serviceVips(const std::string& netnsPath,
                                                     const std::string& tag) const;

  Status addXfrmState(const XfrmState& s) override;
  Status delXfrmState(const XfrmState& s) override;
  Result<std::vector<XfrmState>> listXfrmStates() override;
  Status addXfrmPolicy(const XfrmPolicy& p) override;
  Status updateXfrmPolicy(const XfrmPolicy& p) override;
  Status delXfrmPolicy(const XfrmPolicy& p) override;
  Result<std::vector<XfrmPolicy>> listXfrmPolicies() override;
  // Tests: the counters the SA to `dst` with `spi` reports from now on, as
  // if it had carried that traffic (an SA starts at 0 when added). ENOENT
  // without such an SA.
  Status setXfrmCounters(const std::string& dst, uint32_t spi, const XfrmCounters& c);

 private:
  struct Link {
    LinkInfo info;
    Netns peerNs;               // veth only
    std::string peerName;       // veth only
    bool vxlanV6 = false;       // vxlan only: IPv6 local address
    bool mtuByUser = false;     // bridge only
    std::vector<Prefix> addrs;  // in the order added
  };
  struct StoredRoute {
    Prefix dst;
    std::optional<IpAddr> gateway;
    std::string dev;  // resolved device
  };
  struct Namespace {
    std::map<std::string, Link> links;
    int nextIfindex = 2;
    std::vector<StoredRoute> routes;
    std::set<FdbEntry> fdb;
    std::map<std::pair<std::string, IpAddr>, NeighEntry> neigh;  // (dev, ip)
    std::map<std::string, std::string> sysctls;                  // values written
    std::map<std::string, std::vector<ServiceVip>> vipTables;    // tag -> VIPs
    uint64_t id = 0;                                             // which namespace (watchers)
  };
  struct WatchState;  // one watcher's eventfd and namespace (fake_kernel_watch.cc)

  std::optional<Error> takeFault(const std::string& op);
  Result<Namespace*> nsLocked(const std::string& op, const Netns& ns);
  Result<Link*> linkLocked(const std::string& op, Namespace& n, const std::string& name);
  std::string nextMac();
  Link& addLinkLocked(Namespace& n, const std::string& name, LinkKind kind, uint32_t mtu);
  void removeLinkLocked(const Netns& ns, const std::string& name);
  void bridgeAutoMtuLocked(Namespace& n, const std::string& bridge);
  void flushOnDownLocked(Namespace& n, Link& l);
  void dropRoutesLocked(Namespace& n, const std::string& dev, int family);
  std::optional<std::string> connectedDevLocked(const Namespace& n, const IpAddr& ip,
                                                const std::string& dev) const;
  // Wakes the watchers of namespace `ns` (see FAKE_CHANGE).
  void notifyLocked(const Netns& ns);
  bool sysctlKnownLocked(const Namespace& n, const std::string& key, std::string* deflt) const;

  mutable std::mutex mu_;
  std::string netnsDir_;
  std::map<Netns, Namespace> namespaces_;  // orphans under kOrphanKey + their id
  int nextNsid_ = 0;
  uint64_t nextNsIdentity_ = 1;
  std::vector<std::weak_ptr<WatchState>> watches_;
  bool watchesMuted_ = false;
  std::map<std::string, std::deque<int>> faults_;
  uint64_t macSeed_ = 0x5745465400000000ull;  // "WEFT"
  uint32_t underlayMtu_ = 1500;
  std::map<IpAddr, uint32_t> remoteVteps_;  // VTEP -> largest underlay packet that passes
  uint64_t echoesSent_ = 0;
  std::vector<XfrmState> xfrmStates_;
  std::vector<XfrmPolicy> xfrmPolicies_;
};

}  // namespace weft::kernel
