// The Driver's policies apart from the Driver: how a network's VNI and MTU
// are chosen (NetworkPolicy), when a faulted network is retried
// (FaultBook), which swarm nodes Docker told about (SwarmNodes).
#include "driver/network_policy.h"

#include <gtest/gtest.h>

#include "driver/fault_book.h"
#include "driver/swarm_nodes.h"

namespace weft::driver {
namespace {

using namespace std::chrono_literals;

TEST(NetworkPolicy, DefaultVniIsAStableHashOfTheIdentity) {
  // FNV-1a: fixed forever, or hosts of two versions would disagree.
  EXPECT_EQ(stableHash(""), 2166136261u);
  EXPECT_EQ(stableHash("a"), 0xe40c292cu);
  EXPECT_EQ(defaultVni("subnet:10.0.0.0/24"), stableHash("subnet:10.0.0.0/24") % kMaxWeftVni + 1);
  for (const char* id : {"", "id:x", "subnet:fd00::/64", "name:blue"}) {
    EXPECT_GE(defaultVni(id), 1u) << id;
    EXPECT_LE(defaultVni(id), kMaxWeftVni) << id;
  }
}

TEST(NetworkPolicy, ChosenVniMustBeFreeAmongTheOtherNetworks) {
  std::map<std::string, Network> nets;
  nets["aaaaaaaaaaaaaaaa"].vni = 42;
  NetworkOptions o;
  o.vni = 42;
  auto clash = chooseVni(o, "name:x", "bbbbbbbbbbbbbbbb", nets);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.code(), EEXIST);
  EXPECT_NE(clash.error().message.find("aaaaaaaaaaaa"), std::string::npos) << clash.error().message;
  // The network itself (re-created) does not clash with its own VNI.
  EXPECT_EQ(*chooseVni(o, "name:x", "aaaaaaaaaaaaaaaa", nets), 42u);
  o.vni = 43;
  EXPECT_EQ(*chooseVni(o, "name:x", "bbbbbbbbbbbbbbbb", nets), 43u);
  // Without -o vni the identity picks it, and the message says so.
  NetworkOptions none;
  nets["aaaaaaaaaaaaaaaa"].vni = defaultVni("name:y");
  auto hashed = chooseVni(none, "name:y", "bbbbbbbbbbbbbbbb", nets);
  ASSERT_FALSE(hashed.ok());
  EXPECT_NE(hashed.error().message.find("chosen from the network's identity"), std::string::npos);
  EXPECT_EQ(*chooseVni(none, "name:z", "bbbbbbbbbbbbbbbb", {}), defaultVni("name:z"));
}

TEST(NetworkPolicy, MtuIsWhatTheUnderlayCarriesAfterVxlanAndEsp) {
  NetworkOptions o;
  EXPECT_EQ(*networkMtu(o, {1500, false}, 0), 1450u);
  EXPECT_EQ(*networkMtu(o, {1500, true}, 0), 1430u);
  EXPECT_EQ(*networkMtu(o, {9000, false}, 1400), 1400u);  // the configured default
  o.encrypted = true;
  EXPECT_EQ(*networkMtu(o, {1500, false}, 0), 1410u);
  o.encrypted = false;
  o.mtu = 1450;
  EXPECT_EQ(*networkMtu(o, {1500, false}, 1200), 1450u);  // -o mtu wins
  o.mtu = 1451;
  auto big = networkMtu(o, {1500, false}, 0);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.code(), EINVAL);
  EXPECT_NE(big.error().message.find("the most is 1450"), std::string::npos) << big.error().message;
  // Exactly the overhead plus the smallest MTU is too small; one more fits.
  NetworkOptions dflt;
  EXPECT_EQ(networkMtu(dflt, {kVxlanOverheadV4 + kMinMtu, false}, 0).code(), EINVAL);
  EXPECT_EQ(*networkMtu(dflt, {kVxlanOverheadV4 + kMinMtu + 1, false}, 0), kMinMtu + 1);
}

// IPv6's minimum link MTU, for networks with an IPv6 subnet only; each
// source of the MTU (-o mtu, the MTU setting, the underlay) is named.
TEST(NetworkPolicy, NetworksWithIpv6SubnetsNeedAnMtuOfAtLeast1280) {
  NetworkOptions o;
  const auto kV6 = Ipv6Subnets::kYes;
  EXPECT_EQ(*networkMtu(o, {1350, true}, 0, CryptoBackend::kAuto, kV6), 1280u);  // 1350 - 70: exactly enough
  auto under = networkMtu(o, {1349, true}, 0, CryptoBackend::kAuto, kV6);
  ASSERT_EQ(under.code(), EINVAL);
  EXPECT_NE(under.error().message.find("at least 1280"), std::string::npos) << under.error().message;
  EXPECT_NE(under.error().message.find("underlay's MTU 1349 less 70 bytes"), std::string::npos)
      << under.error().message;
  EXPECT_NE(under.error().message.find("raise its MTU or drop the IPv6 subnet"), std::string::npos);
  EXPECT_EQ(*networkMtu(o, {1349, true}, 0), 1279u);                              // IPv4 only: fine
  EXPECT_EQ(*networkMtu(o, {1330, false}, 0, CryptoBackend::kAuto, kV6), 1280u);  // IPv4 underlay: 50 bytes
  o.encrypted = true;
  auto esp = networkMtu(o, {1360, false}, 0, CryptoBackend::kAuto, kV6);  // 1360 - 50 - 40 = 1270
  ASSERT_EQ(esp.code(), EINVAL);
  EXPECT_NE(esp.error().message.find("VXLAN and encryption overhead"), std::string::npos)
      << esp.error().message;
  o.encrypted = false;
  o.mtu = 1279;
  auto asked = networkMtu(o, {1500, true}, 0, CryptoBackend::kAuto, kV6);
  ASSERT_EQ(asked.code(), EINVAL);
  EXPECT_NE(asked.error().message.find("-o mtu=1279 gives 1279; give -o mtu=1280 or more"), std::string::npos)
      << asked.error().message;
  o.mtu = 1280;
  EXPECT_EQ(*networkMtu(o, {1500, true}, 0, CryptoBackend::kAuto, kV6), 1280u);
  NetworkOptions dflt;
  auto setting = networkMtu(dflt, {1500, true}, 1200, CryptoBackend::kAuto, kV6);
  ASSERT_EQ(setting.code(), EINVAL);
  EXPECT_NE(setting.error().message.find("the MTU setting (1200)"), std::string::npos)
      << setting.error().message;
}

TEST(FaultBook, RetriesDoubleUpToTheMaximum) {
  using C = FaultBook::Clock;
  FaultBook book(2s, 10s);
  const C::time_point t0{};
  EXPECT_TRUE(book.fail("n1", "no sandbox", t0));
  EXPECT_TRUE(book.faulted("n1"));
  EXPECT_EQ(book.delay("n1"), C::duration(2s));
  EXPECT_TRUE(book.due(t0 + 1s).empty());
  EXPECT_EQ(book.due(t0 + 2s), (std::vector<std::string>{"n1"}));
  EXPECT_FALSE(book.fail("n1", "no sandbox", t0 + 2s));  // same reason: no new log line
  EXPECT_EQ(book.delay("n1"), C::duration(4s));
  EXPECT_TRUE(book.due(t0 + 5s).empty());
  EXPECT_EQ(book.due(t0 + 6s).size(), 1u);
  book.fail("n1", "no sandbox", t0 + 6s);
  EXPECT_EQ(book.delay("n1"), C::duration(8s));
  book.fail("n1", "no sandbox", t0 + 14s);
  EXPECT_EQ(book.delay("n1"), C::duration(10s));         // capped
  EXPECT_TRUE(book.fail("n1", "vxlan busy", t0 + 24s));  // another reason: worth a line
  EXPECT_EQ(book.delay("n1"), C::duration(10s));         // but the backoff goes on
  EXPECT_EQ(book.reasons(), (std::map<std::string, std::string>{{"n1", "vxlan busy"}}));
  book.clear("n1");
  EXPECT_FALSE(book.faulted("n1"));
  EXPECT_EQ(book.delay("n1"), C::duration::zero());
  EXPECT_TRUE(book.fail("n1", "vxlan busy", t0 + 30s));  // a new fault starts over
  EXPECT_EQ(book.delay("n1"), C::duration(2s));
}

TEST(FaultBook, ZeroFirstRetryRetriesEveryTimeAndRetainForgets) {
  FaultBook book(FaultBook::Clock::duration::zero());
  const FaultBook::Clock::time_point t0{};
  book.fail("a", "x", t0);
  book.fail("b", "y", t0);
  book.fail("a", "x", t0);
  EXPECT_EQ(book.due(t0), (std::vector<std::string>{"a", "b"}));
  book.retain([](const std::string& id) { return id != "a"; });
  EXPECT_EQ(book.reasons(), (std::map<std::string, std::string>{{"b", "y"}}));
}

TEST(SwarmNodes, OthersSeedAndSelfIsKeptApart) {
  SwarmNodes s;
  EXPECT_TRUE(s.apply("198.18.0.2", DiscoveredNode::kOther, Discovery::kNew));
  EXPECT_FALSE(s.apply("198.18.0.2", DiscoveredNode::kOther, Discovery::kNew));  // again: nothing new
  EXPECT_TRUE(s.apply("198.18.0.1", DiscoveredNode::kSelf, Discovery::kNew));
  EXPECT_EQ(s.others(), (std::set<std::string>{"198.18.0.2"}));
  EXPECT_EQ(s.self(), "198.18.0.1");
  EXPECT_FALSE(s.apply("198.18.0.9", DiscoveredNode::kSelf, Discovery::kDeleted));  // not the one held
  EXPECT_EQ(s.self(), "198.18.0.1");
  EXPECT_TRUE(s.apply("198.18.0.1", DiscoveredNode::kSelf, Discovery::kDeleted));
  EXPECT_EQ(s.self(), "");
  EXPECT_FALSE(s.apply("198.18.0.3", DiscoveredNode::kOther, Discovery::kDeleted));
  EXPECT_TRUE(s.apply("198.18.0.2", DiscoveredNode::kOther, Discovery::kDeleted));
  EXPECT_EQ(s, SwarmNodes());
}

}  // namespace
}  // namespace weft::driver
