#pragma once
// Data-plane health: does VXLAN actually carry packets to each peer host,
// at small size and at the network's MTU? Gossip can reach a host whose
// UDP 4789 a firewall drops, and an underlay link with a smaller MTU drops
// every full-size packet while pings pass (an MTU black hole); neither shows
// in the control plane.
//
// Every round (weft-plugin: every 2 s) the prober sends, from the health
// namespace (driver/health_netns.h) through the host's VXLAN socket and
// port, two ICMP (ICMPv6 on an IPv6 underlay) echo requests to each peer
// host: one small (84 bytes) and
// one the size of the largest MTU of the networks the two hosts share, both
// with DF set. Peers are the hosts this host shares a network with (those
// with at least one endpoint on a network this host carries: the data paths
// that are in use; Driver::dataPlanePeers) -- per host pair, not per
// endpoint, so the cost does not grow with the endpoints. A peer's state:
//   * pending      -- fewer than failAfter rounds and no answer yet
//   * ok           -- a small probe answered within the last failAfter rounds
//                     and so did the MTU probe
//   * vxlan-fails  -- no small probe answered in failAfter rounds in a row
//   * mtu-fails    -- small probes answer, but no MTU-sized one did in
//                     failAfter rounds in a row
// One answered round clears a failure. failAfter (3) rounds keep a lossy
// underlay (10 % loss loses ~19 % of round trips) from raising false alarms.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/histogram.h"
#include "common/result.h"
#include "driver/health_netns.h"
#include "kernel/kernel.h"

namespace weft::driver {

inline constexpr uint32_t kDefaultHealthVni = 4095;  // the highest VNI weft gives networks
inline constexpr size_t kMaxProbedPeers = 1024;      // peers probed per round; the rest are reported
inline constexpr uint32_t kSmallProbeSize = 84;      // what ping sends by default

struct ProberConfig {
  HealthNetSpec net;  // vni (non-zero), port, self (IPv4 or IPv6)
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds timeout{1000};  // per round, for every probe at once
  int failAfter = 3;
};

struct PeerHealth {
  enum class State { kPending, kOk, kVxlanFails, kMtuFails };
  std::string vtep;
  uint32_t mtu = 0;  // size of the MTU probe (the largest shared network MTU)
  State state = State::kPending;
  bool smallOk = false;   // in the last round
  bool mtuOk = false;     // in the last round
  int smallFailures = 0;  // rounds in a row without a small answer
  int mtuFailures = 0;    // rounds in a row without an MTU-sized answer
  int rounds = 0;
  int sendError = 0;       // errno of the last probe that could not be sent
  uint32_t rttMicros = 0;  // of the last small answer
  uint64_t smallLost = 0;  // rounds without a small answer, since the peer was first probed
  uint64_t mtuLost = 0;    // rounds without an MTU-sized answer, likewise
  std::optional<std::chrono::system_clock::time_point> lastSuccess;  // last small answer
};
const char* peerStateName(PeerHealth::State s);

// What every round so far measured, over all peers (metrics): one small
// and one MTU-sized result per peer and round (a peer whose MTU is no more
// than the small probe's size gets one probe that counts for both), and the
// round trip of each answered small probe. Counted since the prober was
// made, so they never go down when a peer is forgotten.
struct ProbeTotals {
  uint64_t smallAnswered = 0, smallLost = 0;
  uint64_t mtuAnswered = 0, mtuLost = 0;
  Histogram rtt{latencyBuckets()};  // seconds
};

// One problem for `weftctl check`.
struct DataPlaneProblem {
  std::string peer;  // VTEP address; empty for the prober itself
  std::string message;
};

class Prober {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  Prober(kernel::Kernel& kernel, ProberConfig cfg, Clock clock);

  // Checks the configuration (an IP self address, a VNI); an error says
  // why probes cannot run, and every round() then reports it.
  static Status validate(const ProberConfig& cfg);

  // One round: repairs the health namespace, brings its peer entries in
  // line with `peers` (VTEP -> MTU to probe), probes and updates each peer's
  // state. Peers no longer listed are forgotten. Blocks for up to the
  // configured timeout (the kernel waits for the answers). With no peer the
  // health namespace is removed (a single host keeps nothing for probes).
  void round(const std::map<std::string, uint32_t>& peers);

  // What the control plane says of each host: gossip member id (its
  // advertise address, so its VTEP) -> "alive", "suspect", "dead". Lets a
  // blocked VXLAN port (gossip fine) be told from a host that is down.
  void setGossipStates(std::map<std::string, std::string> states);

  std::vector<PeerHealth> peers() const;
  ProbeTotals totals() const;
  // What is wrong, in words that say what to do.
  std::vector<DataPlaneProblem> problems() const;

  // Removes the health namespace (probes turned off).
  Status remove();
  // weft-plugin is stopping: waits for a round in progress, removes the
  // health namespace, and makes every later round do nothing. Probes are
  // weft's own, nothing of the containers': unlike a sandbox the namespace
  // need not outlive the plugin (an upgrade restores only sandboxes), and
  // the next start makes it again.
  Status stop();

 private:
  void update(PeerHealth& p, bool smallOk, bool mtuOk, int sendError);

  kernel::Kernel& kernel_;
  const ProberConfig cfg_;
  const Clock clock_;
  // Whether the health namespace exists: kMaybe until a round knows (one
  // may be left from an earlier run).
  enum class Built { kNo, kMaybe, kYes };
  Built built_ = Built::kMaybe;  // under roundMu_
  std::mutex roundMu_;           // one round (or stop) at a time
  bool stopped_ = false;         // under roundMu_
  mutable std::mutex mu_;
  std::map<std::string, PeerHealth> peers_;    // VTEP -> state
  std::string setupError_;                     // why the last round could not probe, or ""
  size_t notProbed_ = 0;                       // peers over kMaxProbedPeers in the last round
  std::map<std::string, std::string> gossip_;  // member id -> state
  ProbeTotals totals_;
};

}  // namespace weft::driver
