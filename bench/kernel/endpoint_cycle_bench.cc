// weft-kernel-bench: full endpoint cycles (CreateEndpoint + Join + Leave +
// DeleteEndpoint) through weft::driver::Driver on the real kernel
// (NetlinkKernel), in a throwaway network + mount namespace. Prints cycles/s
// and latency percentiles, and proves nothing leaks: interfaces (host
// namespace and the network's sandbox), namespaces, mounts, open fds and the
// driver's own records are counted before and after; any growth is a failure
// (exit 1).
//
//   build/bin/weft-kernel-bench [--cycles N] [--warmup N] [--state-dir DIR]
//
// Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN). The underlay is a veth pair
// with 198.18.0.1/24 (this kernel may have no dummy module).

#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/kernel/bench_world.h"
#include "common/log.h"
#include "driver/driver.h"
#include "kernel/netlink_kernel.h"

namespace {

using namespace weft;
using bench::check;
using bench::die;
using Clock = std::chrono::steady_clock;

std::string hexId(std::mt19937_64& rng) {
  static const char* hex = "0123456789abcdef";
  std::string s(64, '0');
  for (auto& c : s) c = hex[rng() % 16];
  return s;
}

size_t countDir(const char* path) {
  size_t n = 0;
  if (DIR* d = ::opendir(path)) {
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++n;
    ::closedir(d);
  }
  return n;
}

size_t countLines(const char* path) {
  std::ifstream f(path);
  size_t n = 0;
  for (std::string line; std::getline(f, line);) ++n;
  return n;
}

struct Counts {
  size_t hostLinks = 0, sandboxLinks = 0, netns = 0, netnsFiles = 0, mounts = 0, fds = 0, endpoints = 0,
         threads = 0;
  std::vector<std::pair<const char*, size_t>> list() const {
    return {{"host-ns interfaces", hostLinks},         {"sandbox interfaces", sandboxLinks},
            {"namespaces (kernel shim)", netns},       {"namespace files", netnsFiles},
            {"mounts (/proc/self/mountinfo)", mounts}, {"open fds (/proc/self/fd)", fds},
            {"driver endpoints", endpoints},           {"threads (/proc/self/task)", threads}};
  }
};

Counts count(kernel::Kernel& k, driver::Driver& drv, const std::string& sandbox,
             const std::string& netnsDir) {
  Counts c;
  c.hostLinks = check(k.listLinks(kernel::kHostNetns), "listLinks(host)").size();
  c.sandboxLinks = check(k.listLinks(sandbox), "listLinks(sandbox)").size();
  c.netns = check(k.listNetns(), "listNetns").size();
  c.netnsFiles = countDir(netnsDir.c_str());
  c.mounts = countLines("/proc/self/mountinfo");
  c.fds = countDir("/proc/self/fd");
  c.endpoints = drv.endpointCount();
  c.threads = countDir("/proc/self/task");
  return c;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  int cycles = 1000, warmup = 20;
  std::string stateParent = "/tmp";
  bench::info().program = "weft-kernel-bench";
  bench::parseFlags(
      argc, argv,
      {{"--cycles", [&](const std::string& v) { cycles = std::stoi(v); }},
       {"--warmup", [&](const std::string& v) { warmup = std::stoi(v); }},
       {"--state-dir", [&](const std::string& v) { stateParent = v; }}},
      "usage: weft-kernel-bench [--cycles N (1000)] [--warmup N (20)] [--state-dir PARENT (/tmp)]");
  if (cycles < 1 || warmup < 0) die("--cycles must be >= 1, --warmup >= 0");
  if (::geteuid() != 0) {
    std::fprintf(stderr, "weft-kernel-bench: needs root\n");
    return 77;
  }
  log::setLevel(log::Level::kWarn);

  // Everything made below dies with this process (the mounts with the mount
  // namespace, the links with the network namespace).
  const std::string stateDir = bench::enterThrowawayWorld(stateParent);
  const std::string netnsDir = stateDir + "/netns";

  int rc = 0;
  {
    kernel::NetlinkKernel k(netnsDir);
    const std::string underNs = "bench-underlay";
    bench::makeUnderlay(k, underNs);

    driver::DriverConfig dc;
    dc.stateDir = stateDir;
    dc.advertiseAddr = "198.18.0.1";
    driver::Driver drv(dc, k);
    check(drv.start(), "driver start");

    std::mt19937_64 rng(std::random_device{}());
    const std::string nid = hexId(rng);
    driver::CreateNetworkRequest cn;
    cn.networkId = nid;
    cn.ipv4.push_back({"", "10.10.0.0/16", "10.10.0.1/16", {}});
    check(drv.createNetwork(cn), "createNetwork");
    auto nets = drv.networks();
    if (nets.size() != 1) die("expected one network");
    const std::string sandbox = nets.front().netns;
    std::printf("network %s: sandbox %s, vni %u, mtu %u (underlay 1500)\n", nid.substr(0, 12).c_str(),
                sandbox.c_str(), nets.front().vni, nets.front().mtu);

    uint32_t hostSeq = 2;
    std::vector<double> tCreate, tJoin, tLeave, tDelete, tCycle;
    auto cycle = [&](bool record) {
      const std::string eid = hexId(rng);
      uint32_t h = hostSeq++ % 65000 + 2;  // 10.10.0.2 .. 10.10.253.x
      driver::CreateEndpointRequest ce;
      ce.networkId = nid;
      ce.endpointId = eid;
      ce.iface.address = "10.10." + std::to_string(h / 256) + "." + std::to_string(h % 256) + "/16";
      auto t0 = Clock::now();
      check(drv.createEndpoint(ce), "createEndpoint");
      auto t1 = Clock::now();
      auto j = check(drv.join(nid, eid, "/var/run/docker/netns/bench"), "join");
      auto t2 = Clock::now();
      if (j.srcName.empty()) die("join returned no SrcName");
      check(drv.leave(nid, eid), "leave");
      auto t3 = Clock::now();
      check(drv.deleteEndpoint(nid, eid), "deleteEndpoint");
      auto t4 = Clock::now();
      if (record) {
        auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
        tCreate.push_back(us(t0, t1));
        tJoin.push_back(us(t1, t2));
        tLeave.push_back(us(t2, t3));
        tDelete.push_back(us(t3, t4));
        tCycle.push_back(us(t0, t4));
      }
    };

    for (int i = 0; i < warmup; ++i) cycle(false);
    drv.reapRetired();
    Counts before = count(k, drv, sandbox, netnsDir);
    // As in weft-plugin: retired veths are deleted in batches every 100 ms by
    // another thread; the final reap is counted in the run's time.
    std::atomic<bool> stopReaper{false};
    std::thread reaper([&] {
      while (!stopReaper) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        drv.reapRetired();
      }
    });
    auto start = Clock::now();
    for (int i = 0; i < cycles; ++i) cycle(true);
    stopReaper = true;
    reaper.join();
    drv.reapRetired();
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    Counts after = count(k, drv, sandbox, netnsDir);

    std::printf("endpoint cycles (CreateEndpoint+Join+Leave+DeleteEndpoint): %d in %.3f s = %.1f cycles/s\n",
                cycles, secs, cycles / secs);
    std::printf("target >= 100 cycles/s: %s\n", cycles / secs >= 100 ? "met" : "NOT met");
    std::printf("%-16s %10s %10s %10s %10s\n", "latency (us)", "p50", "p90", "p99", "max");
    for (auto& [name, v] :
         std::vector<std::pair<const char*, std::vector<double>*>>{{"CreateEndpoint", &tCreate},
                                                                   {"Join", &tJoin},
                                                                   {"Leave", &tLeave},
                                                                   {"DeleteEndpoint", &tDelete},
                                                                   {"full cycle", &tCycle}})
      std::printf("%-16s %10.0f %10.0f %10.0f %10.0f\n", name, pct(*v, 50), pct(*v, 90), pct(*v, 99),
                  pct(*v, 100));
    std::printf("state writes: %llu\n", static_cast<unsigned long long>(drv.stateWrites()));

    std::printf("%-32s %8s %8s\n", "resource", "before", "after");
    auto b = before.list(), a = after.list();
    for (size_t i = 0; i < b.size(); ++i) {
      bool grew = a[i].second > b[i].second;
      std::printf("%-32s %8zu %8zu%s\n", b[i].first, b[i].second, a[i].second, grew ? "  <-- LEAK" : "");
      if (grew) rc = 1;
    }

    // Tear down through the driver too (it must leave nothing in the kernel).
    check(drv.deleteNetwork(nid), "deleteNetwork");
    auto ns = check(k.listNetns(), "listNetns");
    if (std::count(ns.begin(), ns.end(), sandbox)) {
      std::printf("sandbox %s still present after deleteNetwork  <-- LEAK\n", sandbox.c_str());
      rc = 1;
    }
    (void)k.deleteLink(kernel::kHostNetns, "ul0");
    (void)k.deleteNetns(underNs);
  }
  bench::removeStateDir();
  std::printf("%s\n", rc == 0 ? "no leak: OK" : "LEAK: FAILED");
  return rc;
}
