// weft-self-heal-cost-bench: what run-time self-healing and the data-plane
// probes cost a host on the real kernel. In a throwaway network + mount
// namespace, a driver with one network and N remote endpoints spread over V
// remote hosts (their neighbour, FDB and flood entries programmed into a real
// sandbox), run as weft-plugin runs it:
//   0. the same 100 ms loop with no work, for S seconds (its wake-ups' own
//      cost, which weft-plugin's reaper thread pays anyway);
//   1. steady state for S seconds: Driver::selfHeal() and syncPeers() every
//      100 ms (a full look every --interval-ms, notifications in between)
//      and a probe round every 2 s on its own thread; prints the CPU time
//      (user + system, every thread of the process) as a share of one core;
//   2. one full look (every link, address and entry compared) timed alone;
//   3. repair: K entries deleted behind weft's back, the time and CPU until
//      the next selfHeal() has put them back.
//
//   sudo build/bin/weft-self-heal-cost-bench [--endpoints N (1000)] [--vteps V (50)]
//        [--seconds S (10)] [--interval-ms I (5000)] [--looks L (20)] [--drift K (100)]
//        [--probes 0|1 (1): 0 measures the self-healing loop alone]

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

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
using Clock = std::chrono::steady_clock;

struct Remote {
  std::string id, ip, mac, vtep;
};

std::vector<Remote> remotes(int endpoints, int vteps) {
  std::vector<Remote> v;
  for (int i = 0; i < endpoints; ++i) {
    char id[65], mac[32], ip[32], at[32];
    const int host = i + 2;
    std::snprintf(id, sizeof id, "%064x", i + 1);
    std::snprintf(mac, sizeof mac, "02:42:0a:0a:%02x:%02x", host / 256, host % 256);
    std::snprintf(ip, sizeof ip, "10.10.%d.%d", host / 256, host % 256);
    std::snprintf(at, sizeof at, "198.18.0.%d", 10 + i % vteps);
    v.push_back({id, ip, mac, at});
  }
  return v;
}

// A driver (as after a start) with one network and the remote endpoints'
// records; their entries programmed (or, on a restart, adopted).
std::unique_ptr<driver::Driver> makeDriver(kernel::Kernel& k, const std::string& stateDir,
                                           std::chrono::milliseconds interval,
                                           const std::vector<Remote>& rs) {
  driver::DriverConfig dc;
  dc.stateDir = stateDir;
  dc.advertiseAddr = "198.18.0.1";
  dc.reservedVni = driver::kDefaultHealthVni;
  dc.reconcileInterval = interval;
  auto drv = std::make_unique<driver::Driver>(dc, k);
  check(drv->start(), "driver start");
  if (drv->networks().empty()) {
    driver::CreateNetworkRequest cn;
    cn.networkId = std::string(64, 'b');
    cn.ipv4.push_back({"", "10.10.0.0/16", "10.10.0.1/16", {}});
    check(drv->createNetwork(cn), "createNetwork");
  }
  const std::string identity = drv->networks().at(0).identity;
  for (const auto& r : rs)
    drv->applyRemote({identity, r.id, r.ip + "/16", "", r.mac, r.vtep}, driver::RecordState::kActive);
  drv->syncPeers();
  return drv;
}

size_t entriesIn(kernel::Kernel& k, const driver::Network& n) {
  return check(k.listNeigh(n.netns, n.vxlanName), "listNeigh").size() +
         check(k.listFdb(n.netns, n.vxlanName), "listFdb").size();
}

}  // namespace

int main(int argc, char** argv) {
  int endpoints = 1000, vteps = 50, seconds = 10, intervalMs = 5000, looks = 20, drift = 100, probesOn = 1;
  bench::info().program = "weft-self-heal-cost-bench";
  bench::parseFlags(
      argc, argv,
      {{"--endpoints", [&](const std::string& v) { endpoints = std::stoi(v); }},
       {"--vteps", [&](const std::string& v) { vteps = std::stoi(v); }},
       {"--seconds", [&](const std::string& v) { seconds = std::stoi(v); }},
       {"--interval-ms", [&](const std::string& v) { intervalMs = std::stoi(v); }},
       {"--looks", [&](const std::string& v) { looks = std::stoi(v); }},
       {"--drift", [&](const std::string& v) { drift = std::stoi(v); }},
       {"--probes", [&](const std::string& v) { probesOn = std::stoi(v); }}},
      "usage: weft-self-heal-cost-bench [--endpoints N (1000)] [--vteps V (50)] [--seconds S (10)] "
      "[--interval-ms I (5000)] [--looks L (20)] [--drift K (100)] [--probes 0|1 (1)]");
  if (endpoints < 1 || endpoints > 60000 || vteps < 1 || vteps > 200 || seconds < 1 || intervalMs < 100 ||
      looks < 1 || drift < 0 || drift > endpoints || (probesOn != 0 && probesOn != 1))
    die("--endpoints must be 1..60000, --vteps 1..200, --seconds >= 1, --interval-ms >= 100, --looks >= 1, "
        "--drift 0..endpoints, --probes 0 or 1");
  if (::geteuid() != 0) {
    std::fprintf(stderr, "weft-self-heal-cost-bench: needs root\n");
    return 77;
  }
  log::setLevel(log::Level::kWarn);
  const std::string stateDir = bench::enterThrowawayWorld("/tmp");
  {
    kernel::NetlinkKernel k(stateDir + "/netns");
    bench::makeUnderlay(k, "bench-underlay");
    const auto rs = remotes(endpoints, vteps);
    auto drv = makeDriver(k, stateDir, std::chrono::milliseconds(intervalMs), rs);
    const driver::Network net = drv->networks().at(0);
    const size_t programmed = entriesIn(k, net);
    if (programmed != static_cast<size_t>(2 * endpoints + vteps))
      die("sandbox holds " + std::to_string(programmed) + " entries, expected " +
          std::to_string(2 * endpoints + vteps));
    if (drv->selfHeal() != 0) die("a freshly programmed sandbox needed corrections");

    // 1. Steady state, as weft-plugin runs it.
    driver::ProberConfig pc;
    pc.net = {driver::kDefaultHealthVni, 4789, "198.18.0.1"};
    pc.timeout = std::chrono::milliseconds(200);  // nobody answers: a short wait, the same CPU
    driver::Prober prober(k, pc, [] { return std::chrono::system_clock::now(); });
    prober.round(drv->dataPlanePeers());  // builds the health namespace and its entries
    // The 100 ms loop alone (sleep and wake-up, no work): what weft-plugin's
    // reaper thread costs whatever it does, measured to tell it apart.
    const double cb = cpuSeconds();
    const auto tb = Clock::now();
    for (auto next = tb + std::chrono::milliseconds(100); next <= tb + std::chrono::seconds(seconds);
         next += std::chrono::milliseconds(100))
      std::this_thread::sleep_until(next);
    const double idleShare = (cpuSeconds() - cb) / std::chrono::duration<double>(Clock::now() - tb).count();

    // The probe thread as weft-plugin's: a round, then sleep until 2 s after
    // its start; the main thread as its reaper: every 100 ms.
    const int probeRounds = probesOn ? (seconds + 1) / 2 : 0;
    const double cpu0 = cpuSeconds();
    const auto t0 = Clock::now();
    std::thread probes([&] {
      for (int r = 0; r < probeRounds; ++r) {
        auto start = Clock::now();
        prober.round(drv->dataPlanePeers());
        std::this_thread::sleep_until(start + std::chrono::seconds(2));
      }
    });
    size_t ticks = 0, fixed = 0, slowTicks = 0;
    for (auto next = t0 + std::chrono::milliseconds(100); next <= t0 + std::chrono::seconds(seconds);
         next += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_until(next);
      drv->syncPeers();
      const auto h0 = Clock::now();
      fixed += drv->selfHeal();
      // A look lists thousands of entries (milliseconds); a quiet tick drains
      // an empty socket (microseconds).
      if (Clock::now() - h0 > std::chrono::microseconds(500)) ++slowTicks;
      ++ticks;
    }
    probes.join();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpuSeconds() - cpu0;
    if (fixed) die("the steady state made " + std::to_string(fixed) + " corrections; nothing drifted");
    std::printf(
        "self-heal + probes: %d remote endpoints on %d hosts (%zu kernel entries), full look every %d ms\n",
        endpoints, vteps, programmed, intervalMs);
    std::printf(
        "  steady state       %.1f s, %zu ticks of 100 ms (%zu looked: over 0.5 ms), %d probe rounds\n", wall,
        ticks, slowTicks, probeRounds);
    std::printf("  cpu                %.3f s = %.3f %% of one core\n", cpu, cpu / wall * 100.0);
    std::printf("  of which           %.3f %% the 100 ms loop's own sleep/wake-up (measured with no work)\n",
                idleShare * 100.0);

    // What one quiet tick costs by itself (nothing changed, no look due).
    const int quiet = 1000;
    const double cq = cpuSeconds();
    for (int i = 0; i < quiet; ++i) {
      drv->syncPeers();
      if (drv->selfHeal() != 0) die("a quiet tick made corrections");
    }
    std::printf("  quiet tick         %.1f us cpu (syncPeers + selfHeal, nothing to do; %d ticks)\n",
                (cpuSeconds() - cq) / quiet * 1e6, quiet);

    // 2. One full look alone (every call a full look).
    drv.reset();
    drv = makeDriver(k, stateDir, std::chrono::milliseconds(1), rs);
    drv->selfHeal();  // opens the watch
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const double c1 = cpuSeconds();
    const auto w1 = Clock::now();
    for (int i = 0; i < looks; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // due again
      if (drv->selfHeal() != 0) die("a full look made corrections; nothing drifted");
    }
    const double perLook = (cpuSeconds() - c1) / looks;
    const double perLookWall =
        (std::chrono::duration<double>(Clock::now() - w1).count() - looks * 0.002) / looks;
    std::printf("  full look          %.3f ms cpu, %.3f ms wall (%d looks)\n", perLook * 1e3,
                perLookWall * 1e3, looks);
    std::printf("  at one per %d ms    %.4f %% of one core\n", intervalMs,
                perLook / (intervalMs / 1000.0) * 100);

    // 3. Drift: entries deleted behind weft's back, put back by one call.
    if (drift > 0) {
      for (int i = 0; i < drift; ++i) {
        const auto& r = rs[static_cast<size_t>(i)];
        check(k.delFdb(net.netns, {net.vxlanName, *MacAddr::parse(r.mac), *IpAddr::parse(r.vtep)}), "delFdb");
      }
      const double c2 = cpuSeconds();
      const auto w2 = Clock::now();
      const size_t n = drv->selfHeal();
      const double repairWall = std::chrono::duration<double>(Clock::now() - w2).count();
      if (n != static_cast<size_t>(drift) || entriesIn(k, net) != programmed)
        die("repair put back " + std::to_string(n) + " of " + std::to_string(drift) + " entries");
      std::printf(
          "  repair             %d fdb entries deleted: put back by one look in %.3f ms wall, %.3f ms cpu\n",
          drift, repairWall * 1e3, (cpuSeconds() - c2) * 1e3);
    }
  }
  bench::removeStateDir();
  return 0;
}
