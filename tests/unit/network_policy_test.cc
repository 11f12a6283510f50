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
