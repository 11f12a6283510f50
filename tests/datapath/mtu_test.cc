#include "datapath/mtu.h"

#include <gtest/gtest.h>

#include "datapath/session.h"

namespace weft::datapath {
namespace {

TEST(DatapathMtu, ContainerMtuForCommonUnderlays) {
  // 20 IP + 8 UDP + 24 header + 16 tag + 14 inner Ethernet = 82 (VXLAN: 50).
  EXPECT_EQ(packetOverhead(false), 68u);
  EXPECT_EQ(packetOverhead(true), 88u);
  EXPECT_EQ(innerMtu(1500, false), 1418u);
  EXPECT_EQ(innerMtu(9000, false), 8918u);
  EXPECT_EQ(innerMtu(1500, true), 1398u);
  EXPECT_EQ(innerMtu(9000, true), 8898u);
}

TEST(DatapathMtu, TooSmallAnUnderlayLeavesNothing) {
  EXPECT_EQ(innerMtu(82 + kMinInnerMtu, false), kMinInnerMtu);
  EXPECT_EQ(innerMtu(82 + kMinInnerMtu - 1, false), 0u);
  EXPECT_EQ(innerMtu(0, true), 0u);
}

// A full-size frame at the computed MTU seals into an outer packet of
// exactly the underlay MTU: not one byte more (fragmentation), none wasted.
TEST(DatapathMtu, AFullFrameFillsTheUnderlayExactly) {
  const auto now = Clock::time_point{};
  auto tx = TxSession::create(std::vector<uint8_t>(32, 1), Direction{"n", "a", "b"}, 1, 1, 1, {}, now);
  ASSERT_TRUE(tx.ok());
  for (uint32_t underlay : {1500u, 9000u}) {
    std::vector<uint8_t> f(kInnerEthernetHeader + innerMtu(underlay, false), 0);
    ASSERT_LE(f.size(), kMaxFrameSize);
    std::span<const uint8_t> fs[] = {f};
    std::vector<uint8_t> out(kMaxPacketSize);
    auto n = tx->seal(fs, out, now);
    ASSERT_TRUE(n.ok());
    EXPECT_EQ(*n + kUdpHeader + kOuterIpv4Header, underlay);
  }
}

}  // namespace
}  // namespace weft::datapath
