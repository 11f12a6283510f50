// weft-gossip-scale-bench: a cluster of N real weft-plugin (--fake-kernel) +
// weft-gossip pairs on this machine, each host on its own loopback address
// (127.0.1.1 ... 127.0.1.N, one gossip port), driven over the plugins' unix
// sockets as Docker would. Prints what the simulator claims, measured on real
// processes: convergence of a new endpoint to every node, failure detection
// after kill -9 of one pair, suspicions and deaths seen while nothing failed,
// and RSS and CPU per node. Started by bench/gossip/scale_bench.sh, which
// also runs the simulator at the same N.
//
// Usage: weft-gossip-scale-bench --bin DIR --dir DIR [--nodes N] [--probes K]
//                                [--idle S] [--watch S] [--port P]
// --idle: seconds of the idle window CPU is measured over; --watch: seconds
// of polling every node's member list after the probes, for suspicions.
// Every process it starts is killed by pid when it ends, also on SIGINT or
// SIGTERM; the plugins die with it even if it is killed (PR_SET_PDEATHSIG),
// and their sidecars die with them.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench/gossip/peers_view.h"
#include "bench/proc_info.h"
#include "common/unix_http_client.h"

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;
using std::chrono::milliseconds;

namespace {

using weft::bench::childOf;
using weft::bench::procStat;
using weft::bench::rssKiB;
using weft::bench::scale::hasRemote;
using weft::bench::scale::memberStates;

constexpr const char* kKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
constexpr int kMaxNodes = 250;  // one /24 of loopback addresses
const std::string kNetworkId(64, 'b');
constexpr size_t kPollers = 4;

// Plugins started, for the signal handler (async-signal-safe: a fixed array).
pid_t gPlugins[kMaxNodes];
std::atomic<int> gPluginCount{0};

void killPluginsAndExit(int) {
  for (int i = 0; i < gPluginCount.load(); ++i)
    if (gPlugins[i] > 0) ::kill(gPlugins[i], SIGKILL);
  ::_exit(130);
}

double msSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

bool bindable(const std::string& ip, uint16_t port) {
  bool ok = true;
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ok = ok && fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) ::close(fd);
  }
  return ok;
}

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

Json peersOf(Node& n) { return weft::bench::scale::peers(*n.http); }

bool okReply(const weft::Result<weft::HttpResponse>& r) {
  return r.ok() && r->status == 200 && r->body.find("\"Err\":\"") == std::string::npos;
}

// Distinct in its first 12 characters, which Docker shows and weft keys
// interface names by (two endpoints of one host may not share them).
std::string endpointId(int kind, int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%02x%06x%056d", kind, n, 0);
  return buf;
}

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

bool Bench::start() {
  std::string seeds;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    n.index = static_cast<int>(i);
    n.addr = "127.0.1." + std::to_string(i + 1);
    n.dir = dir_ + "/node" + std::to_string(i);
    n.sock = n.dir + "/weft.sock";
    if (!bindable(n.addr, port_)) {
      std::fprintf(stderr, "port %u is taken on %s (choose another with --port)\n", port_, n.addr.c_str());
      return false;
    }
    if (i < 3) seeds += (seeds.empty() ? "" : ",") + n.addr;
  }
  for (auto& n : nodes_) {
    ::mkdir(n.dir.c_str(), 0700);
    std::string plugin = bin_ + "/weft-plugin", log = n.dir + "/weft.log", state = n.dir + "/state";
    std::string port = std::to_string(port_);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(127);
      ::setenv("WEFT_KEY", kKey, 1);
      ::execl(plugin.c_str(), plugin.c_str(), "--fake-kernel", "--log-level", "warn", "--socket",
              n.sock.c_str(), "--state-dir", state.c_str(), "--advertise-addr", n.addr.c_str(),
              "--gossip-port", port.c_str(), "--peers", seeds.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    if (pid < 0) return false;
    n.plugin = pid;
    gPlugins[gPluginCount.load()] = pid;
    gPluginCount.fetch_add(1);
    n.http = std::make_unique<weft::UnixHttpClient>(n.sock, 5000);
    std::this_thread::sleep_for(milliseconds(20));  // a gentle start on 2 cores
  }
  for (auto& n : nodes_) {
    bool up = false;
    for (int i = 0; i < 1000 && !up; ++i) {
      up = okReply(n.http->post("/Plugin.Activate", "{}"));
      if (!up) std::this_thread::sleep_for(milliseconds(20));
    }
    if (!up || !createNetworkAndHome(n)) {
      std::fprintf(stderr, "node %d (%s) did not start; see %s/weft.log\n", n.index, n.addr.c_str(),
                   n.dir.c_str());
      return false;
    }
  }
  return true;
}

bool Bench::createNetworkAndHome(Node& n) {
  if (!okReply(
          n.http->post("/NetworkDriver.CreateNetwork",
                       "{\"NetworkID\":\"" + kNetworkId +
                           "\",\"IPv4Data\":[{\"Pool\":\"10.128.0.0/9\",\"Gateway\":\"10.128.0.1/9\"}]}")))
    return false;
  // One joined endpoint each: every host carries the network.
  std::string ids = "\"NetworkID\":\"" + kNetworkId + "\",\"EndpointID\":\"" + endpointId(1, n.index) + "\"";
  std::string addr =
      "10.130." + std::to_string(n.index / 250) + "." + std::to_string(n.index % 250 + 2) + "/9";
  return okReply(n.http->post("/NetworkDriver.CreateEndpoint",
                              "{" + ids + ",\"Interface\":{\"Address\":\"" + addr + "\"}}")) &&
         okReply(n.http->post("/NetworkDriver.Join", "{" + ids + ",\"SandboxKey\":\"/x\"}"));
}

void Bench::noteStates(Node& observer, const Json& p) {
  ++pollSamples_;
  for (const auto& [id, state] : memberStates(p)) {
    if (id == victim_ || state == "alive") continue;
    if (state == "suspect") suspectViews_.insert({observer.index, id});
    if (state == "dead") deadViews_.insert({observer.index, id});
  }
}

void Bench::pollUntil(const std::function<bool(Node&, const Json&)>& done, int skip, double timeoutMs) {
  // A few pollers, each over its share of the nodes, so one round over many
  // nodes (the measurement's resolution) stays short. Each node's HTTP
  // client is used by one poller only; what they record goes under mu.
  auto t0 = Clock::now();
  std::mutex mu;
  std::vector<std::thread> pollers;
  for (size_t k = 0; k < kPollers; ++k) {
    pollers.emplace_back([&, k] {
      std::vector<Node*> mine;
      for (size_t i = k; i < nodes_.size(); i += kPollers)
        if (nodes_[i].alive && nodes_[i].index != skip) mine.push_back(&nodes_[i]);
      while (!mine.empty() && msSince(t0) < timeoutMs) {
        auto round = Clock::now();
        for (auto it = mine.begin(); it != mine.end();) {
          Json p = peersOf(**it);
          std::lock_guard<std::mutex> lk(mu);
          noteStates(**it, p);
          it = done(**it, p) ? mine.erase(it) : it + 1;
        }
        std::lock_guard<std::mutex> lk(mu);
        roundMs_.push_back(msSince(round));
      }
    });
  }
  for (auto& t : pollers) t.join();
}

bool Bench::waitConverged(double* seconds) {
  auto t0 = Clock::now();
  size_t n = nodes_.size();
  pollUntil(
      [&](Node&, const Json& p) {
        auto states = memberStates(p);
        size_t alive = 0;
        for (const auto& [id, s] : states) alive += s == "alive";
        // (a node's member list is the others)
        return alive == n - 1 && p.contains("remoteEndpoints") && p["remoteEndpoints"].size() == n - 1;
      },
      -1, 180000);
  *seconds = msSince(t0) / 1000.0;
  // Suspicions while joining are not false ones: start counting now.
  suspectViews_.clear();
  deadViews_.clear();
  pollSamples_ = 0;
  roundMs_.clear();
  for (auto& node : nodes_) {
    auto p = peersOf(node);
    auto states = memberStates(p);
    size_t alive = 0;
    for (const auto& [id, s] : states) alive += s == "alive";
    if (alive != n - 1 || p["remoteEndpoints"].size() != n - 1) return false;
    node.sidecar = childOf(node.plugin, "weft-gossip");
    node.sidecarStart = procStat(node.sidecar).startTime;
  }
  return true;
}

uint64_t bytesSent(Node& n) {
  Json p = peersOf(n);
  if (!p.is_object() || !p.contains("gossip") || !p["gossip"].contains("stats")) return 0;
  return p["gossip"]["stats"].value("bytesSent", 0ull);
}

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

void Bench::watch(int seconds) {
  auto t0 = Clock::now();
  while (msSince(t0) < seconds * 1000.0) {
    for (auto& n : nodes_)
      if (n.alive) noteStates(n, peersOf(n));
    std::this_thread::sleep_for(milliseconds(100));
  }
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

void Bench::stopAll() {
  for (auto& n : nodes_) {
    n.http.reset();
    if (n.alive && n.plugin > 0) ::kill(n.plugin, SIGKILL);  // its sidecar follows (PDEATHSIG)
  }
  for (auto& n : nodes_) {
    if (!n.alive || n.plugin <= 0) continue;
    ::waitpid(n.plugin, nullptr, 0);
    n.alive = false;
    // Wait for the sidecar this bench saw to go (its parent death signal).
    for (int i = 0; i < 100 && n.sidecar > 0 && procStat(n.sidecar).startTime == n.sidecarStart; ++i)
      std::this_thread::sleep_for(milliseconds(10));
  }
  gPluginCount = 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string bin, dir;
  int nodes = 50, probes = 20, idle = 10, watch = 20;
  uint16_t port = static_cast<uint16_t>(20000 + ::getpid() % 20000);
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--bin")
      bin = v;
    else if (a == "--dir")
      dir = v;
    else if (a == "--nodes")
      nodes = std::atoi(v.c_str());
    else if (a == "--probes")
      probes = std::atoi(v.c_str());
    else if (a == "--idle")
      idle = std::atoi(v.c_str());
    else if (a == "--watch")
      watch = std::atoi(v.c_str());
    else if (a == "--port")
      port = static_cast<uint16_t>(std::atoi(v.c_str()));
  }
  if (bin.empty() || dir.empty() || argc % 2 == 0 || nodes < 3 || nodes > kMaxNodes || probes < 1 ||
      probes > 1000 || idle < 1 || idle > 600 || watch < 0 || watch > 600 || port == 0) {
    std::fprintf(stderr,
                 "usage: weft-gossip-scale-bench --bin DIR --dir DIR [--nodes 3-%d] [--probes 1-1000] "
                 "[--idle 1-600] [--watch 0-600] [--port P]\n",
                 kMaxNodes);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = killPluginsAndExit;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::printf(
      "weft scale bench: %d real weft-plugin (--fake-kernel) + weft-gossip pairs, 127.0.1.1-127.0.1.%d:%u\n",
      nodes, nodes, port);
  std::fflush(stdout);
  Bench b(bin, dir, nodes, port);
  auto t0 = Clock::now();
  if (!b.start()) return 1;
  double converged = 0;
  if (!b.waitConverged(&converged)) {
    std::fprintf(stderr, "the cluster did not converge within 180 s\n");
    return 1;
  }
  std::printf(
      "bootstrap: started, and every node sees the %d others alive and their endpoints, after %.1f s\n",
      nodes - 1, msSince(t0) / 1000.0);
  std::fflush(stdout);
  b.idleResources(idle);
  b.probes(probes);
  b.watch(watch);
  b.printFalseSuspicions();
  b.failureDetection();
  std::printf("\nwall time %.1f s\n", msSince(t0) / 1000.0);
  if (b.failures()) std::fprintf(stderr, "%d probes failed (see above)\n", b.failures());
  return b.failures() ? 1 : 0;
}
