// weft-datapath-bench: what one core of the userspace encrypted datapath
// can seal and open (AES-256-GCM through the real TxSession and
// Datapath::open: header, replay window, counters), and the bytes each packet
// adds on the wire. Prints numbers; not a test.
//
// Throughput is per CPU second of the measuring thread
// (CLOCK_THREAD_CPUTIME_ID), so a machine shared with other work still
// reports what one core does; wall-clock rates are printed beside it.
//
//   weft-datapath-bench [seconds per case, default 2]

#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/mtu.h"

using namespace weft::datapath;

namespace {

constexpr uint32_t kVni = 100, kIdA = 1, kIdB = 2;
constexpr uint16_t kPort = 4790;

double cpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Rate {
  uint64_t packets = 0;
  double cpu = 0, wall = 0;
};

// Runs `step` until `seconds` of CPU time have passed; checks the clock
// every 256 packets so timing costs nothing measurable.
template <class Step>
Rate measure(double seconds, Step step) {
  Rate r;
  const double c0 = cpuSeconds();
  const auto w0 = std::chrono::steady_clock::now();
  while (cpuSeconds() - c0 < seconds) {
    for (int i = 0; i < 256; ++i) step();
    r.packets += 256;
  }
  r.cpu = cpuSeconds() - c0;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  return r;
}

void print(const char* what, size_t frame, const Rate& r) {
  const double pps = static_cast<double>(r.packets) / r.cpu;
  std::printf("  %-12s %5zu B frames: %7.3f Gbit/s  %9.0f packets/s per core   (wall %.3f Gbit/s)\n", what,
              frame, pps * static_cast<double>(frame) * 8 / 1e9, pps,
              static_cast<double>(r.packets) / r.wall * static_cast<double>(frame) * 8 / 1e9);
}

void bench(size_t frameSize, double seconds) {
  const auto now = Clock::now();
  // Packet-count rekeying off the table for the measurement (the default
  // 2^24 would rotate a few times in a long run, which costs one HKDF each).
  RekeyPolicy policy{
      .maxPackets = kMaxPacketsPerKey, .maxAge = kMaxKeyAge, .overlap = std::chrono::seconds(60)};
  Datapath a("bench-a", kIdA), b("bench-b", kIdB);
  std::vector<uint8_t> material(32, 0x42);
  if (!a.addNetwork(kVni, "bench", material, policy, kPort) ||
      !b.addNetwork(kVni, "bench", material, policy, kPort) ||
      !a.addPeer(kVni, {"bench-b", kIdB, "198.18.0.2", 1, 0}, now) ||
      !b.addPeer(kVni, {"bench-a", kIdA, "198.18.0.1", 1, 0}, now)) {
    std::fprintf(stderr, "datapath-bench: setup failed\n");
    std::exit(1);
  }
  const PeerAddr to = *parsePeerAddr("198.18.0.2", kPort);
  std::vector<uint8_t> frame(frameSize, 0x5a), buf(kOverhead + frameSize);
  std::span<const uint8_t> frames[] = {frame};
  Datapath::Received got;
  bool ok = true;

  print("seal", frameSize, measure(seconds, [&] { ok &= a.seal(kVni, to, frames, buf, now).ok(); }));
  print("seal+open", frameSize, measure(seconds, [&] {
          ok &= a.seal(kVni, to, frames, buf, now).ok();
          ok &= b.open(buf, &got, now);
        }));
  if (!ok || b.totals().dropped() != 0) {
    std::fprintf(stderr, "datapath-bench: a packet failed to seal or open\n");
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  if (seconds <= 0 || seconds > 60) {
    std::fprintf(stderr, "usage: weft-datapath-bench [seconds per case, 0 < s <= 60]\n");
    return 2;
  }
  std::printf("weft userspace datapath, AES-256-GCM, one core, %.1f s CPU per case\n", seconds);
  for (size_t frame : {1450, 8950}) bench(frame, seconds);
  std::printf(
      "per-packet overhead on the wire: %zu B datapath (header %zu + tag %zu) + %zu B outer IPv4/UDP = %zu "
      "B\n",
      kOverhead, kHeaderSize, kTagSize, kOuterIpv4Header + kUdpHeader, packetOverhead(false));
  std::printf("container MTU: %u on a 1500 underlay, %u on 9000 (IPv4; IPv6 underlay: %u, %u)\n",
              innerMtu(1500, false), innerMtu(9000, false), innerMtu(1500, true), innerMtu(9000, true));
  return 0;
}
