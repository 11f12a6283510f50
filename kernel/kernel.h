#pragma once
// The kernel shim: the only way weft touches the kernel. One interface, two
// implementations: NetlinkKernel (real, kernel/netlink_kernel.h) and
// FakeKernel (in-memory, kernel/fake_kernel.h) with the same semantics and
// the same errno values:
//   * creating something that exists           -> EEXIST
//   * deleting/changing something that doesn't -> ENOENT (missing namespace,
//     link, entry); a missing master/peer device -> ENODEV
//   * malformed arguments (bad MAC, CIDR, name) -> EINVAL
// Names of links are at most 15 bytes (IFNAMSIZ-1); longer is EINVAL.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "kernel/service_vips.h"
#include "kernel/types.h"

namespace weft::kernel {

inline constexpr size_t kMaxEchoProbes = 4096;
inline constexpr uint32_t kMinEchoSize = 28;     // IP and ICMP headers, no payload
inline constexpr uint32_t kMaxEchoSize = 65535;  // the largest IPv4 packet
inline constexpr std::chrono::milliseconds kMaxEchoTimeout{10000};

// A subscription to the changes of one namespace's links, addresses and
// neighbour and FDB entries, whoever makes them (weft included): fd() becomes
// readable when notifications arrived; drain() reads them all without
// blocking and says how many (an overflow of the socket's buffer, where
// notifications were lost, counts as one). What changed is not said: a
// watcher compares the whole state again. Real kernel: a NETLINK_ROUTE
// socket bound to RTNLGRP_LINK, RTNLGRP_NEIGH (FDB entries are AF_BRIDGE
// neighbours) and the IPv4/IPv6 address groups inside the namespace; new
// neighbour/FDB entries that are neither permanent nor NOARP (the ARP cache,
// a bridge's learning) are not counted, since weft's own are all permanent.
class ChangeWatch {
 public:
  virtual ~ChangeWatch() = default;
  virtual int fd() const = 0;
  virtual size_t drain() = 0;
};
using ChangeWatchPtr = std::unique_ptr<ChangeWatch>;

class Kernel {
 public:
  virtual ~Kernel() = default;

  // Checks that the kernel supports what weft needs (netns, bridge, veth,
  // vxlan, xfrm). The error names the missing feature and how to get it.
  virtual Status probe() = 0;

  // --- network namespaces (files under <state-dir>/netns) ---
  virtual Status createNetns(const Netns& name) = 0;
  virtual Status deleteNetns(const Netns& name) = 0;
  virtual Result<std::vector<Netns>> listNetns() = 0;
  // Path of the namespace file (what a SandboxKey-style consumer opens).
  virtual std::string netnsPath(const Netns& name) const = 0;

  // --- links ---
  virtual Status createBridge(const Netns& ns, const std::string& name, uint32_t mtu) = 0;
  // Creates a veth pair: `name` in `ns`, `peerName` directly in `peerNs`.
  virtual Status createVeth(const Netns& ns, const std::string& name, const Netns& peerNs,
                            const std::string& peerName, uint32_t mtu) = 0;
  // Creates the VXLAN device in the host namespace (so its UDP socket lives
  // there), then moves it into `targetNs` (no move when targetNs is host).
  virtual Status createVxlan(const VxlanSpec& spec, const Netns& targetNs) = 0;
  virtual Status deleteLink(const Netns& ns, const std::string& name) = 0;
  // Deletes a VXLAN device named `name` with this VNI and UDP port that lives
  // in a network namespace no namespace file of this shim reaches any more
  // (an orphaned sandbox: its mounts gone, the namespace kept alive by
  // something else, so its VTEP still holds the VNI on the host's VXLAN
  // socket). It is found through the ids the host namespace keeps for its
  // peers (RTM_GETNSID) and deleted there (IFLA_TARGET_NETNSID). Returns that
  // namespace's id in the host; ENOENT when there is no such device.
  virtual Result<int> removeUnreachableVxlan(const std::string& name, uint32_t vni, uint16_t port) = 0;
  // Takes a link out of service at once and leaves the slow part of deleting
  // it (the kernel waits for the device's references to go, ~20 ms a veth)
  // to deleteLinkGroup: detaches it from its master, sets it down, renames it
  // to `newName` (freeing its name) and moves it into link group `group`
  // (non-zero). Missing link: ENOENT; `newName` taken: EEXIST.
  virtual Status retireLink(const Netns& ns, const std::string& name, const std::string& newName,
                            uint32_t group) = 0;
  // Deletes every link of group `group` (non-zero) in `ns` in one kernel
  // operation, whatever their number; veth peers elsewhere go with them.
  // No link in the group is fine.
  virtual Status deleteLinkGroup(const Netns& ns, uint32_t group) = 0;
  virtual Status setLinkUp(const Netns& ns, const std::string& name, bool up) = 0;
  virtual Status setMtu(const Netns& ns, const std::string& name, uint32_t mtu) = 0;
  // Empty master detaches.
  virtual Status setMaster(const Netns& ns, const std::string& name, const std::string& master) = 0;
  virtual Result<LinkInfo> getLink(const Netns& ns, const std::string& name) = 0;
  virtual Result<std::vector<LinkInfo>> listLinks(const Netns& ns) = 0;

  // --- addresses and routes ---
  virtual Status addAddress(const Netns& ns, const std::string& dev, const std::string& cidr) = 0;
  virtual Status delAddress(const Netns& ns, const std::string& dev, const std::string& cidr) = 0;
  virtual Result<std::vector<std::string>> listAddresses(const Netns& ns, const std::string& dev) = 0;
  virtual Status addRoute(const Netns& ns, const Route& route) = 0;
  virtual Status delRoute(const Netns& ns, const Route& route) = 0;
  virtual Result<std::vector<Route>> listRoutes(const Netns& ns) = 0;

  // --- forwarding database and neighbours ---
  // FdbAdd::kAppend: NLM_F_APPEND (several destinations for one MAC, used for
  // the all-zero flood MAC); kCreate: a second entry for the MAC is EEXIST.
  virtual Status addFdb(const Netns& ns, const FdbEntry& e, FdbAdd how) = 0;
  // Creates the entry, or points the MAC's existing entry at e.dst instead
  // (a remote endpoint that moved to another VTEP: one call, no EEXIST; the
  // same entry again is fine). Unicast MACs only: a flood or multicast MAC
  // has several destinations (addFdb with kAppend) -> EINVAL.
  virtual Status replaceFdb(const Netns& ns, const FdbEntry& e) = 0;
  // Without e.dst: every destination of the MAC.
  virtual Status delFdb(const Netns& ns, const FdbEntry& e) = 0;
  virtual Result<std::vector<FdbEntry>> listFdb(const Netns& ns, const std::string& dev) = 0;
  virtual Status addNeigh(const Netns& ns, const NeighEntry& e) = 0;
  // Creates the entry, or gives the IP's existing entry on the device e.mac
  // instead (an address that moved to another MAC: one call, no EEXIST).
  virtual Status replaceNeigh(const Netns& ns, const NeighEntry& e) = 0;
  virtual Status delNeigh(const Netns& ns, const NeighEntry& e) = 0;
  virtual Result<std::vector<NeighEntry>> listNeigh(const Netns& ns, const std::string& dev) = 0;

  // --- change notifications ---
  // Watches namespace `ns` (see ChangeWatch); a missing namespace is ENOENT.
  // The watch stays on the namespace it opened, even if the namespace's file
  // is deleted or re-created meanwhile.
  virtual Result<ChangeWatchPtr> watchChanges(const Netns& ns) = 0;

  // --- underlay ---
  // MTU of the host-namespace interface that carries `localAddr` (or of the
  // default-route interface when localAddr is empty).
  virtual Result<uint32_t> underlayMtu(const std::string& localAddr) = 0;

  // --- traffic ---
  // One ICMP/ICMPv6 echo request per probe (size: the whole IP packet) from
  // `ns` (IPv4 with DF; IPv6 never fragmented by the sender: so a packet too
  // large for a link is lost, not fragmented) and waits `timeout` for replies.
  // One result per probe, in order: ok with its round-trip time, lost (not
  // ok, error 0), or refused at send with its errno (EMSGSIZE: larger than
  // the device's MTU; ENETUNREACH: no route). At most kMaxEchoProbes probes
  // of at most kMaxEchoSize bytes (at least kMinEchoSize, IPv6 48), a timeout
  // of at most kMaxEchoTimeout; beyond those EINVAL. Missing namespace ENOENT.
  // Real kernel: ICMP datagram sockets (no CAP_NET_RAW needed); where
  // net.ipv4.ping_group_range of `ns` (it covers ICMPv6 too) lets no group
  // open one (a new namespace), this process's group is allowed there.
  virtual Result<std::vector<EchoResult>> echo(const Netns& ns, const std::vector<EchoProbe>& probes,
                                               std::chrono::milliseconds timeout) = 0;

  // --- sysctls ("net/ipv4/ip_forward" style keys) ---
  virtual Status setSysctl(const Netns& ns, const std::string& key, const std::string& value) = 0;
  virtual Result<std::string> getSysctl(const Netns& ns, const std::string& key) = 0;

  // --- service VIPs (nftables), in a namespace named by its file: a
  // container's SandboxKey, not one of weft's namespaces. Makes the table
  // weft-svc-<tag> hold exactly `vips` (empty: removes it), atomically; see
  // kernel/service_vips.h. ENOENT when netnsPath is not a live network
  // namespace.
  virtual Status setServiceVips(const std::string& netnsPath, const std::string& tag,
                                const std::vector<ServiceVip>& vips) = 0;

  // --- xfrm (host namespace) ---
  virtual Status addXfrmState(const XfrmState& s) = 0;
  virtual Status delXfrmState(const XfrmState& s) = 0;
  virtual Result<std::vector<XfrmState>> listXfrmStates() = 0;
  virtual Status addXfrmPolicy(const XfrmPolicy& p) = 0;
  // Replaces the policy with p's direction and selector (or adds it): how the
  // outbound template moves to a new SA's SPI during a rekey, atomically.
  virtual Status updateXfrmPolicy(const XfrmPolicy& p) = 0;
  virtual Status delXfrmPolicy(const XfrmPolicy& p) = 0;
  virtual Result<std::vector<XfrmPolicy>> listXfrmPolicies() = 0;
};

using KernelPtr = std::unique_ptr<Kernel>;

}  // namespace weft::kernel
