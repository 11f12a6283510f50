// The kernel backend's plane (driver/kernel_plane.h) on a kernel with ESP,
// in the VM of tests/vm/esp_vm_test.cc (same binary, same boot): two hosts
// each running the real KernelPlane on a simple epoch source fed by the test
// (no gossip). It carries a sandbox's traffic as ESP only; rotates one
// direction under a 10 ms ping without losing a reply (twice); survives a
// restart of its process (the plane object dropped without cleanup, as kill
// -9 would, and a new one adopting the kernel's SAs, VTEP and entries: the
// SAs' sequence numbers run on); and a reboot (SAs and policies gone: a new
// plane at A's next epoch, which B accepts ahead); and counts its traffic,
// a replayed and an altered frame as the kernel does.

#include "datapath/keys.h"
#include "tests/vm/esp_vm_fixture.h"

namespace weft::vmtest {
namespace {

const std::string kPlaneScope = "weft-vm-plane";

class KernelPlaneVm : public KernelEsp {
 protected:
  // A plane for h as weft-plugin makes one when it starts: what the kernel
  // holds from before is adopted.
  static Status startPlane(Host& h) {
    h.plane.reset();  // without cleanup, as kill -9 would
    if (!h.bm) h.bm = kernel::makeNetlinkBridgeMulticast(*h.k);
    auto esp =
        EspPairs::create(*h.k, EspConfig{kPlaneScope, h.underlay, h.underlay, kPlanePort}, material(0x33));
    if (!esp) return esp.error();
    auto plane = driver::KernelPlane::create(
        *h.k, *h.bm, driver::KernelPlaneConfig{h.underlay, kPlanePort, std::chrono::milliseconds(300)},
        std::move(*esp), *h.epochs);
    if (!plane) return plane.error();
    h.plane = std::move(*plane);
    return h.plane->attach(driver::EncryptedNetwork{"net-plane", 44, h.sandbox, 1400});
  }
  // The peer's container (here: its br0) as a plane's peer entries.
  static driver::PeerEntries entriesOf(Host& peer) {
    driver::PeerEntries e;
    auto br = peer.k->getLink(peer.sandbox, "br0");
    if (!br.ok()) return e;
    e.neigh[peer.sandboxInner] = br->mac;
    e.fdb[br->mac] = peer.underlay;
    e.flood.insert(peer.underlay);
    return e;
  }
  static uint32_t spiOf(const Host& from, const Host& to, uint32_t epoch) {
    return datapath::deriveEspKey(material(0x33), {kPlaneScope, from.underlay, to.underlay}, epoch)->spi;
  }
  static uint32_t outEpoch(Host& h, const Host& peer) {
    for (const auto& s : h.plane->peerStates())
      if (s.peer == peer.underlay) return s.outEpoch;
    return 0;
  }
  // Frames on A's underlay: ESP per SPI (with their sequence numbers in
  // order), and cleartext VXLAN on the plane's port.
  struct Wire {
    std::map<uint32_t, std::vector<uint32_t>> seqs;  // SPI -> sequence numbers
    size_t esp = 0, clear = 0, markers = 0;
  };
  // The kernel's xfrm error counters (/proc/net/xfrm_stat) in a namespace,
  // those not 0: what to look at when traffic does not cross.
  static std::string xfrmErrors(const std::string& nsPath) {
    std::string out;
    auto ns = kernel::openNetnsFile(nsPath);
    if (!ns) return "?";
    (void)kernel::runInNetns(ns->get(), [&]() -> Status {
      FILE* f = std::fopen("/proc/self/net/xfrm_stat", "r");
      if (!f) {
        out = "(no /proc/net/xfrm_stat)";
        return Status::Ok();
      }
      char name[64];
      unsigned long long n = 0;
      while (std::fscanf(f, "%63s %llu", name, &n) == 2)
        if (n) out += std::string(name) + "=" + std::to_string(n) + " ";
      std::fclose(f);
      return Status::Ok();
    });
    return out;
  }
  static Wire read(const Fd& wire) {
    Wire w;
    for (const Packet& f : drain(wire)) {
      w.markers += contains(f, kMarker);
      if (ipProto(f) == IPPROTO_ESP) {
        ++w.esp;
        w.seqs[espSpi(f)].push_back(espSeq(f));
      }
      w.clear += ipProto(f) == IPPROTO_UDP && udpDstPort(f) == kPlanePort;
    }
    return w;
  }
};

// The kernel backend's plane (driver/kernel_plane.h), as weft-plugin would
// run it, on each host: a sandbox namespace with br0, the plane puts its
// VTEP there on its own port, closes that port, and programs the peer's
// entries and ESP from PeerEntries. Traffic between the sandboxes crosses as
// ESP only; when B's plane drops A, nothing gets through any more.
TEST_F(KernelPlaneVm, ThePlaneCarriesASandboxesTrafficOverEspOnItsOwnPort) {
  ASSERT_TRUE(a_.k && b_.k) << "set-up failed";
  for (Host* h : {&a_, &b_}) {
    ASSERT_OK(h->k->createNetns(h->sandbox));
    ASSERT_OK(h->k->createBridge(h->sandbox, "br0", 1400));
    ASSERT_OK(h->k->addAddress(h->sandbox, "br0", h->sandboxInner + "/24"));
    ASSERT_OK(h->k->setLinkUp(h->sandbox, "br0", true));
    ASSERT_OK(h->k->setLinkUp(h->sandbox, "lo", true));
    Host* peer = h == &a_ ? &b_ : &a_;
    h->epochs->set([&](VmEpochs& e) {
      e.out[peer->underlay] = 1;
      e.in[peer->underlay] = {1, 2};  // the peer's current and next
    });
    ASSERT_OK(startPlane(*h));
  }
  // Each plane gets the other's container (here: its br0) as a peer entry.
  a_.plane->setPeers("net-plane", entriesOf(b_));
  b_.plane->setPeers("net-plane", entriesOf(a_));
  ASSERT_EQ(a_.plane->espPeers(), std::vector<std::string>{b_.underlay});
  ASSERT_EQ(b_.plane->espPeers(), std::vector<std::string>{a_.underlay});
  auto isolated = a_.bm->getPortIsolated(a_.sandbox, driver::kKernelVtepName);
  ASSERT_OK(isolated);
  EXPECT_TRUE(*isolated);

  const std::string sandboxA = a_.k->netnsPath(a_.sandbox);
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  ASSERT_TRUE(wire);
  const int answered = pingsFrom(sandboxA, b_.sandboxInner, 5, std::chrono::seconds(3));
  EXPECT_EQ(answered, 5);
  size_t esp = 0, clear = 0;
  for (const Packet& f : drain(wire)) {
    EXPECT_FALSE(contains(f, kMarker)) << "plaintext marker on the underlay";
    if (f.size() < 14 || f[12] != 0x08 || f[13] != 0x00) continue;
    esp += ipProto(f) == IPPROTO_ESP;
    clear += ipProto(f) == IPPROTO_UDP && udpDstPort(f) == kPlanePort;
  }
  EXPECT_GE(esp, 10u);
  EXPECT_EQ(clear, 0u) << "cleartext VXLAN on the plane's port";
  // B's plane lets A go (its records went): entries, then SAs and policies;
  // A still sends under ESP, B's closed port refuses it.
  b_.plane->setPeers("net-plane", {});
  EXPECT_TRUE(b_.plane->espPeers().empty());
  const int afterDrop = pingsFrom(sandboxA, b_.sandboxInner, 3, std::chrono::seconds(1));
  EXPECT_EQ(afterDrop, 0);
  std::printf(
      "esp-vm-test: kernel plane: %d/5 pings between sandboxes, %zu ESP frames, %zu cleartext on port %u; "
      "%d/3 after B dropped A\n",
      answered, esp, clear, kPlanePort, afterDrop);
  // B takes A back, at a new outbound epoch of its own (1 was used with A;
  // A accepts 2 ahead).
  b_.epochs->set([](VmEpochs& e) { e.out[a_.underlay] = 2; });
  b_.plane->setPeers("net-plane", entriesOf(a_));
  EXPECT_EQ(pingsFrom(sandboxA, b_.sandboxInner, 3, std::chrono::seconds(3)), 3);
}

// (a) A rotates its direction twice under a 10 ms ping: B accepts A's next
// epoch ahead, so A's refresh() adds the new outbound SA and moves its
// policy without a round trip; B then moves its window on. No reply lost.
TEST_F(KernelPlaneVm, RotationOfOneDirectionUnderA10msPingLosesNoReply) {
  ASSERT_TRUE(a_.plane && b_.plane) << "set-up failed";
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  constexpr int kEchoes = 250;  // 2.5 s
  PingLoop loop(a_.k->netnsPath(a_.sandbox), b_.sandboxInner, kEchoes, 0x70a1);
  ASSERT_TRUE(wire && loop.ok());
  const uint32_t e0 = outEpoch(a_, b_);
  Status st[4];
  for (int i = 0; i < 2; ++i) {
    const uint32_t next = e0 + 1 + i;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    a_.epochs->set([&](VmEpochs& e) { e.out[b_.underlay] = next; });
    st[2 * i] = a_.plane->refresh();
    // B learns it (gossip, here: the test) and accepts the one after ahead;
    // the one before stays in its grace until the next rotation.
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    b_.epochs->set([&](VmEpochs& e) { e.in[a_.underlay] = {next - 1, next, next + 1}; });
    st[2 * i + 1] = b_.plane->refresh();
    (void)a_.plane->refresh();  // the previous outbound SA's grace (300 ms) is over
  }
  const size_t replies = loop.wait();
  for (const Status& s : st) EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(replies, static_cast<size_t>(kEchoes)) << "replies lost across the rotations";
  Wire w = read(wire);
  size_t under[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    auto it = w.seqs.find(spiOf(a_, b_, e0 + i));
    under[i] = it == w.seqs.end() ? 0 : it->second.size();
    EXPECT_GT(under[i], 0u) << "A -> B under epoch " << e0 + i;
  }
  EXPECT_EQ(w.clear, 0u);
  EXPECT_EQ(w.markers, 0u);
  EXPECT_EQ(outEpoch(a_, b_), e0 + 2);
  const auto states = a_.plane->peerStates();
  ASSERT_EQ(states.size(), 1u);
  EXPECT_FALSE(states[0].previousOut) << "the previous outbound SA went after its grace";
  std::printf(
      "esp-vm-test: plane rotation %u -> %u -> %u under 10 ms ping: %zu/%d replies; A -> B frames per epoch "
      "%zu, %zu, %zu; cleartext %zu\n",
      e0, e0 + 1, e0 + 2, replies, kEchoes, under[0], under[1], under[2], w.clear);
}

// (b) weft-plugin on A restarts: the plane object is dropped without any
// cleanup and a new one adopts what the kernel kept, under a 10 ms ping.
// The outbound SA is not re-created: same SPI, its sequence numbers run on
// (a new SA would start again at 1), no willCreateOut for it.
TEST_F(KernelPlaneVm, ARestartAdoptsTheKernelsStateWithoutLosingAReply) {
  ASSERT_TRUE(a_.plane && b_.plane) << "set-up failed";
  const uint32_t out = outEpoch(a_, b_), spi = spiOf(a_, b_, out);
  auto before = a_.k->listXfrmStates();
  ASSERT_OK(before);
  const size_t wills = a_.epochs->willCalls.size();
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  constexpr int kEchoes = 200;
  PingLoop loop(a_.k->netnsPath(a_.sandbox), b_.sandboxInner, kEchoes, 0x70a2);
  ASSERT_TRUE(wire && loop.ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto t0 = std::chrono::steady_clock::now();
  Status started = startPlane(a_);
  if (started) a_.plane->setPeers("net-plane", entriesOf(b_));
  const auto took =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (started) a_.plane->pruneRestored();  // the control plane has resynced
  const size_t replies = loop.wait();
  ASSERT_OK(started);
  EXPECT_EQ(replies, static_cast<size_t>(kEchoes)) << "replies lost across the restart";
  auto after = a_.k->listXfrmStates();
  ASSERT_OK(after);
  EXPECT_EQ(*after, *before) << "the SAs are the kernel's same ones";
  EXPECT_EQ(a_.epochs->willCalls.size(), wills) << "no outbound SA created";
  EXPECT_EQ(outEpoch(a_, b_), out);
  EXPECT_EQ(a_.plane->espPeers(), std::vector<std::string>{b_.underlay});
  Wire w = read(wire);
  const auto& seqs = w.seqs[spi];
  ASSERT_GE(seqs.size(), static_cast<size_t>(kEchoes));
  // A re-created SA would start again at 1: every number would not be new
  // and above the first one seen (the capture may reorder frames of two CPUs
  // slightly, so not strictly in order).
  const std::set<uint32_t> distinct(seqs.begin(), seqs.end());
  const uint32_t first = seqs.front();
  const bool rising = distinct.size() == seqs.size() && *distinct.begin() + 8 >= first && first > 1;
  EXPECT_TRUE(rising) << "A's outbound sequence numbers restarted (the SA was re-created): first " << first
                      << ", lowest " << *distinct.begin() << ", " << seqs.size() - distinct.size()
                      << " repeated";
  EXPECT_EQ(w.clear, 0u);
  std::printf(
      "esp-vm-test: plane restart under 10 ms ping: %zu/%d replies, new plane adopted in %lld us, SPI %08x "
      "sequence %u..%u rising: %s, SAs unchanged: %s\n",
      replies, kEchoes, static_cast<long long>(took.count()), spi, seqs.front(), seqs.back(),
      rising ? "yes" : "no", *after == *before ? "yes" : "no");
  if (replies != static_cast<size_t>(kEchoes))
    std::printf("esp-vm-test: xfrm errors A: %s B: %s\n", xfrmErrors(a_.path).c_str(),
                xfrmErrors(b_.path).c_str());
}

// (c) A reboots: its SAs, policies and VTEP are gone. The new plane starts
// at A's next epoch (never used with B; B accepts it ahead): traffic
// resumes, and A's wire carried only ESP throughout.
TEST_F(KernelPlaneVm, AfterARebootTrafficResumesAtTheNextEpochAndOnlyEspOnTheWire) {
  ASSERT_TRUE(a_.plane && b_.plane) << "set-up failed";
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  ASSERT_TRUE(wire);
  const uint32_t out = outEpoch(a_, b_);
  a_.plane.reset();
  // What a reboot takes: every SA and policy, the sandbox's VTEP.
  auto states = a_.k->listXfrmStates();
  auto policies = a_.k->listXfrmPolicies();
  ASSERT_OK(states);
  ASSERT_OK(policies);
  for (const auto& s : *states) ASSERT_OK(a_.k->delXfrmState(s));
  for (const auto& p : *policies) ASSERT_OK(a_.k->delXfrmPolicy(p));
  ASSERT_OK(a_.k->deleteLink(a_.sandbox, driver::kKernelVtepName));
  const std::string sandboxA = a_.k->netnsPath(a_.sandbox);
  EXPECT_EQ(pingsFrom(sandboxA, b_.sandboxInner, 2, std::chrono::milliseconds(300)), 0);
  a_.epochs->set([&](VmEpochs& e) { e.out[b_.underlay] = out + 1; });
  ASSERT_OK(startPlane(a_));
  a_.plane->setPeers("net-plane", entriesOf(b_));
  // A's endpoints are announced again (here: its br0, whose MAC is its new
  // VTEP's now, the bridge's lowest port).
  b_.plane->setPeers("net-plane", entriesOf(a_));
  // ... and B's sandbox forgets the old MAC its ARP cache holds (a restarted
  // container announces itself; the test's stand-in, br0, does not).
  ASSERT_OK(
      b_.k->delNeigh(b_.sandbox, kernel::NeighEntry{"br0", *IpAddr::parse(a_.sandboxInner), MacAddr{}}));
  auto vtepA = a_.k->getLink(a_.sandbox, driver::kKernelVtepName);
  ASSERT_OK(vtepA);
  Fd atVtep = capture(sandboxA, vtepA->ifindex);
  const int answered = pingsFrom(sandboxA, b_.sandboxInner, 5, std::chrono::seconds(3));
  size_t vtepIn = 0;
  for (const Packet& f : drain(atVtep)) vtepIn += contains(f, kMarker);
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(outEpoch(a_, b_), out + 1);
  Wire w = read(wire);
  EXPECT_EQ(w.clear, 0u) << "cleartext VXLAN on the plane's port";
  EXPECT_EQ(w.markers, 0u);
  EXPECT_GE(w.seqs[spiOf(a_, b_, out + 1)].size(), 5u);
  const uint32_t back = outEpoch(b_, a_);
  std::printf(
      "esp-vm-test: plane after reboot at epoch %u: %d/5 pings, %zu ESP frames (A -> B at %u: %zu, B -> A at "
      "%u: "
      "%zu), %zu cleartext\n",
      out + 1, answered, w.esp, out + 1, w.seqs[spiOf(a_, b_, out + 1)].size(), back,
      w.seqs[spiOf(b_, a_, back)].size(), w.clear);
  if (answered != 5) {
    std::printf("esp-vm-test: xfrm errors A: %s B: %s; frames with the marker on A's VTEP: %zu\n",
                xfrmErrors(a_.path).c_str(), xfrmErrors(b_.path).c_str(), vtepIn);
    if (auto pols = a_.k->listXfrmPolicies(); pols.ok())
      for (const auto& p : *pols)
        std::printf("esp-vm-test: A policy dir %d %s -> %s port %u reqid %u spi %08x block %d\n",
                    static_cast<int>(p.dir), p.src.c_str(), p.dst.c_str(), p.udpPort, p.reqid, p.spi,
                    p.block);
    for (Host* h : {&a_, &b_})
      if (auto sas = h->k->listXfrmStates(); sas.ok())
        for (const auto& sa : *sas)
          std::printf("esp-vm-test: %s SA %s -> %s spi %08x reqid %u\n", h->id.c_str(), sa.src.c_str(),
                      sa.dst.c_str(), sa.spi, sa.reqid);
    for (Host* h : {&a_, &b_})
      if (auto fdb = h->k->listFdb(h->sandbox, driver::kKernelVtepName); fdb.ok())
        for (const auto& f : *fdb)
          std::printf("esp-vm-test: %s fdb %s -> %s\n", h->id.c_str(), f.mac.str().c_str(),
                      f.dst ? f.dst->str().c_str() : "-");
  }
}

// (d) The plane's traffic counters are the kernel's (the SAs' curlft and
// stats, read back through the netlink decoder): pings are counted both
// ways, A's sealed packets are B's opened ones and back; one captured ESP
// frame sent again is exactly one replay at B, one altered frame exactly
// one authentication failure, and neither is opened.
TEST_F(KernelPlaneVm, TrafficCountersAreTheKernelsAndCountAReplayAndAnAlteredFrame) {
  ASSERT_TRUE(a_.plane && b_.plane) << "set-up failed";
  using driver::EspTraffic;
  auto traffic = [](Host& h, const Host& peer) {
    for (const auto& s : h.plane->peerStates())
      if (s.peer == peer.underlay && s.traffic) return *s.traffic;
    return EspTraffic{~0ull};
  };
  // A's and B's counters at one moment: A's read again after B's is the
  // same (no frame of the sandboxes' own, such as IPv6 neighbour discovery,
  // crossed between the two reads).
  struct Both {
    EspTraffic a, b;
  };
  auto settled = [&] {
    Both r;
    for (int i = 0; i < 20; ++i) {
      r.a = traffic(a_, b_), r.b = traffic(b_, a_);
      if (traffic(a_, b_) == r.a) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return r;
  };
  const uint32_t spi = spiOf(a_, b_, outEpoch(a_, b_));
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  ASSERT_TRUE(wire);
  const Both before = settled();
  constexpr int kPings = 10;
  const int answered =
      pingsFrom(a_.k->netnsPath(a_.sandbox), b_.sandboxInner, kPings, std::chrono::seconds(3));
  EXPECT_EQ(answered, kPings);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const Both after = settled();
  const uint64_t aTx = after.a.sealedPackets - before.a.sealedPackets,
                 bRx = after.b.openedPackets - before.b.openedPackets,
                 bTx = after.b.sealedPackets - before.b.sealedPackets,
                 aRx = after.a.openedPackets - before.a.openedPackets;
  const uint64_t aTxBytes = after.a.sealedBytes - before.a.sealedBytes,
                 bRxBytes = after.b.openedBytes - before.b.openedBytes;
  EXPECT_GE(aTx, static_cast<uint64_t>(kPings));
  EXPECT_EQ(bRx, aTx) << "what A sealed to B is what B opened from A";
  EXPECT_GE(bTx, static_cast<uint64_t>(kPings));
  EXPECT_EQ(aRx, bTx);
  // Bytes of the ESP payload's cleartext, the VXLAN datagram (an echo: 87
  // with inner Ethernet, IP, ICMP and the marker), the same at both ends.
  EXPECT_GE(aTxBytes, aTx * 64);
  EXPECT_EQ(bRxBytes, aTxBytes);
  EXPECT_EQ(after.b.replayed, before.b.replayed);
  EXPECT_EQ(after.b.authFailed, before.b.authFailed);

  // A -> B frames under A's SA, as captured past A's xfrm output.
  std::vector<Packet> sent;
  uint32_t highest = 0;
  for (Packet& f : drain(wire))
    if (espSpi(f) == spi) {
      highest = std::max(highest, espSeq(f));
      sent.push_back(std::move(f));
    }
  ASSERT_GE(sent.size(), static_cast<size_t>(kPings));
  auto in = injector();
  ASSERT_TRUE(in);
  // Once more, as an attacker on the wire would: B's window has seen it.
  ASSERT_TRUE(inject(*in, sent.front()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const EspTraffic replayed = traffic(b_, a_);
  EXPECT_EQ(replayed.replayed, after.b.replayed + 1);
  EXPECT_EQ(replayed.authFailed, after.b.authFailed);
  // Altered: a sequence number B has not seen (so the replay check lets it
  // through to decryption), and one bit of its ICV flipped.
  Packet altered = sent.back();
  const size_t esp = 14 + (altered[14] & 0xf) * 4u;
  const uint32_t seq = highest + 100;
  for (int i = 0; i < 4; ++i) altered[esp + 4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
  altered.back() ^= 0x01;
  ASSERT_TRUE(inject(*in, altered));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const EspTraffic forged = traffic(b_, a_);
  EXPECT_EQ(forged.authFailed, after.b.authFailed + 1);
  EXPECT_EQ(forged.replayed, after.b.replayed + 1) << "no other replay";
  std::printf(
      "esp-vm-test: plane counters after %d/%d pings: A sealed %llu (%llu bytes), B opened %llu (%llu "
      "bytes); B "
      "sealed %llu, A opened %llu; B after a replayed frame: replayed +%llu, after an altered one: auth "
      "failed "
      "+%llu\n",
      answered, kPings, static_cast<unsigned long long>(aTx), static_cast<unsigned long long>(aTxBytes),
      static_cast<unsigned long long>(bRx), static_cast<unsigned long long>(bRxBytes),
      static_cast<unsigned long long>(bTx), static_cast<unsigned long long>(aRx),
      static_cast<unsigned long long>(replayed.replayed - after.b.replayed),
      static_cast<unsigned long long>(forged.authFailed - after.b.authFailed));
}

}  // namespace
}  // namespace weft::vmtest
