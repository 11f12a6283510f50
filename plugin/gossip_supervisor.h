#pragma once
// Runs the weft-gossip sidecar as a child process and is the driver's
// Cluster: publishes local endpoints through it, feeds remote ones back into
// the driver. If the sidecar dies it is restarted with backoff (0.5 s
// doubling to 30 s); its death never touches the kernel, so established
// traffic keeps flowing. After a (re)start, every published record is sent
// again and, once the new sidecar had time to sync, entries no record
// accounts for are pruned.

#include <sys/types.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "driver/cluster.h"
#include "driver/driver.h"

namespace weft::plugin {

struct GossipOptions {
  std::string binary;              // path of weft-gossip
  std::string id;                  // node id (the advertise address)
  std::string bind;                // "ip:port"
  std::string advertise;           // "ip:port"
  uint16_t port = 7947;            // for seeds given without a port
  std::vector<std::string> seeds;  // "ip" or "ip:port"
  std::vector<std::string> keys;   // base64, primary first
  std::string label = "weft";
  std::string logLevel = "info";
  int pruneAfterReadyMs = 15000;
  int prunePeriodMs = 60000;
};

class GossipSupervisor : public driver::Cluster {
 public:
  GossipSupervisor(GossipOptions opts, driver::Driver& driver);
  ~GossipSupervisor() override;

  void start();
  void stop();

  void publish(const driver::EndpointRecord& r) override;
  void withdraw(const std::string& network, const std::string& endpoint) override;
  void addSeed(const std::string& address) override;

  // The sidecar's view: members, stats, key fingerprint (plus restarts).
  Result<nlohmann::json> status(int timeoutMs);
  int restarts() const;

 private:
  void supervise();
  void prunerLoop();
  bool spawn();
  void serve(int fd);
  void sendLocked(const nlohmann::json& m);
  std::string withPort(const std::string& a) const;

  GossipOptions opts_;
  driver::Driver& driver_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int fd_ = -1;  // channel to the current sidecar, -1 when down
  pid_t child_ = -1;
  bool ready_ = false;
  int restarts_ = 0;
  uint64_t readyGen_ = 0;  // bumps at each ready
  std::map<std::pair<std::string, std::string>, nlohmann::json> published_;
  std::map<std::pair<std::string, std::string>, nlohmann::json> sentInConfig_;
  std::vector<std::string> seeds_;
  std::optional<nlohmann::json> lastStatus_;
  uint64_t statusGen_ = 0;
  std::thread supervisor_;
  std::thread pruner_;
};

}  // namespace weft::plugin
