// weft-gossip-scale-bench (see scale_bench.cc): the cluster of real
// weft-plugin + weft-gossip pairs it drives. scale_bench.cc starts, polls and
// stops it; scale_measure.cc holds the measurements made on it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bench/gossip/peers_view.h"
#include "common/unix_http_client.h"

namespace weft::bench::scale {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline constexpr const char* kKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
inline constexpr int kMaxNodes = 250;  // one /24 of loopback addresses
inline const std::string kNetworkId(64, 'b');
inline constexpr size_t kPollers = 4;

inline double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool okReply(const weft::Result<weft::HttpResponse>& r);

// Distinct in its first 12 characters, which Docker shows and weft keys
// interface names by (two endpoints of one host may not share them).
std::string endpointId(int kind, int n);

struct Node {
  int index = 0;
  std::string addr;  // also its gossip id
  std::string dir;
  std::string sock;
  pid_t plugin = -1;
  pid_t sidecar = -1;
  uint64_t sidecarStart = 0;
  bool alive = true;
  std::unique_ptr<weft::UnixHttpClient> http;
};

inline Json peersOf(Node& n) { return peers(*n.http); }

class Bench {
 public:
  Bench(std::string bin, std::string dir, int nodes, uint16_t port)
      : bin_(std::move(bin)), dir_(std::move(dir)), port_(port), nodes_(static_cast<size_t>(nodes)) {}
  ~Bench() { stopAll(); }

  bool start();
  bool waitConverged(double* seconds);
  void idleResources(int seconds);
  void probes(int k);
  void failureDetection();
  void watch(int seconds);
  void printFalseSuspicions();
  // Probes that could not be made or did not reach every node.
  int failures() const { return failures_; }

 private:
  bool createNetworkAndHome(Node& n);
  // Polls every live node but `skip` round-robin until `done` holds for
  // each (called with the node and its /weft.Peers) or `timeout`; notes
  // suspicions of live members while doing so.
  void pollUntil(const std::function<bool(Node&, const Json&)>& done, int skip, double timeoutMs);
  void noteStates(Node& observer, const Json& p);
  void stopAll();

  const std::string bin_, dir_;
  const uint16_t port_;
  std::vector<Node> nodes_;
  std::vector<double> roundMs_;
  // Views of a member not alive while it was alive, as (observer, member).
  std::set<std::pair<int, std::string>> suspectViews_, deadViews_;
  uint64_t pollSamples_ = 0;
  std::string victim_;  // the killed node's id: not a false suspicion
  int failures_ = 0;
};

}  // namespace weft::bench::scale
