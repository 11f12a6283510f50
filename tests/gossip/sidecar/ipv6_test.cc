// Gossip over IPv6 (issue 14): two real weft-gossip processes on the IPv6
// loopback ([::1], each on its own port), each the other's seed, become
// alive members of one cluster, and name each other by bracketed
// [address]:port.

#include <gtest/gtest.h>

#include "tests/gossip/sidecar/sidecar_harness.h"
#include "tests/support/temp_dir.h"

namespace weft::test {
namespace {

TEST(Ipv6Gossip, TwoSidecarsOnIpv6AddressesBecomeAliveMembers) {
  TempDir dir("weft-ipv6-gossip");
  const int port = testPort();
  const std::string a = "[::1]:" + std::to_string(port), b = "[::1]:" + std::to_string(port + 1);
  Sidecar x({.id = "fd18::a", .addr = a, .seeds = {b}}, dir / "x.log");
  Sidecar y({.id = "fd18::b", .addr = b, .seeds = {a}}, dir / "y.log");
  ASSERT_TRUE(x.ready()) << x.log();
  ASSERT_TRUE(y.ready()) << y.log();
  for (auto* s : {&x, &y}) {
    Json st = s->statusUntil(
        [](const Json& j) { return j["members"].size() == 1 && j["members"][0]["state"] == "alive"; }, 5000);
    ASSERT_EQ(st["members"].size(), 1u) << st.dump() << s->log();
    EXPECT_EQ(st["members"][0]["state"], "alive") << st.dump();
    const std::string other = s == &x ? b : a;
    EXPECT_EQ(st["members"][0]["addr"], other) << st.dump();
    EXPECT_EQ(st["members"][0]["id"], s == &x ? "fd18::b" : "fd18::a") << st.dump();
    EXPECT_TRUE(st["authFailuresByHost"].empty()) << st.dump();
  }
}

}  // namespace
}  // namespace weft::test
