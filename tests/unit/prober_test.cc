// The data-plane prober against the fake kernel and a fake clock: the health
// namespace it builds, each peer's state from round to round, its limits,
// and the problems `weftctl check` shows.

#include "driver/prober.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernel/fake_kernel.h"
#include "tests/support/kernel_values.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;
using namespace std::chrono_literals;
using State = PeerHealth::State;

namespace {

const std::string kSelf = "198.18.0.1";
const std::string kPeer = "198.18.0.3";

class ProberTest : public ::testing::Test {
 protected:
  ProberTest() : kernel_(dir_.path()) {}

  ProberConfig config() const {
    ProberConfig c;
    c.net = {4095, 4789, kSelf};
    return c;
  }
  Prober make() {
    return Prober(kernel_, config(), [this] { return now_; });
  }
  PeerHealth peer(const Prober& p, const std::string& vtep) {
    for (const auto& x : p.peers())
      if (x.vtep == vtep) return x;
    ADD_FAILURE() << "no peer " << vtep;
    return {};
  }
  std::vector<std::string> messages(const Prober& p) {
    std::vector<std::string> out;
    for (const auto& x : p.problems()) out.push_back(x.message);
    return out;
  }

  test::TempDir dir_{"weft-prober"};
  kernel::FakeKernel kernel_;
  std::chrono::system_clock::time_point now_{std::chrono::seconds(1700000000)};
};

TEST_F(ProberTest, BuildsTheHealthNamespaceAndOneEntryPairPerPeer) {
  Prober p = make();
  p.round({{kPeer, 1450}, {"198.18.0.4", 1450}});
  auto vtep = kernel_.getLink(kHealthNetns, kHealthVtep);
  ASSERT_TRUE(vtep.ok()) << vtep.error().message;
  EXPECT_EQ(vtep->vni, 4095u);
  EXPECT_EQ(vtep->port, 4789);
  EXPECT_EQ(vtep->mac, "02:77:c6:12:00:01");  // from 198.18.0.1
  EXPECT_TRUE(vtep->up);
  EXPECT_EQ(*kernel_.listAddresses(kHealthNetns, kHealthVtep), std::vector<std::string>{"198.18.0.1/32"});
  EXPECT_EQ(kernel_.listRoutes(kHealthNetns)->size(), 1u);
  auto fdb = *kernel_.listFdb(kHealthNetns, kHealthVtep);
  EXPECT_EQ(fdb, (std::vector<kernel::FdbEntry>{
                     testvalues::fdbEntry(kHealthVtep, "02:77:c6:12:00:03", "198.18.0.3"),
                     testvalues::fdbEntry(kHealthVtep, "02:77:c6:12:00:04", "198.18.0.4")}));
  EXPECT_EQ(kernel_.listNeigh(kHealthNetns, kHealthVtep)->size(), 2u);

  // A peer that goes is forgotten, entries and state.
  p.round({{kPeer, 1450}});
  EXPECT_EQ(kernel_.listFdb(kHealthNetns, kHealthVtep)->size(), 1u);
  EXPECT_EQ(
      *kernel_.listNeigh(kHealthNetns, kHealthVtep),
      (std::vector<kernel::NeighEntry>{testvalues::neighEntry(kHealthVtep, kPeer, "02:77:c6:12:00:03")}));
  EXPECT_EQ(p.peers().size(), 1u);

  // What drifted behind its back is put back by the next round.
  ASSERT_TRUE(kernel_.delFdb(kHealthNetns, fdb[0]).ok());
  ASSERT_TRUE(kernel_.setLinkUp(kHealthNetns, kHealthVtep, false).ok());
  p.round({{kPeer, 1450}});
  EXPECT_TRUE(kernel_.getLink(kHealthNetns, kHealthVtep)->up);
  EXPECT_EQ(kernel_.listFdb(kHealthNetns, kHealthVtep)->size(), 1u);
  EXPECT_EQ(kernel_.listNeigh(kHealthNetns, kHealthVtep)->size(), 1u);

  ASSERT_TRUE(p.remove().ok());
  EXPECT_FALSE(kernel_.getLink(kHealthNetns, kHealthVtep).ok());
}

TEST_F(ProberTest, AnAnsweringPeerIsOkWithItsLastSuccessTime) {
  kernel_.setRemoteVtep(kPeer, 1500);
  Prober p = make();
  p.round({{kPeer, 1450}});
  PeerHealth h = peer(p, kPeer);
  EXPECT_EQ(h.state, State::kOk);
  EXPECT_TRUE(h.smallOk);
  EXPECT_TRUE(h.mtuOk);
  EXPECT_EQ(h.mtu, 1450u);
  EXPECT_GT(h.rttMicros, 0u);
  ASSERT_TRUE(h.lastSuccess);
  EXPECT_EQ(*h.lastSuccess, now_);
  EXPECT_TRUE(p.problems().empty());
  EXPECT_EQ(kernel_.echoesSent(), 2u);  // one small, one MTU-sized: per host, not per endpoint
}

TEST_F(ProberTest, NoAnswerForThreeRoundsIsAVxlanFailureNamingThePort) {
  Prober p = make();
  p.setGossipStates({{kPeer, "alive"}});
  p.round({{kPeer, 1450}});
  p.round({{kPeer, 1450}});
  EXPECT_EQ(peer(p, kPeer).state, State::kPending);
  EXPECT_TRUE(p.problems().empty());
  p.round({{kPeer, 1450}});
  EXPECT_EQ(peer(p, kPeer).state, State::kVxlanFails);
  EXPECT_FALSE(peer(p, kPeer).lastSuccess);
  auto m = messages(p);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(
      m[0],
      "VXLAN to 198.18.0.3:4789 fails while gossip reaches it (no probe answered for 6 s) -- check that "
      "UDP 4789 passes between the hosts (firewall, security group, offload)");
  EXPECT_EQ(p.problems()[0].peer, kPeer);

  // Gossip does not reach it either: a host down, not a port blocked.
  p.setGossipStates({{kPeer, "dead"}});
  m = messages(p);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("gossip does not reach it either (member dead)"), std::string::npos) << m[0];

  // One answered round clears it.
  kernel_.setRemoteVtep(kPeer, 1500);
  now_ += 6s;
  p.round({{kPeer, 1450}});
  EXPECT_EQ(peer(p, kPeer).state, State::kOk);
  EXPECT_EQ(*peer(p, kPeer).lastSuccess, now_);
  EXPECT_TRUE(p.problems().empty());
}

TEST_F(ProberTest, SmallProbesPassingAndMtuProbesLostIsAnMtuBlackHole) {
  kernel_.setRemoteVtep(kPeer, 1400);  // the underlay carries 1400-byte packets, not 1500
  Prober p = make();
  p.setGossipStates({{kPeer, "alive"}});
  for (int i = 0; i < 2; ++i) p.round({{kPeer, 1450}});
  EXPECT_TRUE(p.problems().empty());
  p.round({{kPeer, 1450}});
  PeerHealth h = peer(p, kPeer);
  EXPECT_EQ(h.state, State::kMtuFails);
  EXPECT_TRUE(h.smallOk);
  EXPECT_FALSE(h.mtuOk);
  auto m = messages(p);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "packets of 1450 bytes to 198.18.0.3 are lost but small ones pass -- MTU black hole on the path; "
            "lower the network MTU (-o mtu=) or fix the underlay (every link must carry 1500-byte packets)");
  // A network MTU the path carries is fine.
  p.round({{kPeer, 1350}});
  EXPECT_EQ(peer(p, kPeer).state, State::kOk);
  EXPECT_TRUE(p.problems().empty());
  // What the metrics count: 4 rounds, every small probe answered (each with
  // a round trip), the first 3 MTU-sized ones lost.
  EXPECT_EQ(peer(p, kPeer).smallLost, 0u);
  EXPECT_EQ(peer(p, kPeer).mtuLost, 3u);
  const ProbeTotals t = p.totals();
  EXPECT_EQ(t.smallAnswered, 4u);
  EXPECT_EQ(t.smallLost, 0u);
  EXPECT_EQ(t.mtuAnswered, 1u);
  EXPECT_EQ(t.mtuLost, 3u);
  EXPECT_EQ(t.rtt.count, 4u);
}

TEST_F(ProberTest, OneLostRoundNeitherRaisesNorClearsAFailure) {
  kernel_.setRemoteVtep(kPeer, 1500);
  Prober p = make();
  p.round({{kPeer, 1450}});
  kernel_.setRemoteVtep(kPeer, 0);  // lost from now on
  p.round({{kPeer, 1450}});
  p.round({{kPeer, 1450}});
  EXPECT_EQ(peer(p, kPeer).state, State::kOk);
  EXPECT_EQ(peer(p, kPeer).smallFailures, 2);
  p.round({{kPeer, 1450}});
  EXPECT_EQ(peer(p, kPeer).state, State::kVxlanFails);
}

TEST_F(ProberTest, ThisHostAndNonIpv4PeersAreNotProbed) {
  Prober p = make();
  p.round({{kSelf, 1450}, {"fd00::3", 1450}});
  EXPECT_TRUE(p.peers().empty());
  EXPECT_EQ(kernel_.echoesSent(), 0u);
}

TEST_F(ProberTest, AtMostKMaxProbedPeersAreProbedAndTheRestReported) {
  std::map<std::string, uint32_t> peers;
  for (size_t i = 0; i < kMaxProbedPeers + 6; ++i)
    peers["10." + std::to_string(i / 65536) + "." + std::to_string(i / 256 % 256) + "." +
          std::to_string(i % 256)] = 1450;
  Prober p = make();
  p.round(peers);
  EXPECT_EQ(p.peers().size(), kMaxProbedPeers);
  EXPECT_EQ(kernel_.echoesSent(), 2 * kMaxProbedPeers);
  auto m = messages(p);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0], "6 peer host(s) are not probed: at most 1024 are, per host");
}

TEST_F(ProberTest, AVniHeldByAnotherDeviceIsReportedAndNothingIsProbed) {
  ASSERT_TRUE(kernel_
                  .createVxlan(kernel::VxlanSpec{.name = "wx-000fff", .vni = 4095, .local = "", .mac = ""},
                               kernel::kHostNetns)
                  .ok());
  Prober p = make();
  p.round({{kPeer, 1450}});
  EXPECT_EQ(kernel_.echoesSent(), 0u);
  auto m = messages(p);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("data-plane probes cannot run: health namespace: VNI 4095"), std::string::npos) << m[0];
  EXPECT_NE(m[0].find("set HEALTH_VNI"), std::string::npos) << m[0];
  EXPECT_EQ(peer(p, kPeer).state, State::kPending);  // unmeasured, not failed
  // Freed: the next round builds it and probes.
  ASSERT_TRUE(kernel_.deleteLink(kernel::kHostNetns, "wx-000fff").ok());
  p.round({{kPeer, 1450}});
  EXPECT_EQ(kernel_.echoesSent(), 2u);
  EXPECT_TRUE(p.problems().empty());
}

TEST(ProberConfig, NeedsAnIpv4OrIpv6SelfAddressAndAVni) {
  ProberConfig c;
  c.net = {4095, 4789, "198.18.0.1"};
  EXPECT_TRUE(Prober::validate(c).ok());
  c.net.self = "fd00::1";
  EXPECT_TRUE(Prober::validate(c).ok());
  c.net.self = "host.example";
  EXPECT_EQ(Prober::validate(c).code(), EINVAL);
  c.net.self = "";
  EXPECT_EQ(Prober::validate(c).code(), EINVAL);
  c.net = {0, 4789, "198.18.0.1"};
  EXPECT_EQ(Prober::validate(c).code(), EINVAL);
}

TEST(HealthMac, IsDerivedFromTheAddress) {
  EXPECT_EQ(healthMac("198.18.0.3"), "02:77:c6:12:00:03");
  EXPECT_EQ(healthMac("10.255.0.1"), "02:77:0a:ff:00:01");
  // IPv6: 06 and 40 bits of the address's FNV-1a hash (locally administered
  // unicast, another first byte than any IPv4 host's).
  EXPECT_EQ(healthMac("fd18::1"), "06:08:36:73:3d:63");
  EXPECT_EQ(healthMac("fd18::2"), "06:08:36:73:3f:16");
  EXPECT_EQ(healthMac("fd18:0::1"), healthMac("fd18::1"));  // the address, not its spelling
  EXPECT_EQ(healthMac("bogus"), "");
}

// On an IPv6 underlay: the health namespace holds the advertise address as a
// /128 with a default route ::/0, the device takes IPv6's largest VXLAN MTU,
// peers of the other family are skipped, and an MTU black hole names the
// underlay packet size with 70 bytes of VXLAN over IPv6.
TEST(ProberIpv6, ProbesIpv6PeersThroughAnIpv6HealthNamespace) {
  test::TempDir dir{"weft-prober6"};
  kernel::FakeKernel k(dir.path());
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  ProberConfig c;
  c.net = {4095, 4789, "fd18::1"};
  Prober p(k, c, [now] { return now; });
  k.setRemoteVtep("fd18::3", 1520);  // 1450 + 70: exactly what the underlay carries
  k.setRemoteVtep("fd18::4", 1519);  // one byte short: an MTU black hole
  p.setGossipStates({{"fd18::3", "alive"}, {"fd18::4", "alive"}});
  const std::map<std::string, uint32_t> peers{{"fd18::3", 1450}, {"fd18::4", 1450}, {"198.18.0.5", 1450}};
  p.round(peers);
  auto vtep = k.getLink(kHealthNetns, kHealthVtep);
  ASSERT_TRUE(vtep.ok()) << vtep.error().message;
  EXPECT_EQ(vtep->mac, "06:08:36:73:3d:63");
  EXPECT_EQ(vtep->mtu, kHealthMtu6);
  EXPECT_EQ(*k.listAddresses(kHealthNetns, kHealthVtep), std::vector<std::string>{"fd18::1/128"});
  auto routes = *k.listRoutes(kHealthNetns);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].dst.str(), "::/0");
  EXPECT_EQ(
      *k.listFdb(kHealthNetns, kHealthVtep),
      (std::vector<kernel::FdbEntry>{testvalues::fdbEntry(kHealthVtep, "06:08:36:73:40:c9", "fd18::3"),
                                     testvalues::fdbEntry(kHealthVtep, healthMac("fd18::4"), "fd18::4")}));
  EXPECT_EQ(p.peers().size(), 2u);  // not the IPv4 one
  PeerHealth ok;
  for (const auto& x : p.peers())
    if (x.vtep == "fd18::3") ok = x;
  EXPECT_EQ(ok.state, State::kOk);
  EXPECT_TRUE(ok.mtuOk);
  p.round(peers);
  p.round(peers);
  std::vector<std::string> m;
  for (const auto& x : p.problems()) m.push_back(x.message);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "packets of 1450 bytes to fd18::4 are lost but small ones pass -- MTU black hole on the path; "
            "lower the network MTU (-o mtu=) or fix the underlay (every link must carry 1520-byte packets)");
  // A peer's MTU above what IPv6 VXLAN takes is probed at the largest it takes.
  p.round({{"fd18::3", 65535}});
  ASSERT_EQ(p.peers().size(), 1u);
  EXPECT_EQ(p.peers()[0].mtu, kHealthMtu6);
}

}  // namespace

TEST_F(ProberTest, WithNoPeerHostThereIsNoHealthNamespace) {
  ASSERT_TRUE(kernel_.createNetns(kHealthNetns).ok());  // left from an earlier run
  Prober p = make();
  p.round({});
  EXPECT_FALSE(kernel_.getLink(kHealthNetns, kHealthVtep).ok());
  auto ns = *kernel_.listNetns();
  EXPECT_EQ(std::count(ns.begin(), ns.end(), kHealthNetns), 0);
  p.round({{kPeer, 1450}});
  EXPECT_TRUE(kernel_.getLink(kHealthNetns, kHealthVtep).ok());
  p.round({});  // the last peer host went
  ns = *kernel_.listNetns();
  EXPECT_EQ(std::count(ns.begin(), ns.end(), kHealthNetns), 0);
  EXPECT_TRUE(p.peers().empty());
  EXPECT_TRUE(p.problems().empty());
}

TEST_F(ProberTest, StopRemovesTheHealthNamespaceAndLaterRoundsDoNothing) {
  kernel_.setRemoteVtep(kPeer, 1500);
  Prober p = make();
  p.round({{kPeer, 1450}});
  ASSERT_TRUE(kernel_.getLink(kHealthNetns, kHealthVtep).ok());
  ASSERT_TRUE(p.stop().ok());
  auto ns = *kernel_.listNetns();
  EXPECT_EQ(std::count(ns.begin(), ns.end(), kHealthNetns), 0);
  const uint64_t sent = kernel_.echoesSent();
  p.round({{kPeer, 1450}});
  ns = *kernel_.listNetns();
  EXPECT_EQ(std::count(ns.begin(), ns.end(), kHealthNetns), 0);
  EXPECT_EQ(kernel_.echoesSent(), sent);
}
