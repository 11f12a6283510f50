// weft-probe-cost-bench: what the data-plane probes cost a host on the real
// kernel. In a throwaway network + mount namespace, a driver with one network
// and N remote endpoints spread over V remote hosts (VTEPs), and a Prober as
// weft-plugin runs it; prints the CPU time (user + system, every thread of
// the process) of one probe round -- Driver::dataPlanePeers(), the health
// namespace's repair, its peer entries, 2 echo probes per host -- and what
// that is as a share of one core at the plugin's 2 s interval. No host
// answers (nothing is behind the VTEPs), so each round also waits out its
// timeout, which costs no CPU; an answered probe would add one receive.
//
//   sudo build/bin/weft-probe-cost-bench [--endpoints N (1000)] [--vteps V (50)] [--rounds R (10)]

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bench/kernel/bench_world.h"
#include "common/log.h"
#include "driver/driver.h"
#include "driver/prober.h"
#include "kernel/netlink_kernel.h"

namespace {

using namespace weft;
using bench::check;
using bench::cpuSeconds;
using bench::die;

}  // namespace

int main(int argc, char** argv) {
  int endpoints = 1000, vteps = 50, rounds = 10;
  bench::info().program = "weft-probe-cost-bench";
  bench::parseFlags(argc, argv,
                    {{"--endpoints", [&](const std::string& v) { endpoints = std::stoi(v); }},
                     {"--vteps", [&](const std::string& v) { vteps = std::stoi(v); }},
                     {"--rounds", [&](const std::string& v) { rounds = std::stoi(v); }}},
                    "usage: weft-probe-cost-bench [--endpoints N (1000)] [--vteps V (50)] [--rounds R (10)]");
  if (endpoints < 1 || endpoints > 60000 || vteps < 1 || vteps > 200 || rounds < 1)
    die("--endpoints must be 1..60000, --vteps 1..200, --rounds >= 1");
  if (::geteuid() != 0) {
    std::fprintf(stderr, "weft-probe-cost-bench: needs root\n");
    return 77;
  }
  log::setLevel(log::Level::kWarn);
  const std::string stateDir = bench::enterThrowawayWorld("/tmp");
  {
    kernel::NetlinkKernel k(stateDir + "/netns");
    bench::makeUnderlay(k, "bench-underlay");
    driver::DriverConfig dc;
    dc.stateDir = stateDir;
    dc.advertiseAddr = "198.18.0.1";
    dc.reservedVni = driver::kDefaultHealthVni;
    driver::Driver drv(dc, k);
    check(drv.start(), "driver start");
    driver::CreateNetworkRequest cn;
    cn.networkId = std::string(64, 'b');
    cn.ipv4.push_back({"", "10.10.0.0/16", "10.10.0.1/16", {}});
    check(drv.createNetwork(cn), "createNetwork");
    const std::string identity = drv.networks().at(0).identity;
    for (int i = 0; i < endpoints; ++i) {
      char id[65], mac[32], ip[32], at[32];
      const int host = i + 2;
      std::snprintf(id, sizeof id, "%064x", i + 1);
      std::snprintf(mac, sizeof mac, "02:42:0a:0a:%02x:%02x", host / 256, host % 256);
      std::snprintf(ip, sizeof ip, "10.10.%d.%d/16", host / 256, host % 256);
      std::snprintf(at, sizeof at, "198.18.0.%d", 10 + i % vteps);
      drv.applyRemote({identity, id, ip, "", mac, at}, driver::RecordState::kActive);
    }
    drv.syncPeers();

    driver::ProberConfig pc;
    pc.net = {driver::kDefaultHealthVni, 4789, "198.18.0.1"};
    pc.timeout = std::chrono::milliseconds(200);  // nobody answers: a short wait, the same CPU
    driver::Prober prober(k, pc, [] { return std::chrono::system_clock::now(); });
    prober.round(drv.dataPlanePeers());  // builds the health namespace and its entries
    if (prober.peers().size() != static_cast<size_t>(vteps))
      die("probing " + std::to_string(prober.peers().size()) + " hosts, expected " + std::to_string(vteps));
    double cpu0 = cpuSeconds();
    for (int r = 0; r < rounds; ++r) prober.round(drv.dataPlanePeers());
    double perRound = (cpuSeconds() - cpu0) / rounds;
    std::printf("probe rounds: %d remote endpoints on %d hosts, %d rounds\n", endpoints, vteps, rounds);
    std::printf("  cpu per round      %.3f ms (%d echo probes)\n", perRound * 1e3, 2 * vteps);
    std::printf("  share of one core  %.4f %% at one round per 2 s\n", perRound / 2.0 * 100.0);
  }
  bench::removeStateDir();
  return 0;
}
