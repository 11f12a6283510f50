#include "gossip/broadcast_queue.h"

#include <gtest/gtest.h>

namespace weft::gossip {
namespace {

std::vector<uint8_t> item(uint8_t tag, size_t size = 10) { return std::vector<uint8_t>(size, tag); }
auto everything = [](const std::string&) { return true; };

TEST(RetransmitLimit, ScalesWithLogOfClusterSize) {
  EXPECT_EQ(retransmitLimit(3, 1), 3);
  EXPECT_EQ(retransmitLimit(3, 9), 3);
  EXPECT_EQ(retransmitLimit(3, 10), 6);
  EXPECT_EQ(retransmitLimit(3, 100), 9);
  EXPECT_EQ(retransmitLimit(4, 1000), 16);
}

TEST(BroadcastQueue, EachItemSentAtMostLimitTimes) {
  BroadcastQueue q;
  q.enqueue("a", "", item(1));
  int sends = 0;
  for (int i = 0; i < 10; ++i) {
    std::set<uint64_t> ex;
    sends += static_cast<int>(q.take(1000, 3, everything, &ex).size());
  }
  EXPECT_EQ(sends, 3);
  EXPECT_TRUE(q.empty());
}

TEST(BroadcastQueue, NewerItemWithSameKeyReplacesOlder) {
  BroadcastQueue q;
  q.enqueue("m:a", "", item(1));
  q.enqueue("m:a", "", item(2));
  EXPECT_EQ(q.size(), 1u);
  std::set<uint64_t> ex;
  auto out = q.take(1000, 5, everything, &ex);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0], 2);
}

TEST(BroadcastQueue, LeastTransmittedFirstAndBudgetRespected) {
  BroadcastQueue q;
  q.enqueue("old", "", item(1));
  {
    std::set<uint64_t> ex;
    q.take(1000, 10, everything, &ex);  // "old" now has 1 transmit
  }
  q.enqueue("new", "", item(2));
  std::set<uint64_t> ex;
  auto out = q.take(15, 10, everything, &ex);  // room for one
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0], 2);
  // Same exclude set: the next call skips what this packet round already carried.
  out = q.take(15, 10, everything, &ex);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0][0], 1);
  out = q.take(15, 10, everything, &ex);
  EXPECT_TRUE(out.empty());
}

TEST(BroadcastQueue, NetworkFilter) {
  BroadcastQueue q;
  q.enqueue("r:x/1", "x", item(1));
  q.enqueue("r:y/1", "y", item(2));
  q.enqueue("m:a", "", item(3));
  EXPECT_EQ(q.pendingNetworks(), (std::set<std::string>{"", "x", "y"}));
  std::set<uint64_t> ex;
  auto out = q.take(
      1000, 10, [](const std::string& n) { return n.empty() || n == "x"; }, &ex);
  EXPECT_EQ(out.size(), 2u);
  for (const auto& o : out) EXPECT_NE(o[0], 2);
}

}  // namespace
}  // namespace weft::gossip
