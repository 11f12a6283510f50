// Drives weft-plugin (--fake-kernel) over its unix socket and prints:
//  * throughput and latency percentiles of CreateEndpoint + Join + Leave +
//    DeleteEndpoint cycles over keep-alive connections;
//  * the daemon's RSS with 1,000 endpoints (created and joined).
// With --stall-sidecar, weft-plugin runs multi-host (gossip on a loopback
// port, so every Join/Leave is published through its weft-gossip sidecar) and
// the cycles run twice: with the sidecar running, then with it stopped
// (SIGSTOP) -- Docker calls must not wait for a sidecar that does not read.
// With --metrics, weft-plugin serves Prometheus metrics (METRICS_ADDR on a
// loopback port): every call is counted, so the cycles show what counting
// costs (compare with a run without it), and with 1,000 joined endpoints
// the bench scrapes /metrics --scrapes times and prints a scrape's latency,
// size and the CPU it costs weft-plugin -- and that CPU as a share of one
// core at a 15 s scrape interval. With --stall-sidecar too, the scrapes ask
// the running sidecar's status (the gossip families) as in a cluster.
// Usage: weft-protocol-bench <path to weft-plugin> [--seconds S] [--connections C] [--stall-sidecar]
//                            [--metrics] [--scrapes N]

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/proc_info.h"
#include "common/unix_http_client.h"

using Clock = std::chrono::steady_clock;

namespace {

const std::string kNid(64, 'a');

std::string eid(int conn, int i) {
  char buf[17];
  std::snprintf(
      buf, sizeof buf, "%016llx",
      (static_cast<unsigned long long>(conn) << 40 | static_cast<unsigned>(i)) * 0x9e3779b97f4a7c15ull);
  return std::string(buf) + std::string(48, 'e');
}

bool okReply(const weft::Result<weft::HttpResponse>& r) {
  return r.ok() && r->status == 200 && r->body.find("\"Err") == std::string::npos;
}

using weft::bench::rssKiB;

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

// A loopback port free for both TCP and UDP right now (for the gossip).
int freePort() {
  int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(t, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(t, reinterpret_cast<sockaddr*>(&a), &len) == 0 &&
      bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
    port = ntohs(a.sin_port);
  close(t);
  close(u);
  return port;
}

// GET http://127.0.0.1:<port><path> on a new connection (Connection:
// close); the whole reply, or "" on failure.
std::string httpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

// `n` scrapes of /metrics: latency, size, weft-plugin's CPU per scrape.
bool benchScrapes(pid_t pid, int port, int n) {
  std::vector<double> lat;
  size_t bytes = 0, families = 0;
  const auto cpu0 = weft::bench::procStat(pid).cpuTicks;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto s = Clock::now();
    std::string r = httpGet(port, "/metrics");
    lat.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    if (r.rfind("HTTP/1.1 200", 0) != 0) {
      std::fprintf(stderr, "scrape %d failed: %s\n", i, r.substr(0, 80).c_str());
      return false;
    }
    bytes = r.size() - r.find("\r\n\r\n") - 4;
    families = 0;
    for (size_t at = r.find("# TYPE weft_"); at != std::string::npos; at = r.find("# TYPE weft_", at + 1))
      ++families;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpuS = static_cast<double>(weft::bench::procStat(pid).cpuTicks - cpu0) /
                      static_cast<double>(sysconf(_SC_CLK_TCK));
  const double perScrapeMs = cpuS / n * 1000;
  std::printf("metrics: %d scrapes of /metrics with 1,000 joined endpoints, %.1f s\n", n, wall);
  std::printf("  scrape        %zu bytes, %zu weft_* families\n", bytes, families);
  std::printf("  latency       p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", pct(lat, 50),
              pct(lat, 90), pct(lat, 99), *std::max_element(lat.begin(), lat.end()));
  std::printf(
      "  weft-plugin   %.3f ms of CPU a scrape (%.2f s over the run): %.4f %% of one core at one scrape "
      "every 15 s\n",
      perScrapeMs, cpuS, perScrapeMs / 15000 * 100);
  std::fflush(stdout);
  return true;
}

// The weft-gossip child of `parent`, or -1.
pid_t sidecarOf(pid_t parent) {
  DIR* d = opendir("/proc");
  if (!d) return -1;
  pid_t found = -1;
  while (dirent* e = readdir(d)) {
    pid_t p = std::atoi(e->d_name);
    if (p <= 0) continue;
    std::ifstream f("/proc/" + std::to_string(p) + "/stat");
    std::string stat;
    std::getline(f, stat);
    // "pid (comm) state ppid ..."
    auto close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(weft-gossip)") == std::string::npos) continue;
    if (std::atoi(stat.c_str() + close + 4) == parent) found = p;
  }
  closedir(d);
  return found;
}

// Endpoint cycles over `conns` keep-alive connections for `seconds`;
// `phase` keeps each run's endpoint IDs and addresses apart.
// Returns the number of failed requests.
long runCycles(const std::string& sock, int conns, double seconds, int phase, const char* title) {
  std::atomic<bool> stop{false};
  std::atomic<long> failures{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      weft::UnixHttpClient cl(sock);
      auto& mine = lat[static_cast<size_t>(c)];
      const int slot = phase * conns + c + 1;
      for (int i = 0; !stop; ++i) {
        std::string e = eid(slot, i);
        char addr[32];
        unsigned host = static_cast<unsigned>(slot) << 16 | static_cast<unsigned>(i % 65000 + 2);
        std::snprintf(addr, sizeof addr, "10.%u.%u.%u/8", (host >> 16) & 255, (host >> 8) & 255, host & 255);
        std::string ids = "\"NetworkID\":\"" + kNid + "\",\"EndpointID\":\"" + e + "\"";
        const std::pair<const char*, std::string> calls[] = {
            {"/NetworkDriver.CreateEndpoint", "{" + ids + ",\"Interface\":{\"Address\":\"" + addr + "\"}}"},
            {"/NetworkDriver.Join", "{" + ids + ",\"SandboxKey\":\"/x\"}"},
            {"/NetworkDriver.Leave", "{" + ids + "}"},
            {"/NetworkDriver.DeleteEndpoint", "{" + ids + "}"},
        };
        for (const auto& [path, body] : calls) {
          if (stop) break;
          auto s = Clock::now();
          auto r = cl.post(path, body);
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
          if (!okReply(r)) ++failures;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  size_t n = all.size();
  std::printf(
      "%s: endpoint cycles (CreateEndpoint+Join+Leave+DeleteEndpoint), %d keep-alive connections, %.1f s\n",
      title, conns, elapsed);
  std::printf("  requests      %zu (%ld failed)\n", n, failures.load());
  std::printf("  throughput    %.0f requests/s, %.0f cycles/s\n", n / elapsed, n / elapsed / 4);
  std::printf("  latency       p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
              pct(all, 50) / 1000, pct(all, 90) / 1000, pct(all, 99) / 1000, pct(all, 99.9) / 1000,
              (all.empty() ? 0 : *std::max_element(all.begin(), all.end())) / 1000);
  std::fflush(stdout);
  return failures.load();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <weft-plugin> [--seconds S] [--connections C] [--stall-sidecar]\n",
                 argv[0]);
    return 2;
  }
  std::string bin = argv[1];
  double seconds = 5;
  int conns = 4;
  bool stall = false, metrics = false;
  int scrapes = 200;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--stall-sidecar"))
      stall = true;
    else if (!std::strcmp(argv[i], "--metrics"))
      metrics = true;
    else if (!std::strcmp(argv[i], "--scrapes") && i + 1 < argc)
      scrapes = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--connections") && i + 1 < argc)
      conns = std::atoi(argv[++i]);
  }
  int gossipPort = stall ? freePort() : 0;
  if (stall && !gossipPort) {
    std::fprintf(stderr, "no free loopback port for the gossip\n");
    return 1;
  }
  int metricsPort = metrics ? freePort() : 0;
  if (metrics && !metricsPort) {
    std::fprintf(stderr, "no free loopback port for the metrics\n");
    return 1;
  }
  char tmpl[] = "/tmp/weft-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string sock = dir + "/weft.sock";
  pid_t pid = fork();
  if (pid == 0) {
    if (stall) {
      // Multi-host on loopback: the sidecar runs (a cluster of one).
      setenv("WEFT_ADVERTISE_ADDR", "127.0.0.1", 1);
      setenv("WEFT_GOSSIP_PORT", std::to_string(gossipPort).c_str(), 1);
      setenv("WEFT_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 1);
      // The stopped sidecar must stay the stopped one for the whole phase,
      // however long --seconds is (the plugin replaces one that does not
      // answer for SIDECAR_DEADLINE).
      setenv("WEFT_SIDECAR_DEADLINE", "3600", 1);
    }
    if (metrics) setenv("WEFT_METRICS_ADDR", ("127.0.0.1:" + std::to_string(metricsPort)).c_str(), 1);
    execl(bin.c_str(), bin.c_str(), "--fake-kernel", "--log-level", "error", "--socket", sock.c_str(),
          "--state-dir", (dir + "/state").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_t sidecar = -1;
  auto cleanup = [&] {
    if (sidecar > 0) kill(sidecar, SIGCONT);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    std::system(("rm -rf " + dir).c_str());
  };
  weft::UnixHttpClient setup(sock);
  for (int i = 0; i < 500 && !setup.post("/Plugin.Activate", "{}").ok(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto created = setup.post(
      "/NetworkDriver.CreateNetwork",
      "{\"NetworkID\":\"" + kNid + "\",\"IPv4Data\":[{\"Pool\":\"10.0.0.0/8\",\"Gateway\":\"10.0.0.1/8\"}]}");
  if (!okReply(created)) {
    std::fprintf(stderr, "CreateNetwork failed\n");
    cleanup();
    return 1;
  }

  // --- throughput and latency ---
  long failures = 0;
  if (!stall) {
    failures += runCycles(sock, conns, seconds, 0, "weft-plugin");
  } else {
    // The sidecar is up when weft.Peers says the gossip runs.
    for (int i = 0; i < 500; ++i) {
      auto r = setup.post("/weft.Peers", "{}");
      if (r.ok() && r->body.find("\"running\":true") != std::string::npos) sidecar = sidecarOf(pid);
      if (sidecar > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (sidecar <= 0) {
      std::fprintf(stderr, "weft-gossip did not start\n");
      cleanup();
      return 1;
    }
    failures += runCycles(sock, conns, seconds, 0, "sidecar running");
    kill(sidecar, SIGSTOP);
    std::printf("weft-gossip (pid %d) stopped with SIGSTOP\n", sidecar);
    failures += runCycles(sock, conns, seconds, 1, "sidecar stopped");
    kill(sidecar, SIGCONT);
  }

  // --- RSS with 1,000 endpoints ---
  long before = rssKiB(pid);
  for (int i = 0; i < 1000; ++i) {
    std::string e = eid(999, i);
    char addr[32];
    std::snprintf(addr, sizeof addr, "10.200.%d.%d/8", i / 250, i % 250 + 2);
    std::string ids = "\"NetworkID\":\"" + kNid + "\",\"EndpointID\":\"" + e + "\"";
    if (!okReply(setup.post("/NetworkDriver.CreateEndpoint",
                            "{" + ids + ",\"Interface\":{\"Address\":\"" + addr + "\"}}")) ||
        !okReply(setup.post("/NetworkDriver.Join", "{" + ids + ",\"SandboxKey\":\"/x\"}"))) {
      std::fprintf(stderr, "endpoint %d failed\n", i);
      cleanup();
      return 1;
    }
  }
  long after = rssKiB(pid);
  std::printf("RSS of weft-plugin: %.1f MiB idle after the run, %.1f MiB with 1,000 joined endpoints\n",
              before / 1024.0, after / 1024.0);
  if (metrics && !benchScrapes(pid, metricsPort, scrapes)) ++failures;
  cleanup();
  return failures ? 1 : 0;
}
