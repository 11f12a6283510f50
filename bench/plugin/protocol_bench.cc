// Drives weft-plugin (--fake-kernel) over its unix socket and prints:
//  * throughput and latency percentiles of CreateEndpoint + Join + Leave +
//    DeleteEndpoint cycles over keep-alive connections;
//  * the daemon's RSS with 1,000 endpoints (created and joined).
// Usage: weft-protocol-bench <path to weft-plugin> [--seconds S] [--connections C]

#include <signal.h>
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

long rssKiB(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <weft-plugin> [--seconds S] [--connections C]\n", argv[0]);
    return 2;
  }
  std::string bin = argv[1];
  double seconds = 5;
  int conns = 4;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--connections")) conns = std::atoi(argv[i + 1]);
  }
  char tmpl[] = "/tmp/weft-bench-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string sock = dir + "/weft.sock";
  pid_t pid = fork();
  if (pid == 0) {
    execl(bin.c_str(), bin.c_str(), "--fake-kernel", "--log-level", "error", "--socket", sock.c_str(),
          "--state-dir", (dir + "/state").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto cleanup = [&] {
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
  std::atomic<bool> stop{false};
  std::atomic<long> failures{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(conns));
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      weft::UnixHttpClient cl(sock);
      auto& mine = lat[static_cast<size_t>(c)];
      for (int i = 0; !stop; ++i) {
        std::string e = eid(c + 1, i);
        char addr[32];
        unsigned host = static_cast<unsigned>(c + 1) << 16 | static_cast<unsigned>(i % 65000 + 2);
        std::snprintf(addr, sizeof addr, "10.%u.%u.%u/8", (host >> 16) & 255, (host >> 8) & 255, host & 255);
        std::string ids = "\"NetworkID\":\"" + kNid + "\",\"EndpointID\":\"" + e + "\"";
        const std::pair<const char*, std::string> calls[] = {
            {"/NetworkDriver.CreateEndpoint", "{" + ids + ",\"Interface\":{\"Address\":\"" + addr + "\"}}"},
            {"/NetworkDriver.Join", "{" + ids + ",\"SandboxKey\":\"/x\"}"},
            {"/NetworkDriver.Leave", "{" + ids + "}"},
            {"/NetworkDriver.DeleteEndpoint", "{" + ids + "}"},
        };
        for (const auto& [path, body] : calls) {
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
      "endpoint cycles (CreateEndpoint+Join+Leave+DeleteEndpoint), %d keep-alive connections, %.1f s\n",
      conns, elapsed);
  std::printf("  requests      %zu (%ld failed)\n", n, failures.load());
  std::printf("  throughput    %.0f requests/s, %.0f cycles/s\n", n / elapsed, n / elapsed / 4);
  std::printf("  latency       p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n",
              pct(all, 50) / 1000, pct(all, 90) / 1000, pct(all, 99) / 1000, pct(all, 99.9) / 1000,
              (all.empty() ? 0 : *std::max_element(all.begin(), all.end())) / 1000);

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
  cleanup();
  return failures.load() ? 1 : 0;
}
