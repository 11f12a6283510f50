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

#include "bench/gossip/scale_bench.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/proc_info.h"

namespace weft::bench::scale {

namespace {

// Plugins started, for the signal handler (async-signal-safe: a fixed array).
pid_t gPlugins[kMaxNodes];
std::atomic<int> gPluginCount{0};

void killPluginsAndExit(int) {
  for (int i = 0; i < gPluginCount.load(); ++i)
    if (gPlugins[i] > 0) ::kill(gPlugins[i], SIGKILL);
  ::_exit(130);
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

}  // namespace

bool okReply(const weft::Result<weft::HttpResponse>& r) {
  return r.ok() && r->status == 200 && r->body.find("\"Err\":\"") == std::string::npos;
}

std::string endpointId(int kind, int n) {
  char buf[65];
  std::snprintf(buf, sizeof buf, "%02x%06x%056d", kind, n, 0);
  return buf;
}

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

void Bench::watch(int seconds) {
  auto t0 = Clock::now();
  while (msSince(t0) < seconds * 1000.0) {
    for (auto& n : nodes_)
      if (n.alive) noteStates(n, peersOf(n));
    std::this_thread::sleep_for(milliseconds(100));
  }
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

}  // namespace weft::bench::scale

using namespace weft::bench::scale;

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
