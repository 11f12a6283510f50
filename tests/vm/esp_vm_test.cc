// The kernel ESP backend of encrypted networks (issue 11) on a kernel that
// has ESP: Debian's stock kernel booted under QEMU by tests/vm/run-vm-test.sh,
// with this binary as the VM's only job. Two "hosts" are network namespaces
// joined by a veth underlay (198.18.9.0/24); each has a bridge (10.88.0.x)
// with a VXLAN device on the encrypted networks' port, and EspPairs programs
// the ESP SAs and policies between them through a NetlinkKernel whose host
// namespace is that host's. The last line printed is "esp-vm-test: PASS n/n"
// only when every test ran and passed (exit 0), else "... FAIL ..." (exit 1).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "driver/esp_pairs.h"
#include "kernel/netlink_kernel.h"
#include "tests/vm/packets.h"

namespace weft::vmtest {
namespace {

using driver::EspConfig;
using driver::EspPairs;
using driver::EspPeer;
using kernel::NetlinkKernel;

constexpr uint16_t kEncryptedPort = 4799;
constexpr uint16_t kPlainPort = 4789;
constexpr uint32_t kVni = 42, kPlainVni = 43;
const std::string kMarker = "WEFT-VM-PLAINTEXT-MARKER-5be1";
const std::string kForged = "WEFT-VM-FORGED-CLEARTEXT-0d7c";
const std::string kRunDir = "/run/weft-vm";

#define ASSERT_OK(x)                                          \
  do {                                                        \
    auto _s = (x);                                            \
    ASSERT_TRUE(_s.ok()) << #x << ": " << _s.error().message; \
  } while (0)

std::vector<uint8_t> material(uint8_t fill) { return std::vector<uint8_t>(32, fill); }

struct Host {
  std::string id, ns, underlay, inner, plainInner;
  std::unique_ptr<NetlinkKernel> k;  // its "host namespace" is ns
  std::optional<EspPairs> esp;
  std::string path;
};

class KernelEsp : public ::testing::Test {
 protected:
  static inline std::unique_ptr<NetlinkKernel> root_;
  static inline Host a_, b_;

  static void SetUpTestSuite() {
    root_ = std::make_unique<NetlinkKernel>(kRunDir + "/netns");
    a_ = Host{"host-a", "hosta", "198.18.9.1", "10.88.0.1", "10.89.0.1", nullptr, std::nullopt, ""};
    b_ = Host{"host-b", "hostb", "198.18.9.2", "10.88.0.2", "10.89.0.2", nullptr, std::nullopt, ""};
  }

  static void TearDownTestSuite() {
    for (Host* h : {&a_, &b_}) {
      h->esp.reset();
      h->k.reset();
      if (root_) (void)root_->deleteNetns(h->ns);
    }
    if (root_) {
      auto left = root_->listNetns();
      if (!left.ok() || !left->empty()) std::printf("esp-vm-test: namespaces left behind\n");
    }
    root_.reset();
  }

  // Namespace, underlay, and in it: br0 + vx0 (encrypted port), br1 + vx1
  // (plain port, the control that shows injected cleartext would arrive).
  static Status build(Host& h, const Host& peer) {
    h.path = root_->netnsPath(h.ns);
    auto ns = kernel::openNetnsFile(h.path);
    if (!ns) return ns.error();
    Status made = kernel::runInNetns(ns->get(), [&]() -> Status {
      h.k = std::make_unique<NetlinkKernel>(kRunDir + "/" + h.ns);
      return Status::Ok();
    });
    if (!made) return made;
    NetlinkKernel& k = *h.k;
    const kernel::Netns self = kernel::kHostNetns;
    for (auto s : {k.addAddress(self, "ul0", h.underlay + "/24"), k.setLinkUp(self, "ul0", true),
                   k.setLinkUp(self, "lo", true)})
      if (!s) return s;
    struct Net {
      std::string br, vx, inner;
      uint32_t vni;
      uint16_t port;
    };
    for (const Net& n : {Net{"br0", "vx0", h.inner, kVni, kEncryptedPort},
                         Net{"br1", "vx1", h.plainInner, kPlainVni, kPlainPort}}) {
      kernel::VxlanSpec vx{.name = n.vx, .vni = n.vni, .port = n.port, .local = h.underlay};
      vx.learning = false;
      vx.proxy = false;  // ARP crosses the overlay (encrypted on vx0)
      vx.mtu = 1400;
      for (auto s : {k.createBridge(self, n.br, 1400), k.createVxlan(vx, self), k.setMaster(self, n.vx, n.br),
                     k.addAddress(self, n.br, n.inner + "/24"), k.setLinkUp(self, n.vx, true),
                     k.setLinkUp(self, n.br, true),
                     k.addFdb(self, kernel::FdbEntry{n.vx, MacAddr{}, IpAddr::parse(peer.underlay)},
                              kernel::FdbAdd::kAppend)})
        if (!s) return s;
    }
    return Status::Ok();
  }

  static Status program(Host& h, const Host& peer, const std::vector<uint8_t>& key, uint32_t epoch) {
    auto esp = EspPairs::create(*h.k, EspConfig{"weft-vm-cluster", h.id, h.underlay, kEncryptedPort}, key);
    if (!esp) return esp.error();
    h.esp.emplace(std::move(*esp));
    return h.esp->addPeer(EspPeer{peer.id, peer.underlay}, epoch);
  }

  static int ifindex(Host& h, const std::string& dev) {
    auto l = h.k->getLink(kernel::kHostNetns, dev);
    return l.ok() ? l->ifindex : 0;
  }

  // Echoes from `from` to `to` (inner addresses); the number answered.
  static int pings(Host& from, const std::string& to, int n, std::chrono::milliseconds timeout) {
    Fd icmp = socketIn(from.path, AF_INET, SOCK_RAW, IPPROTO_ICMP);
    int ok = 0;
    for (int i = 1; i <= n; ++i) ok += ping(icmp, to, 0x5be1, static_cast<uint16_t>(i), kMarker, timeout);
    return ok;
  }
};

TEST_F(KernelEsp, SetUpTwoHostsWithEspPairs) {
  ASSERT_OK(root_->probe());  // Debian's kernel: ESP, GCM, VXLAN all there
  ASSERT_OK(root_->createNetns(a_.ns));
  ASSERT_OK(root_->createNetns(b_.ns));
  ASSERT_OK(root_->createVeth(a_.ns, "ul0", b_.ns, "ul0", 1500));
  ASSERT_OK(build(a_, b_));
  ASSERT_OK(build(b_, a_));
  ASSERT_OK(program(a_, b_, material(0x11), 1));
  ASSERT_OK(program(b_, a_, material(0x11), 1));

  // What the kernel holds, read back through the netlink decoder.
  auto states = a_.k->listXfrmStates();
  ASSERT_OK(states);
  ASSERT_EQ(states->size(), 2u);
  for (const auto& s : *states) {
    EXPECT_TRUE(s.esn);
    EXPECT_EQ(s.replayWindow, driver::kEspReplayWindow);
    EXPECT_EQ(s.icvBits, 128u);
    EXPECT_EQ(s.aeadKeyHex.size(), 72u);  // 256-bit key + 4-byte salt
  }
  auto policies = a_.k->listXfrmPolicies();
  ASSERT_OK(policies);
  ASSERT_EQ(policies->size(), 2u);
  for (const auto& p : *policies) EXPECT_EQ(p.udpPort, kEncryptedPort);
  // Both hosts derived the same SA for each direction.
  EXPECT_EQ(a_.esp->pair(b_.id)->outSpi.at(1), b_.esp->pair(a_.id)->inSpi.at(1));
  EXPECT_EQ(a_.esp->pair(b_.id)->inSpi.at(1), b_.esp->pair(a_.id)->outSpi.at(1));
}

TEST_F(KernelEsp, PingCrossesAndTheWireShowsOnlyEsp) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  Fd wire = capture(a_.path, ifindex(a_, "ul0")), far = capture(b_.path, ifindex(b_, "br0"));
  ASSERT_TRUE(wire && far);
  EXPECT_EQ(pings(a_, b_.inner, 5, std::chrono::seconds(3)), 5);
  // A UDP datagram with the marker across the overlay too.
  Fd udp = socketIn(a_.path, AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to = inet4(b_.inner, 9);
  ASSERT_EQ(
      ::sendto(udp.get(), kMarker.data(), kMarker.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
      static_cast<ssize_t>(kMarker.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  // Every IPv4 frame on the underlay is ESP, except the plain network's own
  // VXLAN (its bridge sends IPv6 neighbour discovery of its own accord).
  size_t esp = 0, plain = 0, farMarkers = 0;
  for (const Packet& f : drain(wire)) {
    EXPECT_FALSE(contains(f, kMarker)) << "plaintext marker on the underlay";
    const uint8_t proto = ipProto(f);
    if (f.size() < 14 || f[12] != 0x08 || f[13] != 0x00) continue;
    if (proto == IPPROTO_UDP && udpDstPort(f) == kPlainPort) {
      ++plain;
      continue;
    }
    EXPECT_EQ(proto, IPPROTO_ESP) << "non-ESP IPv4 frame, udp dport " << udpDstPort(f);
    esp += proto == IPPROTO_ESP;
  }
  for (const Packet& f : drain(far)) farMarkers += contains(f, kMarker);
  EXPECT_GE(esp, 10u);        // 5 echoes and 5 replies at least
  EXPECT_GE(farMarkers, 6u);  // the marker did cross, decrypted, to B's bridge
  std::printf(
      "esp-vm-test: %zu ESP frames on the underlay (and %zu of the plain network), marker seen %zu times "
      "on B's bridge only\n",
      esp, plain, farMarkers);
}

TEST_F(KernelEsp, CleartextVxlanToTheEncryptedPortIsDropped) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  auto la = a_.k->getLink(kernel::kHostNetns, "ul0");
  auto lb = b_.k->getLink(kernel::kHostNetns, "ul0");
  ASSERT_OK(la);
  ASSERT_OK(lb);
  auto macA = MacAddr::parse(la->mac), macB = MacAddr::parse(lb->mac);
  ASSERT_TRUE(macA && macB);
  // VXLAN header + a broadcast frame (ethertype 0x88b5) carrying the marker.
  auto vxlan = [](uint32_t vni) {
    Packet p{0x08,
             0,
             0,
             0,
             static_cast<uint8_t>(vni >> 16),
             static_cast<uint8_t>(vni >> 8),
             static_cast<uint8_t>(vni),
             0};
    const uint8_t eth[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x66, 0x88, 0xb5};
    p.insert(p.end(), eth, eth + sizeof eth);
    p.insert(p.end(), kForged.begin(), kForged.end());
    p.resize(8 + 64, 0);
    return p;
  };
  Fd inject = socketIn(a_.path, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  ASSERT_TRUE(inject);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_ifindex = la->ifindex;
  ll.sll_halen = 6;
  std::memcpy(ll.sll_addr, macB->bytes.data(), 6);
  Fd wireB = capture(b_.path, lb->ifindex), br0 = capture(b_.path, ifindex(b_, "br0")),
     br1 = capture(b_.path, ifindex(b_, "br1"));
  ASSERT_TRUE(wireB && br0 && br1);
  // Sent on A's underlay by AF_PACKET: past A's xfrm output, as an attacker
  // on the wire would.
  for (auto [port, vni] : {std::pair{kEncryptedPort, kVni}, std::pair{kPlainPort, kPlainVni}})
    for (int i = 0; i < 3; ++i) {
      Packet f = udpFrame(macB->bytes.data(), macA->bytes.data(), a_.underlay, b_.underlay,
                          static_cast<uint16_t>(40000 + i), port, vxlan(vni));
      ASSERT_EQ(::sendto(inject.get(), f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&ll), sizeof ll),
                static_cast<ssize_t>(f.size()));
    }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  size_t arrived = 0, onEncrypted = 0, onPlain = 0;
  for (const Packet& f : drain(wireB)) arrived += contains(f, kForged);
  for (const Packet& f : drain(br0)) onEncrypted += contains(f, kForged);
  for (const Packet& f : drain(br1)) onPlain += contains(f, kForged);
  EXPECT_EQ(arrived, 6u) << "the forged frames did not reach B's underlay";
  EXPECT_EQ(onPlain, 3u) << "control: cleartext VXLAN on the plain port should be delivered";
  EXPECT_EQ(onEncrypted, 0u) << "cleartext VXLAN to the encrypted port was delivered";
  std::printf(
      "esp-vm-test: forged cleartext: %zu on B's wire, %zu delivered on the plain port, %zu on the "
      "encrypted port\n",
      arrived, onPlain, onEncrypted);
}

TEST_F(KernelEsp, AHostWithAnotherKeyGetsNothingThrough) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  ASSERT_OK(b_.esp->removePeer(a_.id));
  ASSERT_OK(program(b_, a_, material(0x22), 1));
  EXPECT_EQ(pings(a_, b_.inner, 3, std::chrono::seconds(1)), 0);
  EXPECT_EQ(pings(b_, a_.inner, 3, std::chrono::seconds(1)), 0);
  // The right key again, at a new epoch on both hosts (an epoch is never
  // reused under the same material: its sequence numbers would restart, the
  // receiver's replay window would drop them, and GCM nonces would repeat).
  for (auto [h, peer] : {std::pair{&a_, &b_}, std::pair{&b_, &a_}}) {
    ASSERT_OK(h->esp->removePeer(peer->id));
    ASSERT_OK(program(*h, *peer, material(0x11), 2));
  }
  EXPECT_EQ(pings(a_, b_.inner, 3, std::chrono::seconds(3)), 3);
}

TEST_F(KernelEsp, RekeyUnderA10msPingLosesNoReply) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  Fd icmp = socketIn(a_.path, AF_INET, SOCK_RAW, IPPROTO_ICMP);
  ASSERT_TRUE(wire && icmp);
  constexpr int kEchoes = 300;  // 3 s at 10 ms
  constexpr uint16_t kId = 0x7e4e;
  std::set<int> replies;
  std::atomic<bool> sending{true};
  std::thread receiver([&] {
    auto until = std::chrono::steady_clock::time_point::max();
    while (std::chrono::steady_clock::now() < until) {
      if (!sending && until == std::chrono::steady_clock::time_point::max())
        until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      pollfd p{icmp.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      for (int seq; (seq = readEchoReply(icmp, kId)) >= 0;) replies.insert(seq);
      if (replies.size() == kEchoes) break;
    }
  });
  std::thread sender([&] {
    auto next = std::chrono::steady_clock::now();
    for (int seq = 1; seq <= kEchoes; ++seq) {
      sendEcho(icmp, b_.inner, kId, static_cast<uint16_t>(seq), kMarker);
      next += std::chrono::milliseconds(10);
      std::this_thread::sleep_until(next);
    }
    sending = false;
  });
  const uint32_t from = a_.esp->pair(b_.id)->active, to = from + 1;
  const uint32_t oldOut = a_.esp->pair(b_.id)->outSpi.at(from);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  Status steps[] = {a_.esp->prepare(b_.id, to), b_.esp->prepare(a_.id, to)};
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Status activate[] = {a_.esp->activate(b_.id, to), b_.esp->activate(a_.id, to)};
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the overlap
  Status retire[] = {a_.esp->retire(b_.id), b_.esp->retire(a_.id)};
  sender.join();
  receiver.join();
  for (const Status& s : {steps[0], steps[1], activate[0], activate[1], retire[0], retire[1]})
    EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(replies.size(), static_cast<size_t>(kEchoes)) << "replies lost across the rekey";
  const uint32_t newOut = a_.esp->pair(b_.id)->outSpi.at(to);
  size_t underOld = 0, underNew = 0;
  for (const Packet& f : drain(wire)) {
    EXPECT_FALSE(contains(f, kMarker));
    underOld += espSpi(f) == oldOut;
    underNew += espSpi(f) == newOut;
  }
  EXPECT_GT(underOld, 0u);
  EXPECT_GT(underNew, 0u);
  auto states = a_.k->listXfrmStates();
  ASSERT_OK(states);
  EXPECT_EQ(states->size(), 2u) << "the previous epoch's SAs are gone";
  for (const auto& s : *states) EXPECT_NE(s.spi, oldOut);
  std::printf(
      "esp-vm-test: rekey under 10 ms ping: %zu/%d replies, %zu frames under the old SPI, %zu under the "
      "new\n",
      replies.size(), kEchoes, underOld, underNew);
}

}  // namespace
}  // namespace weft::vmtest

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  const auto* u = ::testing::UnitTest::GetInstance();
  const int total = u->test_to_run_count(), passed = u->successful_test_count();
  const bool ok = rc == 0 && passed == total && u->skipped_test_count() == 0 && total > 0;
  std::printf("esp-vm-test: %s %d/%d\n", ok ? "PASS" : "FAIL", passed, total);
  std::fflush(stdout);
  return ok ? 0 : 1;
}
