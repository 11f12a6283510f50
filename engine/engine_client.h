#pragma once
// What weft reads from the Docker engine's own API (GET only), through the
// engine's unix socket: a swarm network's services with their virtual IPs
// and tasks, the local containers attached to it, and a container's
// network namespace file. The engine is another program's answer, so it is
// checked as input: bounded size and nesting, typed fields, parsed
// addresses; anything malformed is an error that changes nothing.
//
// Why the engine: on every swarm node it knows each service's VIP and all of
// its tasks on a network, also on a plugin network and on workers (dockerd
// shares them between nodes itself), but it builds the load balancer behind
// a VIP only for its own overlay driver.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "common/unix_http_client.h"

namespace weft::engine {

struct Service {
  std::string name;
  std::optional<IpAddr> vip;     // none: --endpoint-mode dnsrr
  std::vector<IpAddr> backends;  // the tasks' addresses on the network, sorted, unique
  bool operator==(const Service&) const = default;
};

struct NetworkView {
  std::vector<Service> services;  // by name
  // Local containers on the network: endpoint id -> container id.
  std::map<std::string, std::string> containers;
};

// What names a container has, per endpoint (issue 12, names across hosts):
// its name, its compose service (label com.docker.compose.service), and for
// each of its endpoints the aliases and DNS names the engine gave it on
// that network. Untrusted like all the engine says: only strings are taken,
// and at most kMaxAliases per endpoint, kMaxEndpointsPerContainer
// endpoints; names are checked as DNS names by whoever uses them.
struct ContainerNames {
  std::string name;                                         // without Docker's leading '/'
  std::string service;                                      // the compose service, or empty
  std::map<std::string, std::vector<std::string>> aliases;  // endpoint id -> aliases and DNS names
};
inline constexpr size_t kMaxAliases = 64;
inline constexpr size_t kMaxEndpointsPerContainer = 256;
inline constexpr size_t kMaxEngineName = 255;

// Limits on what one answer may hold.
inline constexpr size_t kMaxResponseBytes = 16u << 20;
inline constexpr size_t kMaxJsonDepth = 32;
inline constexpr size_t kMaxServices = 4096;
inline constexpr size_t kMaxTasksPerService = 4096;

// Pure decoders (unit-tested and fuzzable): the body of
// GET /networks/{id}?verbose=true and of GET /containers/{id}/json.
Result<NetworkView> parseNetworkView(const std::string& body);
Result<std::string> parseSandboxKey(const std::string& body);
Result<ContainerNames> parseContainerNames(const std::string& body);

// The engine, as the VIP manager needs it (an interface so that tests can
// stand in for the engine).
class EngineSource {
 public:
  virtual ~EngineSource() = default;
  virtual Result<NetworkView> network(const std::string& networkId) = 0;
  virtual Result<std::string> sandboxKey(const std::string& containerId) = 0;
  virtual Result<ContainerNames> containerNames(const std::string& containerId) {
    (void)containerId;
    return Error{ENOSYS, "this engine source tells no names"};
  }
};

class EngineClient : public EngineSource {
 public:
  // timeoutMs bounds each wait for the engine's answer.
  explicit EngineClient(std::string socketPath, int timeoutMs = 3000);
  Result<NetworkView> network(const std::string& networkId) override;
  Result<std::string> sandboxKey(const std::string& containerId) override;
  Result<ContainerNames> containerNames(const std::string& containerId) override;
  const std::string& socketPath() const { return path_; }

 private:
  Result<std::string> getJson(const std::string& what, const std::string& path);
  std::string path_;
  std::mutex mu_;  // one connection, one request at a time
  UnixHttpClient http_;
};

}  // namespace weft::engine
