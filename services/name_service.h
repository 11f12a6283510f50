#pragma once
// Names across hosts (issue 12): a container on a weft network reaches a
// container on another host by its name, its network aliases and its
// compose service name, with no per-container flag.
//
// How a name travels:
//   1. this host's engine tells each local endpoint's names (container
//      inspect, engine/engine_client.h): looked up at once after a Join, and
//      again when the engine's event stream (engine/event_stream.h) says a
//      container started, was renamed or was connected to a network; a slow
//      pass (`resync`) re-reads them all in case the stream missed something
//      (every `interval` while the stream is down);
//   2. they go to the control plane as records this host owns
//      (driver::Cluster::publishNames, gossip/daemon/name_records.h) and are
//      withdrawn when the endpoint leaves;
//   3. every host holds its networks' names (services/name_table.h) and
//      answers DNS for them inside each network's sandbox, on kDnsAddress
//      port 53 (UDP, and TCP for answers that do not fit a UDP reply:
//      services/dns_tcp.h), which containers reach through a static route
//      that Join gives them (via the network's gateway, br0 in the sandbox).
//
// Docker's embedded DNS (127.0.0.11 in each container) answers the names it
// knows itself and forwards the others to the daemon's `dns` servers from
// inside the container's namespace: with kDnsAddress first in the daemon's
// `dns` setting, those queries reach the sandbox of the container's weft
// network. The responder answers only the names of that network (a
// container on another network asks another sandbox, which does not know
// them) and answers REFUSED to anything else, so Docker's DNS goes on to the
// next server in `dns` (libnetwork/resolver.go: SERVFAIL and REFUSED move
// to the next external server).
//
// Without the engine (no ENGINE_SOCKET, or the socket does not answer)
// names are off, everything else works, and status() says why.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/ip.h"
#include "driver/cluster.h"
#include "engine/engine_client.h"
#include "engine/event_stream.h"
#include "kernel/fd.h"
#include "kernel/kernel.h"
#include "services/dns_tcp.h"
#include "services/name_table.h"

namespace weft::services {

// The responder's address in every sandbox: link-local, so it is never a
// container's or a host's; the same on every network and host, so one
// daemon setting serves all (`"dns": ["169.254.53.53", ...]`).
inline constexpr const char* kDnsAddress = "169.254.53.53";
inline constexpr uint32_t kNameTtl = 5;  // seconds: a removed name is not cached long

// One local joined endpoint, as the driver knows it.
struct LocalEndpoint {
  std::string networkId;
  std::string identity;  // the network's cluster identity
  std::string endpointId;
  std::string netns;  // the sandbox namespace's name (kernel)
  std::optional<IpAddr> ipv4, ipv6;
};

struct NameConfig {
  std::chrono::milliseconds interval{1000};  // while the event stream is down
  std::chrono::milliseconds resync{30000};   // while it is up: a full re-read
  std::chrono::milliseconds joinPoll{50};    // after a Join, until its names are known
  std::chrono::milliseconds joinWait{10000};
  uint16_t port = 53;
  DnsTcpLimits tcp;
};

struct NamesStatus {
  bool on = false;
  std::string why;  // when off, or when the engine's last answer failed
  struct Net {
    std::string identity;
    std::string netns;
    bool listening = false;
    std::string error;
    size_t localNames = 0, remoteNames = 0;
  };
  std::vector<Net> networks;
  uint64_t answered = 0, refused = 0, malformed = 0, recordsRefused = 0;
  size_t tcpConnections = 0;
  DnsTcpServer::Counters tcp;
};

class NameService : public driver::NameSink {
 public:
  // engine null: names off, for `offReason`.
  NameService(kernel::Kernel& kernel, engine::EngineSource* engine, std::string offReason,
              std::function<std::vector<LocalEndpoint>()> locals, driver::Cluster* cluster, NameConfig cfg);
  ~NameService() override;
  NameService(const NameService&) = delete;
  NameService& operator=(const NameService&) = delete;

  // The control plane, when there is one (set before start()).
  void setCluster(driver::Cluster* c) { cluster_ = c; }
  void start();
  void stop();
  bool on() const { return engine_ != nullptr; }

  // From Join: whether this endpoint's container gets the route to the
  // responder (the first weft endpoint of a container does; a second would
  // clash with the first's route, and Docker would fail the connect).
  bool joined(const std::string& endpointId, const std::string& sandboxKey);
  void left(const std::string& endpointId);

  // driver::NameSink
  void applyNames(const driver::EndpointNames& n, bool active) override;
  void endpointRecord(const driver::EndpointRecord& r, const std::string& owner, bool active) override;
  void resyncNames() override;

  // The reply to one query from a container of the network `identity`
  // (empty: no reply), sized for the transport it came on. The names of
  // `identity` answer; when `from` is the address of a local container on
  // it, so do the names of the container's other weft networks (its queries
  // all reach the sandbox of its first one: one route). The responder's
  // whole logic; tests call it directly.
  std::vector<uint8_t> answer(const std::string& identity, std::span<const uint8_t> query,
                              Transport transport = Transport::kUdp,
                              const std::optional<IpAddr>& from = std::nullopt);
  // The names an endpoint's container has (engine answer -> DNS names that
  // fit one record), in order: container name, service, aliases.
  static std::vector<std::string> namesOf(const engine::ContainerNames& c, const std::string& endpointId);

  // From the engine's event stream: a container's names may have changed
  // (start, rename, network connect: looked up again at once) or it went
  // (die, destroy, disconnect: the next pass). `up`: the stream (re)connected
  // (everything is looked up again) or broke (polling resumes).
  void engineEvent(const engine::EngineEvent& e);
  void engineStream(bool up);

  // One pass of the engine watch: publishes new local endpoints' names,
  // looks up again those of containers an event named (or all, on a
  // resync), withdraws those that left. The worker's job; tests call it.
  void refresh();
  NamesStatus status() const;
  NameTable& tableForTest() { return table_; }

 private:
  struct Published {
    std::string identity;
    driver::EndpointNames names;
    std::string container;
  };
  struct Listener {
    std::string netns;
    kernel::Fd fd, tcp;
    std::string error;
  };
  void runEngine();
  void runResponder();
  void syncListeners();
  void serve(const std::string& identity, int fd);
  // identity, then the other weft networks of the local container that has
  // address `from` on it. Under mu_.
  std::vector<std::string> networksOfLocked(const std::string& identity,
                                            const std::optional<IpAddr>& from) const;

  kernel::Kernel& kernel_;
  engine::EngineSource* engine_;
  std::string offReason_;
  std::function<std::vector<LocalEndpoint>()> locals_;
  driver::Cluster* cluster_;
  NameConfig cfg_;
  IpAddr dnsAddr_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, wake_ = false;
  NameTable table_;
  std::map<std::string, Published> published_;  // endpoint id -> what went out
  std::set<std::string> staleContainers_;       // named by events since the last pass (bounded below)
  bool resyncAll_ = false;
  bool streamUp_ = false;
  std::map<std::string, std::chrono::steady_clock::time_point> pending_;  // joined, names not known yet
  std::map<std::string, std::string> routes_;      // sandbox key -> endpoint holding the route
  std::map<std::string, std::string> wantListen_;  // identity -> netns
  std::map<std::string, Listener> listeners_;      // identity -> sockets (responder thread's)
  DnsTcpServer tcp_;                               // responder thread's
  size_t tcpConnections_ = 0;                      // copies for status()
  DnsTcpServer::Counters tcpCounters_;
  std::map<std::string, std::string> listenErrors_;  // identity -> "" when listening (for status)
  std::string engineError_;
  std::atomic<uint64_t> answered_{0}, refused_{0}, malformed_{0}, recordsRefused_{0};
  std::thread engineThread_, responderThread_;
};

}  // namespace weft::services
