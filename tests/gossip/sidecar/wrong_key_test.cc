// Diagnostics on both sides of a key mismatch (issue 10, finding 11): two
// real weft-gossip processes on loopback addresses, each the other's seed,
// with different cluster keys.

#include <gtest/gtest.h>

#include "tests/gossip/sidecar/sidecar_harness.h"
#include "tests/support/temp_dir.h"

namespace weft::test {
namespace {

TEST(WrongKey, BothSidesNameTheOtherHostByItsOwnAddress) {
  TempDir dir("weft-wrong-key");
  const int port = testPort();
  const std::string good = "127.0.0.2", bad = "127.0.0.3";
  const std::string goodAddr = good + ":" + std::to_string(port), badAddr = bad + ":" + std::to_string(port);
  Sidecar g({.id = good, .addr = goodAddr, .key = kKeyA, .seeds = {badAddr}}, dir / "good.log");
  Sidecar b({.id = bad, .addr = badAddr, .key = kKeyB, .seeds = {goodAddr}}, dir / "bad.log");
  ASSERT_TRUE(g.ready()) << g.log();
  ASSERT_TRUE(b.ready()) << b.log();

  // Both join each other over TCP at start and again every 2 s while alone.
  Json bs = b.statusUntil(
      [](const Json& j) {
        return j.contains("refusedBy") && !j["refusedBy"].empty() && !j["authFailuresByHost"].empty();
      },
      6000);
  Json gs = g.statusUntil([](const Json& j) { return !j["authFailuresByHost"].empty(); }, 3000);
  ASSERT_FALSE(gs.is_null());
  ASSERT_FALSE(bs.is_null());

  // The good host blames the bad host's own address, never a kernel-chosen
  // source address (127.0.0.1 on loopback).
  ASSERT_FALSE(gs["authFailuresByHost"].empty()) << gs.dump();
  for (auto it = gs["authFailuresByHost"].begin(); it != gs["authFailuresByHost"].end(); ++it)
    EXPECT_EQ(it.key(), bad) << gs.dump();

  // The host with the wrong key says why it is alone, and which hosts.
  EXPECT_TRUE(bs["members"].empty()) << bs.dump();
  ASSERT_TRUE(bs.contains("refusedBy")) << bs.dump();
  EXPECT_TRUE(bs["refusedBy"].contains(goodAddr)) << bs.dump();
  const std::string problem = bs.value("authProblem", "");
  EXPECT_NE(problem.find("refused by " + goodAddr), std::string::npos) << problem;
  EXPECT_NE(problem.find("packets from " + good), std::string::npos) << problem;
  EXPECT_NE(problem.find("cluster key"), std::string::npos) << problem;
  // So does the good host, which is just as alone here.
  EXPECT_NE(gs.value("authProblem", "").find(bad), std::string::npos) << gs.dump();
}

TEST(WrongKey, NoProblemIsReportedBetweenHostsThatShareTheKey) {
  TempDir dir("weft-same-key");
  const int port = testPort();
  const std::string a = "127.0.0.2:" + std::to_string(port), c = "127.0.0.3:" + std::to_string(port);
  Sidecar x({.id = "127.0.0.2", .addr = a, .seeds = {c}}, dir / "x.log");
  Sidecar y({.id = "127.0.0.3", .addr = c, .seeds = {a}}, dir / "y.log");
  ASSERT_TRUE(x.ready()) << x.log();
  ASSERT_TRUE(y.ready()) << y.log();
  Json xs = x.statusUntil([](const Json& j) { return j["members"].size() == 1; }, 5000);
  ASSERT_EQ(xs["members"].size(), 1u) << xs.dump();
  EXPECT_EQ(xs["members"][0]["state"], "alive") << xs.dump();
  EXPECT_EQ(xs.value("authProblem", "?"), "") << xs.dump();
  EXPECT_TRUE(xs["authFailuresByHost"].empty()) << xs.dump();
  EXPECT_TRUE(xs["refusedBy"].empty()) << xs.dump();
}

}  // namespace
}  // namespace weft::test
