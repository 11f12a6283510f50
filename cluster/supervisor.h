#pragma once
// The plugin side of the control plane: runs the weft-gossip sidecar, is the
// driver's Cluster (local endpoints go out through it) and feeds what the
// sidecar reports into a PeerSink (the driver).
//
// * Process: if the sidecar dies it is restarted with backoff (doubling from
//   backoffInitial to backoffMax, back to the start after it ran healthyAfter);
//   its death never touches the kernel, so established traffic keeps flowing.
// * Liveness: a sidecar that is alive but does nothing (stopped by a signal,
//   deadlocked, spinning) is as useless as a dead one and harder to see. A
//   ready sidecar is pinged every livenessInterval; one that shows no sign
//   of life (a pong, a status, its ready, or taking the next message of its
//   configuration) for livenessDeadline is killed (SIGKILL, by the pid this
//   supervisor started) and restarted like any dead one, with the reason in
//   the log. Pings never wait for room in the channel.
// * Replay: a new sidecar is configured with every published endpoint, one
//   message each, before it joins; what changes until it is ready is sent
//   after.
// * Resync and prune: each ready starts a resync session in the sink; after
//   pruneAfterReady (time for the new sidecar to sync) and every prunePeriod
//   after that, remote endpoints the session did not confirm are pruned.
// * No blocking for callers: publish/withdraw/addSeed only record the desired
//   state and mark the key dirty (one entry per endpoint key, so the queue is
//   bounded by the endpoints and the latest state wins); a sender thread
//   does the IPC. A stopped sidecar stalls that thread, never a Docker call
//   (the driver publishes under its lock).
// * Untrusted input: every message from the sidecar is decoded with
//   validation (cluster/ipc_messages.h); refused ones are counted and logged
//   (rate-limited). Records of networks this host does not carry (no local
//   endpoint published on them) are dropped.

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/desired_set.h"
#include "cluster/ipc_messages.h"
#include "cluster/log_limiter.h"
#include "cluster/sidecar_launcher.h"
#include "common/result.h"
#include "driver/cluster.h"

namespace weft::cluster {

using Millis = std::chrono::milliseconds;

struct SupervisorOptions {
  // The sidecar's configuration; its seeds ("ip" or "ip:port") are the
  // initial ones and get `port` when they have none.
  ipc::ConfigMsg config;
  uint16_t port = 7947;
  Millis backoffInitial{500};
  Millis backoffMax{30000};
  Millis healthyAfter{60000};
  Millis pruneAfterReady{15000};
  Millis prunePeriod{60000};
  // A sidecar's event loop answers a ping within microseconds; 10 s is far
  // beyond any scheduling delay on a loaded host yet well within the time a
  // frozen sidecar's records would otherwise stay stale.
  Millis livenessInterval{1000};
  Millis livenessDeadline{10000};
};

class Supervisor : public driver::Cluster {
 public:
  Supervisor(SupervisorOptions opts, SidecarLauncher& launcher, driver::PeerSink& sink);
  ~Supervisor() override;
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void start();
  void stop();

  // driver::Cluster: never block on the sidecar.
  void publish(const driver::EndpointRecord& r) override;
  void withdraw(const std::string& network, const std::string& endpoint) override;
  void addSeed(const std::string& address) override;
  void publishLease(const driver::LeaseClaim& c) override;
  void withdrawLease(const std::string& pool, uint32_t block) override;
  // Network MTU records travel as endpoint records (driver/network_mtus.h).
  void publishMtu(const driver::EndpointRecord& r) override { publish(r); }
  void withdrawMtu(const std::string& network, const std::string& endpoint) override {
    withdraw(network, endpoint);
  }
  void publishNames(const driver::EndpointNames& n) override;
  void withdrawNames(const std::string& network, const std::string& endpoint) override;
  void publishMcast(const driver::McastAdvert& a) override;
  void withdrawMcast(const std::string& network) override;
  // Where remote multicast advertisements go (none: dropped). Set before start().
  void setMcastSink(driver::McastSink* s) { mcastSink_ = s; }
  // Where remote names go (none: they are dropped). Set before start().
  void setNameSink(driver::NameSink* s) { nameSink_ = s; }

  // The sidecar's view (members, stats, key fingerprint) with `restarts`
  // filled in; an error when it is not running or does not answer in time.
  Result<ipc::StatusEvent> status(Millis timeout);
  int restarts() const;
  // Sidecars killed because they stopped answering (each also a restart).
  int livenessKills() const;
  // The running sidecar's process id; -1 when there is none.
  pid_t sidecarPid() const;
  // Messages from the sidecar refused as malformed, and records dropped
  // because this host does not carry their network.
  uint64_t refusedMessages() const;
  uint64_t droppedRecords() const;
  // Endpoint keys waiting for the sender.
  size_t pendingSends() const;

 private:
  using Key = std::pair<std::string, std::string>;    // network identity, endpoint id
  using LeaseKey = std::pair<std::string, uint32_t>;  // pool, block

  void superviseLoop();
  void senderLoop();
  void prunerLoop();
  void watchdogLoop();
  void aliveLocked() { lastAlive_ = std::chrono::steady_clock::now(); }
  // Starts a sidecar and sends its configuration; false if it could not.
  bool spawn();
  void serve(const SidecarPtr& sidecar);  // until the channel closes
  void handle(const ipc::FromSidecar& m);
  void handleRecord(const ipc::RecordEvent& m);
  void handleLease(const ipc::LeaseEvent& m);
  void handleNames(const ipc::NamesEvent& m);
  void takeNamesSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room);
  void handleMcast(const ipc::McastEvent& m);
  void takeMcastSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room);
  // Under mu_: the lease messages the current sidecar lacks (at most `room`).
  void takeLeaseSendsLocked(std::vector<ipc::ToSidecar>* batch, size_t room);
  void refuse(const std::string& why);
  std::string withPort(const std::string& address) const;

  const SupervisorOptions opts_;
  SidecarLauncher& launcher_;
  driver::PeerSink& sink_;
  LogLimiter refusedLog_{5, std::chrono::seconds(60)};

  mutable std::mutex mu_;
  std::condition_variable cv_;      // state changes: ready, status, stopping
  std::condition_variable sendCv_;  // work for the sender (not to wake the others per publish)
  bool stopping_ = false;
  SidecarPtr sidecar_;  // the current one, null when down
  bool ready_ = false;
  uint64_t readyGen_ = 0;  // bumps at each ready
  int restarts_ = 0;
  // Liveness of the current sidecar: the last sign of life, whether it was
  // killed for lacking one (so it is killed once), the last ping's number.
  std::chrono::steady_clock::time_point lastAlive_;
  bool killedForSilence_ = false;
  int livenessKills_ = 0;
  uint64_t pingSeq_ = 0;
  // Desired state: what every sidecar must know.
  std::map<Key, ipc::Record> published_;
  std::map<std::string, int> carried_;  // network -> published endpoints on it
  // Remote endpoints passed to the sink as active: only their withdrawal is
  // passed on (a withdrawal of anything else is dropped like a record of a
  // network this host does not carry).
  std::set<Key> applied_;
  std::vector<std::string> seeds_;
  // What the current sidecar was told, and the keys where that may differ
  // from published_: one entry per key, so the queue coalesces, and only
  // keys in published_ or told_, so it is bounded by the live state however
  // long the sidecar stalls (an endpoint created and deleted meanwhile
  // leaves nothing behind).
  std::map<Key, ipc::Record> told_;
  std::set<Key> dirty_;
  std::vector<std::string> seedsToSend_;
  std::vector<std::string> refusedSeeds_;  // of the other address family (warned once each)
  // Leases and the names of local endpoints, the same way as endpoints:
  // desired, told, dirty keys.
  DesiredSet<LeaseKey, ipc::Lease> leases_;
  DesiredSet<Key, ipc::Names> names_;
  driver::NameSink* nameSink_ = nullptr;
  // This host's multicast advertisements, by network, the same way.
  DesiredSet<std::string, ipc::Mcast> mcast_;
  driver::McastSink* mcastSink_ = nullptr;
  std::optional<ipc::StatusEvent> lastStatus_;
  uint64_t statusGen_ = 0;
  uint64_t refused_ = 0;
  uint64_t dropped_ = 0;
  std::thread supervisor_;
  std::thread sender_;
  std::thread pruner_;
  std::thread watchdog_;
};

}  // namespace weft::cluster
