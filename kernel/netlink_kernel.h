#pragma once
// NetlinkKernel: the real kernel shim (libmnl; NETLINK_ROUTE and
// NETLINK_XFRM). The netlink code has three tiers: messages built and
// decoded by pure functions (kernel/nl_msg_*.h, checked byte for byte), one
// socket type that only transports them (kernel/nl_socket.h), and this class,
// which orchestrates: validates arguments, resolves names to indexes, sends,
// and keeps the errno contract. Semantics and errno values are those of
// kernel/kernel.h and match FakeKernel; where the kernel's own errno differs
// it is translated:
//   * ENODEV for a missing link (RTM_GET/DEL/NEWLINK)      -> ENOENT
//     (a missing *master* stays ENODEV)
//   * EADDRNOTAVAIL deleting a missing address             -> ENOENT
//   * ESRCH deleting a missing route or xfrm state         -> ENOENT
// Checks done in userspace before the kernel sees a request (so the answer
// does not depend on kernel version): argument validation (kernel/validate.h,
// EINVAL), missing namespace/link (ENOENT), FDB only on vxlan devices
// (EINVAL), an appended FDB destination that already exists (EEXIST; the
// kernel would silently accept it), deleting an FDB destination that is not
// there (ENOENT; the kernel answers 0 when the MAC has other destinations),
// a bridge or lo as a bridge port (the kernel's EINVAL, kept).
//
// Namespaces are files <netnsDir>/<name> holding a bind mount of the
// namespace (and, with a keep directory, a second one in <keepDir>/<name>:
// see adoptKeptNamespaces); they are created from a short-lived thread that unshare()s, and
// talked to through one cached NETLINK_ROUTE socket per namespace opened by a
// short-lived thread that setns()ed into it. Each socket keeps the index and
// kind of the links neighbour and FDB entries go on (kernel/link_cache.h), so
// that programming a remote endpoint is one round trip per entry: a
// neighbour and an FDB entry, replaced in place when they exist (no dump, no
// delete-and-retry). Listing functions report only
// what weft manages: routes of protocol "static" in the main table,
// permanent neighbour entries, FDB entries with a remote (NTF_SELF), global
// addresses (not IPv6 link-local), ESP transport states with
// rfc4106(gcm(aes)), and policies with a UDP selector and an ESP template.

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/ip.h"
#include "kernel/kernel.h"
#include "kernel/netns_util.h"

namespace weft::kernel {

namespace nl {
class Socket;
struct LinkRecord;
}  // namespace nl
class LinkCache;
struct LinkRef;

class NetlinkKernel : public Kernel {
 public:
  // Creates netnsDir (and parents) if missing. Must be constructed on a
  // thread in the host network namespace.
  explicit NetlinkKernel(std::string netnsDir, std::string keepDir = "");
  ~NetlinkKernel() override;

  // The keep directory holds a second bind mount of every namespace, on a
  // mount that whoever unmounts netnsDir leaves alone. It exists for the
  // managed plugin: `docker plugin disable` (so every upgrade) unmounts
  // everything under the plugin's directory, netnsDir included, which would
  // end every namespace and with it the traffic of running containers.
  // Called once at start-up, before anything else: binds each kept namespace
  // whose netnsDir mount is gone back into netnsDir, gives each namespace in
  // netnsDir without a kept twin one, and removes kept files that hold no
  // namespace (left by a reboot). Without a keep directory it does nothing.
  struct KeepReport {
    int restored = 0;  // netnsDir mounts put back from the keep directory
    int kept = 0;      // twins made for namespaces that had none
  };
  Result<KeepReport> adoptKeptNamespaces();

  // Creates bridge, veth and vxlan devices and an ESP rfc4106(gcm(aes)) SA in
  // a throwaway namespace, then a namespace mount under netnsDir. When only
  // the encryption part is missing (no xfrm_user/esp4/gcm) the error code is
  // EPROTONOSUPPORT, so a caller may still run unencrypted networks.
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

  Result<ChangeWatchPtr> watchChanges(const Netns& ns) override;

  Result<uint32_t> underlayMtu(const std::string& localAddr) override;

  Result<std::vector<EchoResult>> echo(const Netns& ns, const std::vector<EchoProbe>& probes,
                                       std::chrono::milliseconds timeout) override;

  Status setSysctl(const Netns& ns, const std::string& key, const std::string& value) override;
  Result<std::string> getSysctl(const Netns& ns, const std::string& key) override;

  Status setServiceVips(const std::string& netnsPath, const std::string& tag,
                        const std::vector<ServiceVip>& vips) override;

  Status addXfrmState(const XfrmState& s) override;
  Status delXfrmState(const XfrmState& s) override;
  Result<std::vector<XfrmState>> listXfrmStates() override;
  Status addXfrmPolicy(const XfrmPolicy& p) override;
  Status updateXfrmPolicy(const XfrmPolicy& p) override;
  Status delXfrmPolicy(const XfrmPolicy& p) override;
  Result<std::vector<XfrmPolicy>> listXfrmPolicies() override;

  // Netlink round trips (a request and its answer, or a whole dump) made so
  // far by this shim, all namespaces together. For benchmarks and for tests
  // that pin down what an operation costs.
  uint64_t roundTrips() const { return roundTrips_.load(std::memory_order_relaxed); }

 private:
  using SocketPtr = std::shared_ptr<nl::Socket>;
  using LinkCachePtr = std::shared_ptr<LinkCache>;
  // The NETLINK_ROUTE socket of one namespace and what is known of its links.
  struct NsConn {
    SocketPtr sock;
    LinkCachePtr links;
    nl::Socket* operator->() const { return sock.get(); }
    nl::Socket& operator*() const { return *sock; }
  };
  struct CachedSocket {
    NsConn conn;
    dev_t dev = 0;
    ino_t ino = 0;  // identity of the namespace the socket lives in
  };

  // An fd of the namespace (ENOENT when it is not a live namespace).
  Result<Fd> nsFd(const Netns& ns, const std::string& op) const;
  // The cached NETLINK_ROUTE socket of a namespace (ENOENT when missing).
  Result<NsConn> routeSocket(const Netns& ns, const std::string& op);
  Result<SocketPtr> xfrmSocket();
  void dropSocket(const Netns& ns);
  // Drops what the cache of `ns` (if it has a socket) knows of link `name`.
  void forgetLink(const Netns& ns, const std::string& name);
  // One RTM_GETLINK, by name (index 0) or by index. ENOENT when missing.
  Result<nl::LinkRecord> queryLink(nl::Socket& sock, const std::string& name, int index,
                                   const std::string& op);
  // queryLink plus the master's name (a second round trip when it has one).
  Result<LinkInfo> queryLinkWithMaster(nl::Socket& sock, const std::string& name, int index,
                                       const std::string& op);
  Result<int> ifIndex(nl::Socket& sock, const std::string& name, const std::string& op);
  // Index and kind of a link from the namespace's cache, looked up on a miss.
  Result<LinkRef> linkRef(const NsConn& conn, const std::string& name, const std::string& op, bool* cached);
  // Runs `send` with the link's index and kind; when a cached index turns out
  // stale (ENODEV), forgets it and runs `send` once more with a fresh one.
  Status withLink(const NsConn& conn, const std::string& name, const std::string& op,
                  const std::function<Status(const LinkRef&)>& send);
  // Whether the FDB of `index` holds exactly this MAC -> destination: one
  // lookup of the MAC when it is unicast, else a dump of that one device.
  Result<bool> hasFdb(nl::Socket& sock, int index, const MacAddr& mac, const IpAddr& dst,
                      const std::string& op);
  Status deleteLinkWith(nl::Socket& sock, const std::string& name, const std::string& op);
  Status createNetnsAt(const std::string& path);

  std::string netnsDir_;
  std::string keepDir_;  // empty: no second mount
  Fd hostNs_;
  std::mutex nsMu_;    // serializes namespace create/delete
  std::mutex sockMu_;  // guards sockets_ and xfrm_
  std::map<Netns, CachedSocket> sockets_;
  SocketPtr xfrm_;
  std::atomic<uint64_t> roundTrips_{0};
};

}  // namespace weft::kernel
