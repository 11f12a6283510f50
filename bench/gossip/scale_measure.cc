// weft-gossip-scale-bench's measurements on a converged cluster (see
// scale_bench.cc): RSS, CPU and bytes sent while idle, convergence of new
// endpoints, failure detection after kill -9, false suspicions.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/gossip/scale_bench.h"
#include "bench/proc_info.h"

namespace weft::bench::scale {

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

uint64_t bytesSent(Node& n) {
  Json p = peersOf(n);
  if (!p.is_object() || !p.contains("gossip") || !p["gossip"].contains("stats")) return 0;
  return p["gossip"]["stats"].value("bytesSent", 0ull);
}

}  // namespace

void Bench::idleResources(int seconds) {
  const long hz = ::sysconf(_SC_CLK_TCK);
  std::vector<uint64_t> p0, s0, b0;
  for (auto& n : nodes_) b0.push_back(bytesSent(n));
  auto bytes0 = Clock::now();
  for (auto& n : nodes_) {
    p0.push_back(procStat(n.plugin).cpuTicks);
    s0.push_back(procStat(n.sidecar).cpuTicks);
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));  // nobody polls: idle as in production
  double wall = msSince(t0) / 1000.0;
  std::vector<double> pCpu, sCpu, pRss, sRss;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    auto& n = nodes_[i];
    pCpu.push_back(100.0 * static_cast<double>(procStat(n.plugin).cpuTicks - p0[i]) / hz / wall);
    sCpu.push_back(100.0 * static_cast<double>(procStat(n.sidecar).cpuTicks - s0[i]) / hz / wall);
    pRss.push_back(rssKiB(n.plugin) / 1024.0);
    sRss.push_back(rssKiB(n.sidecar) / 1024.0);
  }
  double total = 0;
  for (size_t i = 0; i < pCpu.size(); ++i) total += pCpu[i] + sCpu[i];
  std::vector<double> sent;
  double bytesWall = msSince(bytes0) / 1000.0;
  for (size_t i = 0; i < nodes_.size(); ++i)
    sent.push_back(static_cast<double>(bytesSent(nodes_[i]) - b0[i]) / bytesWall);
  std::printf("\n[resources] idle cluster, %d s, per node (median / max):\n", seconds);
  std::printf("  weft-plugin: RSS %.1f / %.1f MiB, CPU %.2f / %.2f %% of one core\n", percentile(pRss, 50),
              percentile(pRss, 100), percentile(pCpu, 50), percentile(pCpu, 100));
  std::printf("  weft-gossip: RSS %.1f / %.1f MiB, CPU %.2f / %.2f %% of one core\n", percentile(sRss, 50),
              percentile(sRss, 100), percentile(sCpu, 50), percentile(sCpu, 100));
  std::printf("  all %zu pairs together: %.1f %% of one core\n", nodes_.size(), total);
  std::printf("  gossip sent per node: %.0f / %.0f B/s (sealed bytes, weft-gossip's own counter)\n",
              percentile(sent, 50), percentile(sent, 100));
  std::printf(
      "RESULT rss_plugin_mib %.1f\nRESULT rss_gossip_mib %.1f\nRESULT cpu_gossip_pct %.2f\n"
      "RESULT cpu_plugin_pct %.2f\nRESULT sent_bps %.0f\n",
      percentile(pRss, 50), percentile(sRss, 50), percentile(sCpu, 50), percentile(pCpu, 50),
      percentile(sent, 50));
  std::fflush(stdout);
}

void Bench::probes(int k) {
  std::vector<double> all, perNode;
  int incomplete = 0;
  for (int t = 0; t < k; ++t) {
    Node& origin = nodes_[static_cast<size_t>(t * 7) % (nodes_.size() - 1)];  // never the victim-to-be
    std::string id = endpointId(2, t);
    std::string ids = "\"NetworkID\":\"" + kNetworkId + "\",\"EndpointID\":\"" + id + "\"";
    std::string addr = "10.140." + std::to_string(t / 250) + "." + std::to_string(t % 250 + 2) + "/9";
    auto created = origin.http->post("/NetworkDriver.CreateEndpoint",
                                     "{" + ids + ",\"Interface\":{\"Address\":\"" + addr + "\"}}");
    if (!okReply(created)) {
      std::fprintf(stderr, "probe %d: CreateEndpoint failed: %s\n", t,
                   created.ok() ? created->body.c_str() : created.error().message.c_str());
      ++failures_;
      continue;
    }
    auto t0 = Clock::now();  // Join publishes the endpoint
    if (!okReply(origin.http->post("/NetworkDriver.Join", "{" + ids + ",\"SandboxKey\":\"/x\"}"))) {
      std::fprintf(stderr, "probe %d: Join failed\n", t);
      ++failures_;
      continue;
    }
    size_t arrived = 0;
    double last = 0;
    pollUntil(
        [&](Node&, const Json& p) {
          if (!hasRemote(p, id)) return false;
          double at = msSince(t0);
          perNode.push_back(at);
          last = std::max(last, at);
          ++arrived;
          return true;
        },
        origin.index, 30000);
    if (arrived + 1 == nodes_.size()) {
      all.push_back(last);
    } else {
      ++incomplete;
      ++failures_;
    }
    std::this_thread::sleep_for(milliseconds(300));
  }
  std::printf("\n[1] new endpoint (Join at one node) -> seen in /weft.Peers of every other node, %d probes\n",
              k);
  std::printf(
      "  every node: p50 %.0f ms, p99 %.0f ms, max %.0f ms%s\n", percentile(all, 50), percentile(all, 99),
      percentile(all, 100),
      incomplete ? (" (" + std::to_string(incomplete) + " probes incomplete after 30 s)").c_str() : "");
  std::printf("  each node:  p50 %.0f ms, p99 %.0f ms (%zu arrivals)\n", percentile(perNode, 50),
              percentile(perNode, 99), perNode.size());
  std::printf(
      "  (resolution: one round of a poller over its nodes still waiting, median %.0f ms, max %.0f ms)\n",
      percentile(roundMs_, 50), percentile(roundMs_, 100));
  std::printf("RESULT conv_all_p50_ms %.0f\nRESULT conv_all_p99_ms %.0f\nRESULT conv_all_max_ms %.0f\n",
              percentile(all, 50), percentile(all, 99), percentile(all, 100));
  std::fflush(stdout);
}

void Bench::failureDetection() {
  Node& victim = nodes_.back();
  victim_ = victim.addr;
  // Its sidecar first (by pid and start time: it is the one this bench saw
  // started), then the plugin at once, before its supervisor could restart it.
  if (victim.sidecar > 0 && procStat(victim.sidecar).startTime == victim.sidecarStart)
    ::kill(victim.sidecar, SIGKILL);
  ::kill(victim.plugin, SIGKILL);
  auto t0 = Clock::now();
  ::waitpid(victim.plugin, nullptr, 0);
  victim.alive = false;
  std::vector<double> deadAt;
  size_t keptRecords = 0;
  pollUntil(
      [&](Node&, const Json& p) {
        auto states = memberStates(p);
        auto it = states.find(victim_);
        std::string s = it == states.end() ? "" : it->second;
        if (s != "dead") return false;
        deadAt.push_back(msSince(t0));
        keptRecords += hasRemote(p, endpointId(1, victim.index));
        return true;
      },
      -1, 60000);
  size_t others = nodes_.size() - 1;
  std::printf("\n[2] failure detection: kill -9 of %s's weft-plugin and weft-gossip\n", victim_.c_str());
  if (deadAt.size() != others)
    std::printf("  only %zu of %zu nodes declared it dead within 60 s\n", deadAt.size(), others);
  std::printf("  first node sees it dead after %.0f ms; every node: %.0f ms (median node %.0f ms)\n",
              percentile(deadAt, 0.01), percentile(deadAt, 100), percentile(deadAt, 50));
  std::printf(
      "  its endpoint kept programmed at %zu of %zu nodes (by design until it is reaped: a dead host's "
      "data plane may still work)\n",
      keptRecords, others);
  std::printf("RESULT detect_first_ms %.0f\nRESULT detect_all_ms %.0f\n", percentile(deadAt, 0.01),
              percentile(deadAt, 100));
  std::fflush(stdout);
}

void Bench::printFalseSuspicions() {
  uint64_t restarts = 0;
  for (auto& n : nodes_) {
    if (!n.alive) continue;
    Json p = peersOf(n);
    if (p.is_object() && p.contains("gossip")) restarts += p["gossip"].value("restarts", 0ull);
  }
  std::printf(
      "\n[3] no loss, no failure: false suspicions and deaths seen in %llu polls of member lists "
      "(during the probes and the watch)\n",
      static_cast<unsigned long long>(pollSamples_));
  std::printf(
      "  (observer, member) pairs seen suspect: %zu, seen dead: %zu (the killed node excluded); sidecar "
      "restarts: %llu\n",
      suspectViews_.size(), deadViews_.size(), static_cast<unsigned long long>(restarts));
  std::printf("RESULT false_suspect %zu\nRESULT false_dead %zu\nRESULT sidecar_restarts %llu\n",
              suspectViews_.size(), deadViews_.size(), static_cast<unsigned long long>(restarts));
  std::fflush(stdout);
}

}  // namespace weft::bench::scale
