// weft-remote-endpoints-bench: programs remote endpoints (what the cluster
// reports of containers on other hosts) into a real sandbox through
// weft::driver::Driver::applyRemote on the real kernel (NetlinkKernel), in a
// throwaway network + mount namespace, and prints endpoints/s and netlink
// round trips per endpoint for three phases: program N endpoints spread over
// V remote VTEPs, move every one to another VTEP, remove them all. The
// kernel's neighbour and FDB tables are checked after each phase.
//
//   sudo build/bin/weft-remote-endpoints-bench [--endpoints N] [--vteps V] [--state-dir DIR]
//
// Round trips are counted by interposing sendto(2) for AF_NETLINK
// destinations (every netlink request, a dump included, is one sendto and
// its answer), so the count does not depend on the shim's own bookkeeping
// and this file builds unchanged against older revisions of weft
// (bench/kernel/remote_endpoints_bench.sh measures before and after).

#include <dlfcn.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "bench/kernel/bench_world.h"
#include "common/log.h"
#include "driver/driver.h"
#include "kernel/netlink_kernel.h"

namespace {
std::atomic<uint64_t> gNetlinkSends{0};
}

extern "C" ssize_t sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr,
                          socklen_t addrLen) {
  using Fn = ssize_t (*)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "sendto"));
  if (addr && addr->sa_family == AF_NETLINK) gNetlinkSends.fetch_add(1, std::memory_order_relaxed);
  return real(fd, buf, len, flags, addr, addrLen);
}

namespace {

using namespace weft;
using bench::check;
using bench::die;
using Clock = std::chrono::steady_clock;

driver::EndpointRecord remote(const std::string& network, int i, int vtep) {
  char id[65], mac[32], ip[32], at[32];
  std::snprintf(id, sizeof id, "%064x", i + 1);
  const int host = i + 2;  // 10.10.0.2 onwards (10.10.0.1 is the gateway)
  std::snprintf(mac, sizeof mac, "02:42:0a:0a:%02x:%02x", host / 256, host % 256);
  std::snprintf(ip, sizeof ip, "10.10.%d.%d/16", host / 256, host % 256);
  std::snprintf(at, sizeof at, "198.18.0.%d", 10 + vtep);
  return {network, id, ip, "", mac, at};
}

// One phase over all rounds: its times, and its round trips (the same in
// every round: the work is).
// Driver::applyRemote's second parameter was a bool (active) and became
// RecordState {kActive, kWithdrawn}; this file builds against either, so the
// script can measure revisions from before and after that change.
template <class C, class R, class S>
S stateParam(void (C::*)(const R&, S));
using RemoteState = decltype(stateParam(&driver::Driver::applyRemote));
template <class S = RemoteState>
S remoteState(bool active) {
  if constexpr (std::is_same_v<S, bool>)
    return active;
  else
    return static_cast<S>(active ? 0 : 1);  // kActive, kWithdrawn
}

struct Phase {
  const char* name;
  std::vector<double> seconds;
  uint64_t roundTrips = 0;
  double median() const {
    std::vector<double> v = seconds;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
};

}  // namespace

int main(int argc, char** argv) {
  int endpoints = 1000, vteps = 20, rounds = 5;
  std::string stateParent = "/tmp";
  bench::info().program = "weft-remote-endpoints-bench";
  bench::parseFlags(argc, argv,
                    {{"--endpoints", [&](const std::string& v) { endpoints = std::stoi(v); }},
                     {"--vteps", [&](const std::string& v) { vteps = std::stoi(v); }},
                     {"--rounds", [&](const std::string& v) { rounds = std::stoi(v); }},
                     {"--state-dir", [&](const std::string& v) { stateParent = v; }}},
                    "usage: weft-remote-endpoints-bench [--endpoints N (1000)] [--vteps V (20)] [--rounds R "
                    "(5)] [--state-dir PARENT]");
  if (endpoints < 1 || endpoints > 60000 || vteps < 2 || vteps > 200 || rounds < 1)
    die("--endpoints must be 1..60000, --vteps 2..200, --rounds >= 1");
  if (::geteuid() != 0) {
    std::fprintf(stderr, "weft-remote-endpoints-bench: needs root\n");
    return 77;
  }
  log::setLevel(log::Level::kWarn);
  const std::string stateDir = bench::enterThrowawayWorld(stateParent);

  std::vector<Phase> phases{{"program", {}, 0}, {"move", {}, 0}, {"remove", {}, 0}};
  {
    kernel::NetlinkKernel k(stateDir + "/netns");
    bench::makeUnderlay(k, "bench-underlay");
    driver::DriverConfig dc;
    dc.stateDir = stateDir;
    dc.advertiseAddr = "198.18.0.1";
    driver::Driver drv(dc, k);
    check(drv.start(), "driver start");
    driver::CreateNetworkRequest cn;
    cn.networkId = std::string(64, 'b');
    cn.ipv4.push_back({"", "10.10.0.0/16", "10.10.0.1/16", {}});
    check(drv.createNetwork(cn), "createNetwork");
    const driver::Network net = drv.networks().at(0);

    // The kernel must hold exactly one neighbour and one FDB entry per
    // endpoint and one flood entry per VTEP in use.
    auto expectTables = [&](const char* phase, size_t neigh, size_t fdb) {
      auto n = check(k.listNeigh(net.netns, net.vxlanName), "listNeigh").size();
      auto f = check(k.listFdb(net.netns, net.vxlanName), "listFdb").size();
      if (n != neigh || f != fdb)
        die(std::string(phase) + ": kernel holds " + std::to_string(n) + " neighbour and " +
            std::to_string(f) + " FDB entries, expected " + std::to_string(neigh) + " and " +
            std::to_string(fdb));
    };
    auto run = [&](Phase& phase, auto&& body) {
      uint64_t sends = gNetlinkSends.load();
      auto t0 = Clock::now();
      for (int i = 0; i < endpoints; ++i) body(i);
      phase.seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      phase.roundTrips = gNetlinkSends.load() - sends;
    };
    const size_t n = static_cast<size_t>(endpoints), v = static_cast<size_t>(std::min(endpoints, vteps));
    for (int round = 0; round < rounds; ++round) {
      run(phases[0], [&](int i) { drv.applyRemote(remote(net.identity, i, i % vteps), remoteState(true)); });
      expectTables("program", n, n + v);
      // Every endpoint moves to the next VTEP (a host that took over its container).
      run(phases[1],
          [&](int i) { drv.applyRemote(remote(net.identity, i, (i + 1) % vteps), remoteState(true)); });
      expectTables("move", n, n + v);
      run(phases[2],
          [&](int i) { drv.applyRemote(remote(net.identity, i, (i + 1) % vteps), remoteState(false)); });
      expectTables("remove", 0, 0);
    }
    std::printf(
        "%d remote endpoints over %d VTEPs into sandbox %s (vni %u), %d rounds; kernel tables checked "
        "after each phase\n",
        endpoints, vteps, net.netns.c_str(), net.vni, rounds);
    check(drv.deleteNetwork(cn.networkId), "deleteNetwork");
  }
  std::printf("%-8s %14s %22s %18s\n", "phase", "endpoints/s", "round trips/endpoint", "median seconds");
  for (const Phase& p : phases)
    std::printf("%-8s %14.0f %22.2f %18.4f\n", p.name, endpoints / p.median(),
                static_cast<double>(p.roundTrips) / endpoints, p.median());
  bench::removeStateDir();
  return 0;
}
