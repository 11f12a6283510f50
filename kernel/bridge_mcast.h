#pragma once
// A bridge's IGMP/MLD snooping, its ports' multicast-router mode, and its
// multicast database (MDB): what multicast pruning (issue 14) reads to learn
// which groups have listeners behind which sandbox ports. A narrow interface
// of its own beside kernel/kernel.h, with a real implementation (netlink:
// IFLA_BR_MCAST_*, IFLA_BRPORT_MULTICAST_ROUTER, RTM_GETMDB) and an
// in-memory one whose "reports" a test makes, run by the same contract
// tests (tests/kernel/contract_bridge_mcast_test.cc). Errors as in
// kernel/kernel.h: missing namespace or link ENOENT, a link that is not a
// bridge (or not a bridge's port) or a value out of range EINVAL.
//
// Found on the real kernel (6.18; tests/kernel/contract_bridge_mcast_test.cc):
//   * a dump's messages are RTM_GETMDB, notifications RTM_NEWMDB;
//   * with snooping on and no querier, a container's join is in the MDB
//     within ms and a leave removes it after the last-member interval
//     (~2 x lastMemberIntervalMs); a deleted port's entries go at once;
//   * with the querier on and its default IGMPv2 queries, an IPv4 join was
//     often (2 runs of 3) not in the MDB 3 s later, IPv6 ones were: a v2
//     query moves the listeners to IGMPv2 (report suppression, v2 leave
//     rules); with IGMPv3/MLDv2 queries joins are in the MDB within a
//     second and every query refreshes them, past the membership interval
//     (ListenersAreRefreshedByAnIgmpV3Querier), which pruning relies on:
//     without a querier nothing refreshes an entry and a quiet listener's
//     entry would expire after the membership interval. A query's
//     listeners answer within the response interval, and after it is turned
//     on the querier's first queries come a startup interval apart (3124 cs
//     unless set), so an entry refreshed by queries needs a membership
//     interval past query + response interval;
//   * intended for pruning, not yet tested with traffic: every port in
//     kPermanent router mode, so the bridge keeps forwarding all multicast
//     to every port (nothing pruned locally) while it learns the MDB.

#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "kernel/kernel.h"

namespace weft::kernel {

// The kernel keeps these timers in centiseconds (USER_HZ): values are whole
// multiples of 10 ms.
inline constexpr uint32_t kMinMcastQueryIntervalMs = 1000;  // the kernel's own floor (Linux 5.17+)
inline constexpr uint32_t kMaxMcastIntervalMs = 3600000;    // an hour: anything longer is a mistake
inline constexpr uint32_t kMinMcastLastMemberIntervalMs = 100;

struct BridgeMcast {
  bool snooping = true;                    // IFLA_BR_MCAST_SNOOPING (kernel default on)
  bool querier = false;                    // IFLA_BR_MCAST_QUERIER (kernel default off)
  uint32_t queryIntervalMs = 125000;       // IFLA_BR_MCAST_QUERY_INTVL
  uint32_t membershipIntervalMs = 260000;  // IFLA_BR_MCAST_MEMBERSHIP_INTVL: an unrefreshed entry's life
  uint32_t queryResponseIntervalMs =
      10000;  // IFLA_BR_MCAST_QUERY_RESPONSE_INTVL: a query's max response time
  // IFLA_BR_MCAST_STARTUP_QUERY_INTVL: between the querier's first queries
  // (a fixed value, not a quarter of the query interval set later).
  uint32_t startupQueryIntervalMs = 31240;  // the kernel default (3124 centiseconds)
  uint32_t lastMemberIntervalMs = 1000;     // IFLA_BR_MCAST_LAST_MEMBER_INTVL: after a leave, per query
  // IFLA_BR_MCAST_IGMP_VERSION (2 or 3) and IFLA_BR_MCAST_MLD_VERSION (1 or
  // 2): the version of the querier's queries. A version-2 IGMP query puts
  // listeners into IGMPv2 compatibility, with its report suppression.
  uint8_t igmpVersion = 2;
  uint8_t mldVersion = 1;
  bool operator==(const BridgeMcast&) const = default;
};

// IFLA_BRPORT_MULTICAST_ROUTER: whether a port gets every multicast frame
// (kPermanent), only when a query was heard on it (kLearn, the default), or
// never as a router (kDisabled).
enum class McastRouter : uint8_t { kDisabled = 0, kLearn = 1, kPermanent = 2 };

// One MDB entry: a group with a listener behind `port` (a bridge port, or
// the bridge itself when its own stack joined).
struct MdbEntry {
  std::string port;
  IpAddr group;
  auto operator<=>(const MdbEntry&) const = default;
};

Status checkBridgeMcast(const std::string& op, const BridgeMcast& c);
// 224.0.0.0/4 or ff00::/8.
bool isMulticastGroup(const IpAddr& a);

class BridgeMulticast {
 public:
  virtual ~BridgeMulticast() = default;
  virtual Status setBridgeMcast(const Netns& ns, const std::string& bridge, const BridgeMcast& c) = 0;
  virtual Result<BridgeMcast> getBridgeMcast(const Netns& ns, const std::string& bridge) = 0;
  // `port` must be enslaved to a bridge.
  virtual Status setPortMcastRouter(const Netns& ns, const std::string& port, McastRouter mode) = 0;
  virtual Result<McastRouter> getPortMcastRouter(const Netns& ns, const std::string& port) = 0;
  // IFLA_BRPORT_ISOLATED (Linux 4.18+): an isolated port forwards only to
  // ports that are not isolated -- what keeps the two encrypted backends'
  // ports of one bridge (the kernel backend's VTEP and the userspace
  // backend's TAP) from passing frames between them. `port` must be
  // enslaved to a bridge.
  virtual Status setPortIsolated(const Netns& ns, const std::string& port, bool isolated) = 0;
  virtual Result<bool> getPortIsolated(const Netns& ns, const std::string& port) = 0;
  // Every group with a listener on the bridge, by port, sorted. Entries of a
  // port that left the bridge (or was deleted) are gone; with snooping off
  // there are none.
  virtual Result<std::vector<MdbEntry>> listMdb(const Netns& ns, const std::string& bridge) = 0;
};
using BridgeMulticastPtr = std::unique_ptr<BridgeMulticast>;

// The real one, for the namespaces of `k` (a NetlinkKernel: its netnsPath).
BridgeMulticastPtr makeNetlinkBridgeMulticast(Kernel& k);

// In memory, over the links of `k` (a FakeKernel): kernel defaults until
// set; a group's listener appears with report(joined) on a port enslaved to
// a bridge with snooping on -- what a container's IGMP/MLD report does.
class FakeBridgeMulticast : public BridgeMulticast {
 public:
  explicit FakeBridgeMulticast(Kernel& k) : k_(k) {}
  Status setBridgeMcast(const Netns& ns, const std::string& bridge, const BridgeMcast& c) override;
  Result<BridgeMcast> getBridgeMcast(const Netns& ns, const std::string& bridge) override;
  Status setPortMcastRouter(const Netns& ns, const std::string& port, McastRouter mode) override;
  Result<McastRouter> getPortMcastRouter(const Netns& ns, const std::string& port) override;
  Status setPortIsolated(const Netns& ns, const std::string& port, bool isolated) override;
  Result<bool> getPortIsolated(const Netns& ns, const std::string& port) override;
  Result<std::vector<MdbEntry>> listMdb(const Netns& ns, const std::string& bridge) override;
  // A listener behind `port` joined (or left) `group`. A port on no bridge
  // or a bridge without snooping records nothing, as the kernel would.
  Status report(const Netns& ns, const std::string& port, const IpAddr& group, bool joined);

 private:
  // Links by (namespace, name, ifindex): a link deleted and made again
  // starts with the kernel's defaults.
  using Key = std::tuple<Netns, std::string, int>;
  Result<Key> bridgeKey(const std::string& op, const Netns& ns, const std::string& bridge);
  Result<Key> portKey(const std::string& op, const Netns& ns, const std::string& port);

  Kernel& k_;
  std::mutex mu_;
  std::map<Key, BridgeMcast> bridges_;
  std::map<Key, McastRouter> ports_;
  std::set<Key> isolated_;
  std::map<Key, std::set<IpAddr>> groups_;  // port -> groups with a listener
};

}  // namespace weft::kernel
