#pragma once
// Service virtual IPs on weft's swarm networks (issue 13). dockerd resolves
// a service's name to its VIP, but builds the load balancer behind it only
// for its own overlay driver; on a plugin network the VIP answers nothing.
// weft fills that gap: for every local container on a swarm network it
// programs, in the container's own network namespace, the VIPs of the
// network's services, each spread over the service's tasks (see
// kernel/service_vips.h), and keeps them in step with the engine.
//
// What it learns from where: Join gives the container's namespace file
// (SandboxKey); the engine (engine/engine_client.h) gives each service's VIP
// and tasks, on workers too, and, after a restart of weft, the namespace of
// containers that joined before. Docker's calls never wait for the engine or
// for programming: a worker thread does both, at once after a Join and every
// `interval` (backends follow scale, updates, dead tasks and lost nodes within
// one interval of the engine knowing).

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "engine/engine_client.h"
#include "kernel/kernel.h"

namespace weft::services {

struct VipConfig {
  std::chrono::milliseconds interval{1000};
  // Where the host's /run is mounted in weft's mount namespace (the managed
  // plugin: /host/run); SandboxKeys under /run or /var/run are found there.
  // Empty: Docker's paths are used as they are (weft on the host).
  std::string hostRunDir;
  // Docker calls Join before the container's namespace exists (runc makes
  // it, dockerd mounts it at SandboxKey just before the container's first
  // process runs): until it appears, weft looks every namespacePoll, so the
  // VIPs are in place before the container's process can use them; a
  // namespace that has not appeared after namespaceWait is given up.
  std::chrono::milliseconds namespacePoll{5};
  std::chrono::milliseconds namespaceWait{60000};
};

// What /weft.Services shows for one network.
struct NetworkServices {
  std::string networkId;
  std::vector<engine::Service> services;
  size_t containers = 0;  // local containers weft programs
  size_t programmed = 0;  // ... whose namespace holds the current VIPs
  std::string error;      // the engine's last answer, when it failed
};

// Limits: local containers tracked (Docker's calls beyond it are refused).
inline constexpr size_t kMaxLocalContainers = 65536;
// Endpoints that left are remembered this long (at most kMaxLocalContainers
// of them): dockerd calls Leave before it removes the endpoint from the
// network, so for a moment its view still lists the container, and weft
// must not adopt it back (its VIPs would stay in the namespace for good).
inline constexpr std::chrono::minutes kLeftMemory{10};

class VipManager {
 public:
  VipManager(kernel::Kernel& kernel, engine::EngineSource& engine, VipConfig cfg);
  ~VipManager();
  VipManager(const VipManager&) = delete;
  VipManager& operator=(const VipManager&) = delete;

  void start();  // the worker thread
  void stop();

  // From Join: the endpoint's container namespace, as Docker spells it.
  // EINVAL for a malformed SandboxKey; never waits for the engine.
  Status joined(const std::string& networkId, const std::string& endpointId, const std::string& sandboxKey);
  // From Leave: the VIPs leave that namespace (soon, by the worker).
  void left(const std::string& endpointId);

  struct RoundResult {
    size_t networks = 0, programmed = 0, failed = 0, engineErrors = 0, adopted = 0, waiting = 0;
  };
  // One pass: removals, then for each network with local containers the
  // engine's view and the namespaces that differ from it. The worker's job;
  // tests call it directly.
  RoundResult refresh();
  // Only the containers whose namespace did not exist yet, against the
  // services already known (no engine call): the worker's fast path.
  RoundResult programWaiting();

  std::vector<NetworkServices> view() const;
  // The table tag of a network (kernel/service_vips.h).
  static std::string tagOf(const std::string& networkId);
  // A SandboxKey as weft sees it (see VipConfig::hostRunDir).
  static Result<std::string> mapSandboxKey(const std::string& key, const std::string& hostRunDir);

 private:
  struct Local {
    std::string networkId;
    std::string nsPath;  // mapped
    std::optional<std::vector<kernel::ServiceVip>> programmed;
    uint64_t gen = 0;
    std::chrono::steady_clock::time_point joinedAt;
    bool waiting = false;  // its namespace did not exist yet
  };
  struct Net {
    std::vector<engine::Service> services;
    bool known = false;
    std::string error;
  };
  struct Removal {
    std::string nsPath, tag;
  };
  // joined(), or (adopting) a container the engine lists and weft has no
  // Join for: EALREADY if that endpoint is known or left (see kLeftMemory).
  Status addLocal(const std::string& networkId, const std::string& endpointId, const std::string& sandboxKey,
                  bool adopting);
  void rememberLeft(const std::string& endpointId);  // mu_ held
  static std::vector<kernel::ServiceVip> desiredOf(const std::vector<engine::Service>& services);
  void run();
  void programDue(bool waitingOnly, RoundResult& res);

  kernel::Kernel& kernel_;
  engine::EngineSource& engine_;
  VipConfig cfg_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false, stop_ = false;
  std::map<std::string, Local> locals_;  // endpoint id -> its container
  std::map<std::string, Net> nets_;      // network id -> the engine's view
  std::vector<Removal> removals_;
  std::map<std::string, std::chrono::steady_clock::time_point> left_;  // endpoint id -> when
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> leftOrder_;
  uint64_t gen_ = 0;
  std::thread thread_;
};

}  // namespace weft::services
