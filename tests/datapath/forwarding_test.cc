#include "datapath/forwarding.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdio>

namespace weft::datapath {
namespace {

std::vector<uint8_t> frameTo(std::initializer_list<uint8_t> dst) {
  std::vector<uint8_t> f(dst);
  f.resize(64, 0);
  return f;
}

std::vector<std::string> strs(std::span<const PeerAddr> peers) {
  std::vector<std::string> out;
  for (const auto& p : peers) out.push_back(p.str());
  return out;
}

TEST(DatapathForwarding, KnownUnicastGoesToItsPeerEverythingElseIsFlooded) {
  ForwardingTable t(4790);
  ASSERT_TRUE(t.setMac("02:42:0a:00:00:02", "198.18.0.2"));
  ASSERT_TRUE(t.addFloodPeer("198.18.0.2"));
  ASSERT_TRUE(t.addFloodPeer("198.18.0.3"));

  auto r = t.lookup(frameTo({0x02, 0x42, 0x0a, 0, 0, 0x02}));
  EXPECT_EQ(r.kind, ForwardingTable::Kind::kUnicast);
  EXPECT_EQ(strs(r.peers), std::vector<std::string>{"198.18.0.2:4790"});

  const std::vector<std::string> all{"198.18.0.2:4790", "198.18.0.3:4790"};
  for (auto dst : {frameTo({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),  // broadcast
                   frameTo({0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}),  // IPv4 multicast
                   frameTo({0x33, 0x33, 0x00, 0x00, 0x00, 0x01}),  // IPv6 multicast
                   frameTo({0x02, 0x42, 0x0a, 0, 0, 0x09})}) {     // unknown unicast
    auto f = t.lookup(dst);
    EXPECT_EQ(f.kind, ForwardingTable::Kind::kFlood);
    EXPECT_EQ(strs(f.peers), all);
  }
  EXPECT_EQ(t.lookup(std::vector<uint8_t>(13, 2)).kind, ForwardingTable::Kind::kDrop);
}

TEST(DatapathForwarding, MovesAndRemovalsFollowThePeerTable) {
  ForwardingTable t(4790);
  ASSERT_TRUE(t.setMac("02:00:00:00:00:01", "198.18.0.2"));
  ASSERT_TRUE(t.setMac("02:00:00:00:00:01", "198.18.0.3"));  // moved host
  auto f = frameTo({2, 0, 0, 0, 0, 1});
  EXPECT_EQ(strs(t.lookup(f).peers), std::vector<std::string>{"198.18.0.3:4790"});
  EXPECT_EQ(t.macCount(), 1u);
  ASSERT_TRUE(t.removeMac("02:00:00:00:00:01"));
  EXPECT_EQ(t.lookup(f).kind, ForwardingTable::Kind::kFlood);
  EXPECT_TRUE(t.lookup(f).peers.empty());
  EXPECT_EQ(t.removeMac("02:00:00:00:00:01").code(), ENOENT);
  ASSERT_TRUE(t.addFloodPeer("2001:db8::1"));
  EXPECT_EQ(t.addFloodPeer("2001:db8::1").code(), EEXIST);
  EXPECT_EQ(strs(t.lookup(f).peers), std::vector<std::string>{"[2001:db8::1]:4790"});
  ASSERT_TRUE(t.removeFloodPeer("2001:db8::1"));
  EXPECT_EQ(t.removeFloodPeer("2001:db8::1").code(), ENOENT);
  EXPECT_EQ(t.floodCount(), 0u);
}

TEST(DatapathForwarding, BadInputIsRefusedAndChangesNothing) {
  ForwardingTable t(4790);
  ASSERT_TRUE(t.setMac("02:00:00:00:00:01", "198.18.0.2"));
  for (const char* mac : {"", "02:00:00:00:00", "02:00:00:00:00:01:02", "zz:00:00:00:00:01",
                          "02-00-00-00-00-01", "02:00:00:00:00:1x"}) {
    auto s = t.setMac(mac, "198.18.0.2");
    ASSERT_FALSE(s) << mac;
    EXPECT_NE(s.error().message.find("MAC"), std::string::npos) << s.error().message;
  }
  EXPECT_EQ(t.setMac("ff:ff:ff:ff:ff:ff", "198.18.0.2").code(), EINVAL);
  EXPECT_EQ(t.setMac("01:00:5e:00:00:01", "198.18.0.2").code(), EINVAL);
  EXPECT_EQ(t.setMac("00:00:00:00:00:00", "198.18.0.2").code(), EINVAL);
  auto s = t.setMac("02:00:00:00:00:01", "198.18.0.300");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("198.18.0.300"), std::string::npos);
  EXPECT_EQ(t.addFloodPeer("not-an-ip").code(), EINVAL);
  EXPECT_EQ(t.macCount(), 1u);
  EXPECT_EQ(t.floodCount(), 0u);
  EXPECT_EQ(strs(t.lookup(frameTo({2, 0, 0, 0, 0, 1})).peers), std::vector<std::string>{"198.18.0.2:4790"});
}

TEST(DatapathForwarding, TableLimitsAreEnforced) {
  ForwardingTable t(4790);
  char mac[18], ip[20];
  for (size_t i = 0; i < kMaxPeersPerNetwork; ++i) {
    std::snprintf(ip, sizeof ip, "198.18.%zu.%zu", i / 256, i % 256);
    ASSERT_TRUE(t.addFloodPeer(ip)) << ip;
  }
  EXPECT_EQ(t.addFloodPeer("198.19.0.1").code(), ENOSPC);
  for (size_t i = 0; i < kMaxMacsPerNetwork; ++i) {
    std::snprintf(mac, sizeof mac, "02:00:00:00:%02zx:%02zx", i / 256, i % 256);
    ASSERT_TRUE(t.setMac(mac, "198.18.0.2")) << mac;
  }
  auto full = t.setMac("02:00:00:01:00:00", "198.18.0.2");
  EXPECT_EQ(full.code(), ENOSPC);
  EXPECT_NE(full.error().message.find("full"), std::string::npos);
  // Replacing an existing entry is not growth.
  EXPECT_TRUE(t.setMac("02:00:00:00:00:05", "198.18.0.3"));
  EXPECT_EQ(t.macCount(), kMaxMacsPerNetwork);
}

}  // namespace
}  // namespace weft::datapath
