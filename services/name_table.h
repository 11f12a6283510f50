#pragma once
// The names weft answers for (issue 12, names across hosts): per network
// (its cluster identity, the same on every host), each endpoint's names --
// the container's name, its network aliases, its compose service -- and
// addresses. Local endpoints' names come from this host's engine; remote
// ones from the control plane, where each host writes only the names of
// its own endpoints:
//
//   * a remote name set is answered only while the control plane also holds
//     an active endpoint record of the same network and endpoint, from the
//     same owner, with the same address -- a member that writes names for
//     an endpoint it does not own, or with an address that endpoint does not
//     have, gets nothing answered (and its record is refused when the
//     endpoint is known already);
//   * a name that belongs to several endpoints (a compose service's
//     replicas, a shared alias) answers all their addresses, the order
//     rotated by one at each lookup of that address family (round robin;
//     per family, because a stub resolver asks A and AAAA for each name:
//     one shared turn would move twice per name and, with two replicas,
//     always put the same one first).
//
// Pure and bounded; no I/O (the responder and the engine watch sit around
// it). Not thread-safe: its owner locks.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::services {

inline constexpr size_t kMaxNamesPerEndpoint = 16;
// Name sets held at most, local and remote together.
inline constexpr size_t kMaxNameSets = 65536;

struct NameSet {
  std::string network;   // cluster identity ("subnet:...", "name:...")
  std::string endpoint;  // endpoint id
  std::string owner;     // node id; empty for this host's own
  std::optional<IpAddr> ipv4, ipv6;
  std::vector<std::string> names;  // valid DNS names, lower case, unique
  bool operator==(const NameSet&) const = default;
};

// Checks and normalises a name set's names: each a valid DNS name (lower-
// cased here), duplicates dropped, at most kMaxNamesPerEndpoint; at least
// one address. EINVAL naming the first fault.
Status normaliseNameSet(NameSet& s);

class NameTable {
 public:
  // This host's endpoints (owner empty): replaces the endpoint's names.
  Status putLocal(NameSet s);
  // A remote name set (owner set). EPERM when the endpoint is known to
  // belong to another owner or to have another address; ENOSPC past
  // kMaxNameSets; EINVAL for a malformed set.
  Status putRemote(NameSet s);
  void remove(const std::string& network, const std::string& endpoint);
  // What the control plane says of endpoint records (owner and addresses).
  void endpointSeen(const std::string& network, const std::string& endpoint, const std::string& owner,
                    const std::optional<IpAddr>& ipv4, const std::optional<IpAddr>& ipv6, bool active);
  // A new control-plane session: remote name sets and endpoints are
  // reported again from scratch.
  void clearRemote();

  // The addresses of `name` on `network` (rotated by one per call), or
  // nullopt when the network has no such name.
  // `turn`: whose round robin moves on (the family asked; kNone for a
  // query of another type).
  enum class Turn { kBoth, kV4, kV6, kNone };
  std::optional<std::vector<IpAddr>> lookup(const std::string& network, const std::string& name,
                                            Turn turn = Turn::kBoth);
  // Every name set of a network (weftctl, tests), with whether it answers.
  std::vector<std::pair<NameSet, bool>> sets(const std::string& network) const;
  size_t size() const { return sets_.size(); }

 private:
  using Key = std::pair<std::string, std::string>;  // network, endpoint
  struct Seen {
    std::string owner;
    std::optional<IpAddr> ipv4, ipv6;
  };
  bool answers(const Key& k, const NameSet& s) const;
  Status put(NameSet s, bool remote);
  void unindex(const Key& k);

  std::map<Key, NameSet> sets_;
  std::map<Key, Seen> seen_;  // active remote endpoint records
  std::map<std::pair<std::string, std::string>, std::set<std::string>>
      index_;  // (network, name) -> endpoints
  struct Turns {
    uint64_t v4 = 0, v6 = 0;
  };
  std::map<std::pair<std::string, std::string>, Turns> turn_;  // round robin per name and family
};

}  // namespace weft::services
