#pragma once
// The driver's domain objects, as persisted: networks and endpoints.

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "driver/network_options.h"

namespace weft::driver {

// One subnet of a network, as Docker's IPAM gave it.
struct Subnet {
  std::string pool;     // "10.0.1.0/24"
  std::string gateway;  // "10.0.1.1/24" (CIDR), may be empty
  bool operator==(const Subnet&) const = default;
};

struct Network {
  std::string id;
  NetworkOptions options;
  std::vector<Subnet> ipv4;
  std::vector<Subnet> ipv6;
  bool internal = false;
  bool enableIpv6 = false;
  std::string identity;  // what makes hosts agree it is one network
  uint32_t vni = 0;
  uint32_t mtu = 0;
  std::string netns;      // sandbox namespace name
  std::string vxlanName;  // VTEP device name (inside the sandbox); unused when encrypted (no VTEP)
  std::set<std::string> endpoints;

  // Whether Docker should attach this network's containers to
  // docker_gwbridge for outside access: not for --internal networks, nor
  // with -o weft.gwbridge=false.
  bool wantsGwbridge() const { return !internal && options.wantsGwbridge(); }
  // Encrypted networks have no VTEP: their port on br0 is the encrypted plane's.
  bool encrypted() const { return options.encrypted; }
};

struct Endpoint {
  std::string id;
  std::string networkId;
  std::string address;      // CIDR as Docker gave it, may be empty
  std::string addressIpv6;  // CIDR, may be empty
  std::string mac;
  bool macChosenByWeft = false;
  // Joined or not is kept by the kernel, not the state file: an endpoint is
  // joined while its sandbox-side veth exists (reconcile reads it back).
  bool joined = false;
  std::string hostVeth;     // returned as SrcName
  std::string sandboxVeth;  // on br0 inside the network sandbox
};

nlohmann::json toJson(const Network& n);
nlohmann::json toJson(const Endpoint& e);
Result<Network> networkFromJson(const nlohmann::json& j);
Result<Endpoint> endpointFromJson(const nlohmann::json& j);

}  // namespace weft::driver
