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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/gso.h"
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

// One network on both datapaths, each the other's peer. Packet-count
// rekeying off the table for the measurement (the default 2^24 would rotate
// a few times in a long run, which costs one HKDF each).
void connect(Datapath& a, Datapath& b, Clock::time_point now) {
  RekeyPolicy policy{
      .maxPackets = kMaxPacketsPerKey, .maxAge = kMaxKeyAge, .overlap = std::chrono::seconds(60)};
  std::vector<uint8_t> material(32, 0x42);
  if (!a.addNetwork(kVni, "bench", material, policy, kPort) ||
      !b.addNetwork(kVni, "bench", material, policy, kPort) ||
      !a.addPeer(kVni, {"bench-b", kIdB, "198.18.0.2", 1, 0}, now) ||
      !b.addPeer(kVni, {"bench-a", kIdA, "198.18.0.1", 1, 0}, now)) {
    std::fprintf(stderr, "datapath-bench: setup failed\n");
    std::exit(1);
  }
}

void bench(size_t frameSize, double seconds) {
  const auto now = Clock::now();
  Datapath a("bench-a", kIdA), b("bench-b", kIdB);
  connect(a, b, now);
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

// A TSO super-frame as a TAP hands it over: Ethernet + IPv4 + TCP (ACK),
// `payload` bytes, the TCP checksum field holding the pseudo header's sum.
std::vector<uint8_t> superFrame(size_t payload) {
  std::vector<uint8_t> f(14 + 20 + 20 + payload, 0x5a);
  const uint8_t eth[14] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00};
  std::copy(std::begin(eth), std::end(eth), f.begin());
  uint8_t* ip = f.data() + 14;
  const size_t ipLen = f.size() - 14;
  const uint8_t iph[20] = {
      0x45, 0, uint8_t(ipLen >> 8), uint8_t(ipLen), 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 51, 1, 2, 10, 51, 2, 2};
  std::copy(std::begin(iph), std::end(iph), ip);
  uint8_t* tcp = ip + 20;
  const uint8_t tcph[20] = {0x9c, 0x40, 0x14, 0x51, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0x50, 0x10, 0x01, 0xf5};
  std::copy(std::begin(tcph), std::end(tcph), tcp);
  return f;
}

// The whole per-byte work of the userspace path for one TCP stream at a
// 1500 underlay (container MTU 1418, MSS 1378): send side = Segmenter (cut
// a 64 KB super-frame, complete checksums) + seal each segment; receive
// side = open each + Coalescer (one super-frame per run). CPU seconds per
// GB of TCP payload, each side measured alone. `gather`: the super-frame
// handed over as the datapath loop writes it, in pieces (takePieces(), each
// payload where it was opened); without: copied together first (take()),
// as before. (A gathered seal of each segment's headers and payload, with no
// copy on the send side, measured slower than the copy: OpenSSL's GCM
// leaves its fast path for an update that starts inside an AES block.)
void pipeline(double seconds, bool gather) {
  const auto now = Clock::now();
  Datapath a("bench-a", kIdA), b("bench-b", kIdB);
  connect(a, b, now);
  const PeerAddr to = *parsePeerAddr("198.18.0.2", kPort);
  constexpr size_t kMss = 1378, kSegments = 46;
  auto super = superFrame(kMss * kSegments);
  const VnetHdr h{kVnetNeedsCsum, kVnetGsoTcpv4, 54, kMss, 34, 16};
  Segmenter seg;
  std::vector<std::span<const uint8_t>> frames;
  std::vector<std::vector<uint8_t>> sealed(kSegments, std::vector<uint8_t>(kOverhead + kMaxFrameSize));
  std::vector<size_t> sealedLen(kSegments);
  bool ok = true;
  auto send = [&] {
    ok &= seg.split(h, super, kMaxFrameSize, &frames) == SegmentError::kNone && frames.size() == kSegments;
    for (size_t i = 0; i < frames.size(); ++i) {
      const std::span<const uint8_t> one[] = {frames[i]};
      auto n = a.seal(kVni, to, one, sealed[i], now);
      ok &= n.ok();
      sealedLen[i] = n ? *n : 0;
    }
  };
  // The receive side opens copies of one sealed run under fresh sequence
  // numbers: sealed again each round, outside the measured time would need
  // a clock per packet, so the seal is measured with it and subtracted.
  // (The copy into the receive buffers stands for recvmmsg's.)
  Coalescer co;
  Datapath::Received got;
  std::vector<std::vector<uint8_t>> rx(kSegments, std::vector<uint8_t>(kOverhead + kMaxFrameSize));
  size_t written = 0;
  auto flush = [&] {
    if (!gather) {
      written += co.take().size();
      return;
    }
    for (const auto& p : co.takePieces()) written += p.size();
  };
  auto receive = [&] {
    for (size_t i = 0; i < kSegments; ++i) {
      std::copy_n(sealed[i].begin(), sealedLen[i], rx[i].begin());
      ok &= b.open(std::span(rx[i].data(), sealedLen[i]), &got, now);
      for (auto f : got.frames)
        if (!co.add(f)) {
          flush();
          ok &= co.add(f);
        }
    }
    flush();
  };
  const double gbPerRound = static_cast<double>(kMss * kSegments) / 1e9;
  auto perGb = [&](const Rate& r) { return r.cpu / (static_cast<double>(r.packets) * gbPerRound); };
  const double tx = perGb(measure(seconds / 2, send));
  const double txRx = perGb(measure(seconds / 2, [&] {
    send();
    receive();
  }));
  if (!ok || b.totals().dropped() != 0 || written == 0) {
    std::fprintf(stderr, "datapath-bench: the pipeline failed\n");
    std::exit(1);
  }
  std::printf(
      "  pipeline%s, 64 KB TSO super-frames, MSS %zu: send (segment+seal) %.3f CPU s/GB, receive "
      "(open+coalesce) %.3f CPU s/GB\n",
      gather ? "" : " (copying)", kMss, tx, txRx - tx);
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
  pipeline(seconds, false);
  pipeline(seconds, true);
  std::printf(
      "per-packet overhead on the wire: %zu B datapath (header %zu + tag %zu) + %zu B outer IPv4/UDP = %zu "
      "B\n",
      kOverhead, kHeaderSize, kTagSize, kOuterIpv4Header + kUdpHeader, packetOverhead(false));
  std::printf("container MTU: %u on a 1500 underlay, %u on 9000 (IPv4; IPv6 underlay: %u, %u)\n",
              innerMtu(1500, false), innerMtu(9000, false), innerMtu(1500, true), innerMtu(9000, true));
  return 0;
}
