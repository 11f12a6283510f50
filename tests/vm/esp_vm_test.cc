// The kernel ESP backend of encrypted networks (issue 11) on a kernel that
// has ESP: Debian's stock kernel booted under QEMU by tests/vm/run-vm-test.sh,
// with this binary as the VM's only job. This file: EspPairs between the two
// hosts of tests/vm/esp_vm_fixture.h; kernel_plane_vm_test.cc: the plane
// (rotation, restart, reboot). From the fourth test on both hosts'
// encrypted port is closed to cleartext (EspPairs::closePort). The last line
// printed is "esp-vm-test: PASS n/n" only when every test ran and passed
// (exit 0), else "... FAIL ..." (exit 1).

#include "tests/vm/esp_vm_fixture.h"

namespace weft::vmtest {
namespace {

TEST_F(KernelEsp, SetUpTwoHostsWithEspPairs) {
  ASSERT_OK(root_->probe());  // Debian's kernel: ESP, GCM, VXLAN all there
  ASSERT_OK(root_->createNetns(a_.ns));
  ASSERT_OK(root_->createNetns(b_.ns));
  ASSERT_OK(root_->createVeth(a_.ns, "ul0", b_.ns, "ul0", 1500));
  ASSERT_OK(build(a_, b_));
  ASSERT_OK(build(b_, a_));
  ASSERT_OK(program(a_, b_, material(0x11), 1));
  ASSERT_OK(program(b_, a_, material(0x11), 1));
  ASSERT_OK(flood(a_, b_, "vx0"));
  ASSERT_OK(flood(b_, a_, "vx0"));

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
  auto in = injector();
  ASSERT_TRUE(in);
  Fd wireB = capture(b_.path, in->ifB), br0 = capture(b_.path, ifindex(b_, "br0")),
     br1 = capture(b_.path, ifindex(b_, "br1"));
  ASSERT_TRUE(wireB && br0 && br1);
  for (auto [port, vni] : {std::pair{kEncryptedPort, kVni}, std::pair{kPlainPort, kPlainVni}})
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(inject(*in, udpFrame(in->macB.bytes.data(), in->macA.bytes.data(), a_.underlay, b_.underlay,
                                       static_cast<uint16_t>(40000 + i), port, forgedVxlan(vni))));
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

// The per-pair policies guard only traffic between pairs: cleartext VXLAN
// from a host that has no pair with B reaches B's bridge until B closes the
// encrypted port (EspPairs::closePort, xfrm block policies below the pairs'
// ESP ones); then it is refused both ways, while the pair still talks and
// the plain port still delivers.
TEST_F(KernelEsp, CleartextFromAHostWithoutAPairIsDroppedOnceThePortIsClosed) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  const std::string stranger = "198.18.9.3";
  auto in = injector();
  ASSERT_TRUE(in);
  // From the stranger's address, to each port: how many forged frames reach
  // B's bridge of that port.
  auto forge = [&](uint16_t port, uint32_t vni, const std::string& dev) -> size_t {
    Fd br = capture(b_.path, ifindex(b_, dev));
    if (!br) return 999;
    for (int i = 0; i < 3; ++i)
      if (!inject(*in, udpFrame(in->macB.bytes.data(), in->macA.bytes.data(), stranger, b_.underlay,
                                static_cast<uint16_t>(41000 + i), port, forgedVxlan(vni))))
        return 998;
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    size_t n = 0;
    for (const Packet& f : drain(br)) n += contains(f, kForged);
    return n;
  };
  // What B can send in cleartext to the stranger on a port: 0 or the errno.
  auto sendTo = [&](uint16_t port) {
    Fd udp = socketIn(b_.path, AF_INET, SOCK_DGRAM, 0);
    sockaddr_in to = inet4(stranger, port);
    return ::sendto(udp.get(), kMarker.data(), kMarker.size(), 0, reinterpret_cast<sockaddr*>(&to),
                    sizeof to) < 0
               ? errno
               : 0;
  };
  const size_t openEncrypted = forge(kEncryptedPort, kVni, "br0");
  const int openSend = sendTo(kEncryptedPort);
  EXPECT_EQ(openEncrypted, 3u) << "control: with the port open the stranger's cleartext arrives";
  EXPECT_EQ(openSend, 0);
  ASSERT_OK(a_.esp->closePort());
  ASSERT_OK(b_.esp->closePort());
  ASSERT_OK(b_.esp->closePort());  // closing a closed port adopts it
  auto policies = b_.k->listXfrmPolicies();
  ASSERT_OK(policies);
  EXPECT_EQ(policies->size(), 4u);  // the pair's in and out, the two blocks
  const size_t closedEncrypted = forge(kEncryptedPort, kVni, "br0");
  const size_t closedPlain = forge(kPlainPort, kPlainVni, "br1");
  EXPECT_EQ(closedEncrypted, 0u) << "cleartext from a host without a pair was delivered";
  EXPECT_EQ(closedPlain, 3u) << "control: the plain port still delivers";
  EXPECT_EQ(sendTo(kEncryptedPort), EPERM) << "cleartext left on the encrypted port";
  EXPECT_EQ(sendTo(kPlainPort), 0);
  EXPECT_EQ(pings(a_, b_.inner, 3, std::chrono::seconds(3)), 3) << "the pair's ESP outranks the block";
  std::printf(
      "esp-vm-test: stranger's cleartext on the encrypted port: %zu delivered open, %zu closed (plain port "
      "%zu); B's cleartext send to it: errno %d open, EPERM closed\n",
      openEncrypted, closedEncrypted, closedPlain, openSend);
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

// EspPairs' own rotation steps under traffic: each host accepts the
// other's next epoch ahead (setIn), then moves its outbound SA (setOut),
// then drops the previous ones.
TEST_F(KernelEsp, RekeyUnderA10msPingLosesNoReply) {
  ASSERT_TRUE(a_.esp && b_.esp) << "set-up failed";
  Fd wire = capture(a_.path, ifindex(a_, "ul0"));
  constexpr int kEchoes = 300;  // 3 s at 10 ms
  PingLoop loop(a_.path, b_.inner, kEchoes, 0x7e4e);
  ASSERT_TRUE(wire && loop.ok());
  const uint32_t from = a_.esp->pair(b_.id)->out, to = from + 1;
  const uint32_t oldOut = a_.esp->pair(b_.id)->outSpi.at(from);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  Status ahead[] = {a_.esp->setIn(b_.id, {from, to}), b_.esp->setIn(a_.id, {from, to})};
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  Status moved[] = {a_.esp->setOut(b_.id, to), b_.esp->setOut(a_.id, to)};
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the overlap
  Status dropped[] = {a_.esp->dropPreviousOut(b_.id), b_.esp->dropPreviousOut(a_.id),
                      a_.esp->setIn(b_.id, {to}), b_.esp->setIn(a_.id, {to})};
  const size_t replies = loop.wait();
  for (const Status& s :
       {ahead[0], ahead[1], moved[0], moved[1], dropped[0], dropped[1], dropped[2], dropped[3]})
    EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(replies, static_cast<size_t>(kEchoes)) << "replies lost across the rekey";
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
      replies, kEchoes, underOld, underNew);
}

}  // namespace
}  // namespace weft::vmtest

namespace {

// Removes the hosts after the last test of both files.
class Hosts : public ::testing::Environment {
 public:
  void TearDown() override { weft::vmtest::KernelEsp::tearDownHosts(); }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new Hosts);  // gtest owns it
  int rc = RUN_ALL_TESTS();
  const auto* u = ::testing::UnitTest::GetInstance();
  const int total = u->test_to_run_count(), passed = u->successful_test_count();
  const bool ok = rc == 0 && passed == total && u->skipped_test_count() == 0 && total > 0;
  std::printf("esp-vm-test: %s %d/%d\n", ok ? "PASS" : "FAIL", passed, total);
  std::fflush(stdout);
  return ok ? 0 : 1;
}
