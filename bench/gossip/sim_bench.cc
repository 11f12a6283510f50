// weft-gossip-sim-bench: runs the real gossip code on the simulated network
// and prints dissemination latency, failure detection time, false positives
// and bandwidth. Virtual time, fixed seeds: the numbers are reproducible.
//
// Usage: weft-gossip-sim-bench [--quick] [--only=1234]
//        weft-gossip-sim-bench --nodes=N [--only=1234]
// --nodes=N: every section at N nodes only, with the settings weft-gossip
// itself runs with (NodeConfig's defaults, dead hosts' records kept), so the
// numbers stand next to bench/gossip/scale_bench.sh's real processes.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/log.h"
#include "gossip/sim/sim_cluster.h"

using namespace weft::gossip;
using namespace weft::gossip::sim;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

Key benchKey() {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i * 13 + 1);
  return k;
}

// --nodes: weft-gossip's own settings instead of the benchmark's.
bool gDaemonConfig = false;

// The settings the benchmark tunes and reports.
NodeConfig benchConfig() {
  NodeConfig c;
  if (gDaemonConfig) {
    c.reportDeadAsInactive = false;  // as gossip/daemon/main.cc
    return c;
  }
  c.membership.probeInterval = milliseconds(200);
  c.membership.probeTimeout = milliseconds(100);
  c.membership.indirectChecks = 3;
  c.membership.suspicionMult = 4;
  c.membership.suspicionMaxTimeoutMult = 6;
  c.membership.reapAfter = std::chrono::minutes(30);
  c.gossipInterval = milliseconds(200);
  c.gossipFanout =
      5;  // eager first round reaches e^-5 more nodes; total sends still capped by the retransmit limit
  c.eagerDelay = milliseconds(2);
  c.retransmitMult = 3;
  c.antiEntropyInterval = seconds(2);
  return c;
}

LinkModel lan(double loss) {
  LinkModel l;
  l.minLatency = std::chrono::microseconds(200);
  l.maxLatency = std::chrono::microseconds(2000);
  l.meanJitter = std::chrono::microseconds(300);
  l.loss = loss;
  return l;
}

double ms(Duration d) { return static_cast<double>(d.count()) / 1000.0; }

EndpointRecord endpoint(const std::string& ep, size_t node) {
  EndpointRecord r;
  r.network = "bench";
  r.endpoint = ep;
  r.ipv4 = "10.10." + std::to_string(node / 250) + "." + std::to_string(node % 250 + 2) + "/16";
  r.mac = "02:42:0a:0a:00:01";
  r.vtep = "198.18." + std::to_string(node / 250) + "." + std::to_string(node % 250 + 1);
  return r;
}

struct Bootstrapped {
  bool membership = false;
  double seconds = 0;
};

// Bootstraps n nodes that all carry the "bench" network (one endpoint each).
Bootstrapped bootstrap(SimNetwork& net, SimCluster& c, size_t n) {
  const Time t0 = net.now();
  Bootstrapped b;
  // Join in waves so the seed is not the only source of state.
  for (size_t i = 0; i < n; ++i) {
    size_t idx = c.add();
    c.node(idx).publish(endpoint("home-" + std::to_string(idx), idx));
    if (idx > 0) c.join(idx, {idx % 5 == 0 || idx < 5 ? 0 : static_cast<size_t>(idx % 5)});
    if (i % 50 == 49) net.runFor(milliseconds(100));
  }
  b.membership =
      net.runUntilTrue([&] { return c.membershipConverged(); }, net.now() + seconds(120), milliseconds(50));
  // Let the initial records settle.
  net.runUntilTrue(
      [&] {
        for (size_t i = 0; i < c.size(); ++i)
          if (c.node(i).endpoints("bench").size() != c.size()) return false;
        return true;
      },
      net.now() + seconds(60), milliseconds(50));
  b.seconds = ms(net.now() - t0) / 1000.0;
  return b;
}

void dissemination(size_t n, const std::vector<double>& losses, int trials, uint64_t seed) {
  SimNetwork net(seed, lan(0.0));
  SimCluster c(net, benchConfig(), Keyring(benchKey()), seed);
  Bootstrapped b = bootstrap(net, c, n);
  std::vector<Time> arrival(n);
  std::string watched;
  for (size_t i = 0; i < n; ++i)
    c.node(i).onRecordChange = [&, i](const EndpointRecord& r, bool active) {
      if (active && r.endpoint == watched && arrival[i] == Time::max()) arrival[i] = net.now();
    };
  std::mt19937_64 rng(seed);
  for (double loss : losses) {
    net.setLoss(loss);
    net.runFor(seconds(5));
    std::vector<double> p99, p100;
    int incomplete = 0;
    for (int t = 0; t < trials; ++t) {
      size_t origin = rng() % n;
      watched = "probe-" + std::to_string(loss) + "-" + std::to_string(t);
      std::fill(arrival.begin(), arrival.end(), Time::max());
      const Time t0 = net.now();
      arrival[origin] = t0;
      c.node(origin).publish(endpoint(watched, origin));
      net.runUntilTrue(
          [&] {
            return std::none_of(arrival.begin(), arrival.end(), [](Time a) { return a == Time::max(); });
          },
          t0 + seconds(10), milliseconds(1));
      std::vector<Time> sorted = arrival;
      std::sort(sorted.begin(), sorted.end());
      size_t k99 = static_cast<size_t>(std::ceil(0.99 * static_cast<double>(n))) - 1;
      p99.push_back(sorted[k99] == Time::max() ? -1 : ms(sorted[k99] - t0));
      if (sorted.back() == Time::max())
        ++incomplete;
      else
        p100.push_back(ms(sorted.back() - t0));
      net.runFor(seconds(1));
    }
    auto median = [](std::vector<double> v) {
      if (v.empty()) return -1.0;
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    auto maxOf = [](const std::vector<double>& v) {
      return v.empty() ? -1.0 : *std::max_element(v.begin(), v.end());
    };
    std::printf(
        "  N=%-5zu loss=%2.0f%%  (bootstrap %s in %.1fs virtual) %d trials | 99%%: median %6.1f ms, max "
        "%6.1f ms | "
        "100%%: median %6.1f ms, max %6.1f ms%s\n",
        n, loss * 100, b.membership ? "converged" : "NOT converged", b.seconds, trials, median(p99),
        maxOf(p99), median(p100), maxOf(p100),
        incomplete ? (" (" + std::to_string(incomplete) + " trials incomplete after 10 s)").c_str() : "");
    std::fflush(stdout);
  }
}

void crashDetection(size_t n, int trials, uint64_t seed) {
  SimNetwork net(seed, lan(0.0));
  SimCluster c(net, benchConfig(), Keyring(benchKey()), seed);
  bootstrap(net, c, n);
  net.runFor(seconds(5));
  std::vector<double> all, first;
  for (int t = 0; t < trials; ++t) {
    size_t victim = 1 + (static_cast<size_t>(t) * 37) % (n - 1);
    const std::string id = c.id(victim);
    const Time t0 = net.now();
    c.crash(victim);
    size_t others = 0;
    for (size_t i = 0; i < n; ++i) others += c.up(i) ? 1 : 0;
    Time firstDead = Time::max();
    bool ok = net.runUntilTrue(
        [&] {
          size_t dead = c.countSeeing(id, {MemberState::kDead});
          if (dead > 0 && firstDead == Time::max()) firstDead = net.now();
          return dead == others;
        },
        t0 + seconds(60), milliseconds(5));
    all.push_back(ok ? ms(net.now() - t0) : -1);
    first.push_back(firstDead == Time::max() ? -1 : ms(firstDead - t0));
    net.runFor(seconds(3));
  }
  std::sort(all.begin(), all.end());
  std::sort(first.begin(), first.end());
  std::printf(
      "  N=%zu, %d crashes: first node marks dead after median %.0f ms; every node: median %.0f ms, "
      "max %.0f ms (target <= 3000 ms)\n",
      n, trials, first[first.size() / 2], all[all.size() / 2], all.back());
  std::fflush(stdout);
}

void falsePositives(size_t n, double minutes, double loss, uint64_t seed) {
  SimNetwork net(seed, lan(0.0));
  SimCluster c(net, benchConfig(), Keyring(benchKey()), seed);
  bootstrap(net, c, n);
  net.setLoss(loss);
  uint64_t deadBefore = 0, susBefore = 0, refBefore = 0;
  for (size_t i = 0; i < n; ++i) {
    deadBefore += c.node(i).membership().stats().deadDeclared;
    susBefore += c.node(i).membership().stats().suspicionsRaised;
    refBefore += c.node(i).membership().stats().refutations;
  }
  size_t deadEvents = 0;
  for (size_t i = 0; i < n; ++i) c.node(i).onRecordChange = nullptr;
  net.runFor(Duration(static_cast<int64_t>(minutes * 60e6)));
  uint64_t dead = 0, sus = 0, ref = 0, averted = 0;
  for (size_t i = 0; i < n; ++i) {
    averted += c.node(i).membership().stats().deathsAverted;
    dead += c.node(i).membership().stats().deadDeclared;
    sus += c.node(i).membership().stats().suspicionsRaised;
    ref += c.node(i).membership().stats().refutations;
  }
  (void)deadEvents;
  size_t deadViews = 0;
  for (size_t i = 0; i < n; ++i)
    deadViews += c.countSeeing(c.id(i), {MemberState::kDead, MemberState::kLeft});
  std::printf(
      "  N=%zu for %.0f min at %.0f%% loss = %.0f node-minutes: %llu false dead declarations "
      "(target 0); %llu suspicions raised, %llu refutations, %llu saved by the final check; "
      "dead entries in any view at end: %zu\n",
      n, minutes, loss * 100, n * minutes, static_cast<unsigned long long>(dead - deadBefore),
      static_cast<unsigned long long>(sus - susBefore), static_cast<unsigned long long>(ref - refBefore),
      static_cast<unsigned long long>(averted), deadViews);
  std::fflush(stdout);
}

void bandwidth(size_t n, double changesPerSecond, double loss, uint64_t seed) {
  SimNetwork net(seed, lan(0.0));
  SimCluster c(net, benchConfig(), Keyring(benchKey()), seed);
  bootstrap(net, c, n);
  net.setLoss(loss);
  net.runFor(seconds(10));
  const seconds window(20);
  uint64_t before = 0;
  for (size_t i = 0; i < n; ++i) before += c.node(i).stats().bytesSent;
  const uint64_t netBefore = net.totalBytes();
  const Time t0 = net.now();
  std::mt19937_64 rng(seed);
  uint64_t changes = 0;
  if (changesPerSecond > 0) {
    const Duration step(static_cast<int64_t>(1e6 / changesPerSecond));
    std::map<size_t, int> extra;  // node -> number of extra endpoints
    while (net.now() < t0 + window) {
      size_t i = rng() % n;
      int& k = extra[i];
      // Create, update, and delete endpoints in roughly equal measure.
      switch (rng() % 3) {
        case 0:
          c.node(i).publish(endpoint("churn-" + std::to_string(i) + "-" + std::to_string(k++), i));
          break;
        case 1:
          c.node(i).publish(endpoint("home-" + std::to_string(i), i));
          break;
        default:
          if (k > 0)
            c.node(i).withdraw("bench", "churn-" + std::to_string(i) + "-" + std::to_string(--k));
          else
            c.node(i).publish(endpoint("home-" + std::to_string(i), i));
      }
      ++changes;
      net.runFor(step);
    }
  } else {
    net.runFor(window);
  }
  uint64_t after = 0;
  for (size_t i = 0; i < n; ++i) after += c.node(i).stats().bytesSent;
  const double perNode = static_cast<double>(after - before) / n / (ms(net.now() - t0) / 1000.0);
  const double wirePerNode =
      static_cast<double>(net.totalBytes() - netBefore) / n / (ms(net.now() - t0) / 1000.0);
  std::printf("  N=%zu, %s, loss %.0f%%: %.0f B/s sent per node (sealed payloads; sim-counted %.0f B/s)\n", n,
              changesPerSecond > 0
                  ? (std::to_string(static_cast<int>(changesPerSecond)) +
                     " endpoint changes/s cluster-wide (" + std::to_string(changes) + " changes)")
                        .c_str()
                  : "idle",
              loss * 100, perNode, wirePerNode);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string only;  // sections to run, e.g. "1" or "234"
  size_t nodes = 0;  // --nodes=N: only N, with weft-gossip's settings
  bool nodesGiven = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0)
      quick = true;
    else if (std::strncmp(argv[i], "--only=", 7) == 0)
      only = argv[i] + 7;
    else if (std::strncmp(argv[i], "--nodes=", 8) == 0) {
      nodes = std::strtoul(argv[i] + 8, nullptr, 10);
      nodesGiven = true;
    } else {
      std::fprintf(stderr, "usage: weft-gossip-sim-bench [--quick] [--only=1234] [--nodes=N]\n");
      return 2;
    }
  }
  if (nodesGiven) {
    if (nodes < 3 || nodes > 5000) {
      std::fprintf(stderr, "--nodes must be 3-5000\n");
      return 2;
    }
    gDaemonConfig = true;
  }
  auto want = [&](const char* s) { return only.empty() || only.find(s) != std::string::npos; };
  const auto wall0 = std::chrono::steady_clock::now();
  weft::log::setLevel(weft::log::Level::kWarn);
  NodeConfig cfg = benchConfig();
  std::printf("weft gossip simulation benchmark (virtual time, real sealed packets)\n");
  std::printf(
      "settings: probe interval %lld ms, probe timeout %lld ms, k=%d indirect, suspicion mult %d "
      "(max x%d), gossip interval %lld ms fan-out %d, eager push after %lld ms, retransmit mult %d, "
      "anti-entropy every %lld s; links 0.2-2 ms + exp(0.3 ms) jitter\n",
      static_cast<long long>(cfg.membership.probeInterval.count() / 1000),
      static_cast<long long>(cfg.membership.probeTimeout.count() / 1000), cfg.membership.indirectChecks,
      cfg.membership.suspicionMult, cfg.membership.suspicionMaxTimeoutMult,
      static_cast<long long>(cfg.gossipInterval.count() / 1000), cfg.gossipFanout,
      static_cast<long long>(cfg.eagerDelay.count() / 1000), cfg.retransmitMult,
      static_cast<long long>(cfg.antiEntropyInterval.count() / 1000000));

  if (nodes) {
    std::printf("N=%zu only, with weft-gossip's settings\n", nodes);
    if (want("1")) {
      std::printf("\n[1] new record -> 99%% / 100%% of nodes\n");
      dissemination(nodes, {0.0}, 20, 100 + nodes);
    }
    if (want("2")) {
      std::printf("\n[2] crash detection\n");
      crashDetection(nodes, 5, 7);
    }
    if (want("3")) {
      std::printf("\n[3] false dead declarations\n");
      falsePositives(nodes, quick ? 2 : 5, 0.0, 11);
    }
    if (want("4")) {
      std::printf("\n[4] bandwidth\n");
      bandwidth(nodes, 0, 0.0, 21);
    }
    only = "-";  // the sections below are the fixed-N ones
  }
  if (want("1")) {
    std::printf(
        "\n[1] new record -> 99%% / 100%% of nodes (targets at N=1000: 99%% <= 500 ms at 0%% loss, <= 1 s at "
        "10%%)\n");
    for (size_t n : {size_t{3}, size_t{100}, size_t{1000}}) {
      if (quick && n == 1000) continue;
      dissemination(n, {0.0, 0.10}, n >= 1000 ? 5 : 20, 100 + n);
    }
  }
  if (want("2")) {
    std::printf("\n[2] crash detection\n");
    crashDetection(100, quick ? 3 : 5, 7);
  }
  if (want("3")) {
    std::printf("\n[3] false dead declarations\n");
    falsePositives(50, quick ? 2 : 20, 0.10, 11);
  }
  if (want("4")) {
    std::printf("\n[4] bandwidth (target idle <= 1024 B/s per node)\n");
    bandwidth(100, 0, 0.0, 21);
    bandwidth(100, 100, 0.0, 22);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("\nwall time %.1f s\n", wall);
  return 0;
}
