// Multicast pruning in the userspace datapath's forwarding table (issue 14):
// per-group peer lists, matched on the inner IP destination.
#include <gtest/gtest.h>

#include <cstring>

#include "datapath/forwarding.h"

namespace weft::datapath {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

// An Ethernet frame carrying IPv4 or IPv6 to `dst`, with the group MAC the
// kernel would use (or `mac` when given).
std::vector<uint8_t> ipFrame(const char* dst, std::vector<uint8_t> mac = {}) {
  const IpAddr d = ip(dst);
  const auto& b = d.bytes;
  if (mac.empty())
    mac = d.isV6() ? std::vector<uint8_t>{0x33, 0x33, b[12], b[13], b[14], b[15]}
                   : std::vector<uint8_t>{0x01, 0x00, 0x5e, static_cast<uint8_t>(b[1] & 0x7f), b[2], b[3]};
  std::vector<uint8_t> f(mac);
  f.resize(12, 0x02);
  if (d.isV6()) {
    f.insert(f.end(), {0x86, 0xdd});
    f.resize(14 + 40 + 8, 0);
    f[14] = 0x60;
    std::memcpy(f.data() + 14 + 24, b.data(), 16);
  } else {
    f.insert(f.end(), {0x08, 0x00});
    f.resize(14 + 20 + 8, 0);
    f[14] = 0x45;
    std::memcpy(f.data() + 14 + 16, b.data(), 4);
  }
  return f;
}

std::vector<std::string> strs(std::span<const PeerAddr> peers) {
  std::vector<std::string> out;
  for (const auto& p : peers) out.push_back(p.str());
  return out;
}

class ForwardingGroups : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* p : {"198.18.0.2", "198.18.0.3", "198.18.0.4"}) ASSERT_TRUE(t.addFloodPeer(p));
  }
  ForwardingTable t{4790};
  const std::vector<std::string> all{"198.18.0.2:4790", "198.18.0.3:4790", "198.18.0.4:4790"};
};

TEST_F(ForwardingGroups, AGroupWithAnEntryGoesToItsPeersOnly) {
  ASSERT_TRUE(t.setGroup(ip("239.1.2.3"), {"198.18.0.4", "198.18.0.3", "198.18.0.3"}));
  auto r = t.lookup(ipFrame("239.1.2.3"));
  EXPECT_EQ(r.kind, ForwardingTable::Kind::kGroup);
  EXPECT_EQ(strs(r.peers), (std::vector<std::string>{"198.18.0.3:4790", "198.18.0.4:4790"}));

  ASSERT_TRUE(t.setGroup(ip("ff0e::114"), {"198.18.0.2"}));
  r = t.lookup(ipFrame("ff0e::114"));
  EXPECT_EQ(r.kind, ForwardingTable::Kind::kGroup);
  EXPECT_EQ(strs(r.peers), std::vector<std::string>{"198.18.0.2:4790"});

  // Listeners on this host only: an entry with no peer sends nothing.
  ASSERT_TRUE(t.setGroup(ip("239.9.9.9"), {}));
  r = t.lookup(ipFrame("239.9.9.9"));
  EXPECT_EQ(r.kind, ForwardingTable::Kind::kGroup);
  EXPECT_TRUE(r.peers.empty());
  EXPECT_EQ(t.groupCount(), 3u);

  // Replaced, then removed: back to the flood.
  ASSERT_TRUE(t.setGroup(ip("239.1.2.3"), {"198.18.0.2"}));
  EXPECT_EQ(strs(t.lookup(ipFrame("239.1.2.3")).peers), std::vector<std::string>{"198.18.0.2:4790"});
  ASSERT_TRUE(t.removeGroup(ip("239.1.2.3")));
  r = t.lookup(ipFrame("239.1.2.3"));
  EXPECT_EQ(r.kind, ForwardingTable::Kind::kFlood);
  EXPECT_EQ(strs(r.peers), all);
  EXPECT_EQ(t.removeGroup(ip("239.1.2.3")).code(), ENOENT);
}

TEST_F(ForwardingGroups, LinkLocalBroadcastAndUnknownGroupsAreFlooded) {
  // 239.0.0.1 and 224.128.0.1 share 224.0.0.1's MAC; ff0e::1 shares ff02::1's
  // and ff0e::1:ff00:2 a solicited-node MAC: pruning them must not prune
  // all-hosts or neighbour discovery.
  ASSERT_TRUE(t.setGroup(ip("239.0.0.1"), {}));
  ASSERT_TRUE(t.setGroup(ip("224.128.0.1"), {}));
  ASSERT_TRUE(t.setGroup(ip("ff0e::1"), {}));
  ASSERT_TRUE(t.setGroup(ip("ff0e::1:ff00:2"), {}));
  for (const char* g : {"224.0.0.1", "224.0.0.251", "224.0.0.22", "ff02::1", "ff02::1:ff00:2", "ff02::16",
                        "ff01::1", "239.1.2.4", "ff0e::2"}) {
    auto r = t.lookup(ipFrame(g));
    EXPECT_EQ(r.kind, ForwardingTable::Kind::kFlood) << g;
    EXPECT_EQ(strs(r.peers), all) << g;
  }
  EXPECT_TRUE(t.lookup(ipFrame("239.0.0.1")).peers.empty());
  // Broadcast (ARP and IPv4 to 255.255.255.255), a unicast IP under a group
  // MAC, a cut IP header, other protocols: flooded.
  std::vector<uint8_t> arp(ipFrame("239.0.0.1", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  arp[12] = 0x08;
  arp[13] = 0x06;
  std::vector<uint8_t> cut = ipFrame("239.0.0.1");
  cut.resize(14 + 19);
  std::vector<uint8_t> cut6 = ipFrame("ff0e::1");
  cut6.resize(14 + 39);
  for (const auto& f : {arp, ipFrame("255.255.255.255", {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                        ipFrame("10.0.0.1", {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}), cut, cut6}) {
    auto r = t.lookup(f);
    EXPECT_EQ(r.kind, ForwardingTable::Kind::kFlood);
    EXPECT_EQ(strs(r.peers), all);
  }
}

TEST_F(ForwardingGroups, BadInputIsRefusedAndChangesNothing) {
  ASSERT_TRUE(t.setGroup(ip("239.1.2.3"), {"198.18.0.2"}));
  for (const char* g : {"224.0.0.251", "ff02::1", "ff01::2", "10.0.0.1", "2001:db8::1"})
    EXPECT_EQ(t.setGroup(ip(g), {}).code(), EINVAL) << g;
  EXPECT_EQ(t.setGroup(ip("239.1.2.3"), {"198.18.0.3", "not-an-address"}).code(), EINVAL);
  EXPECT_EQ(t.groupCount(), 1u);
  EXPECT_EQ(strs(t.lookup(ipFrame("239.1.2.3")).peers), std::vector<std::string>{"198.18.0.2:4790"});
}

TEST_F(ForwardingGroups, GroupLimitIsEnforced) {
  for (size_t i = 0; i < kMaxGroupsPerNetwork; ++i) {
    IpAddr g = ip("239.0.0.0");
    g.bytes[1] = static_cast<uint8_t>(1 + i / 65536);
    g.bytes[2] = static_cast<uint8_t>(i / 256 % 256);
    g.bytes[3] = static_cast<uint8_t>(i % 256);
    ASSERT_TRUE(t.setGroup(g, {})) << g.str();
  }
  EXPECT_EQ(t.setGroup(ip("239.200.0.1"), {}).code(), ENOSPC);
  EXPECT_EQ(t.groupCount(), kMaxGroupsPerNetwork);
  EXPECT_EQ(t.lookup(ipFrame("239.200.0.1")).kind, ForwardingTable::Kind::kFlood);
  // An existing group can still be changed when full.
  EXPECT_TRUE(t.setGroup(ip("239.1.0.0"), {"198.18.0.2"}));
  std::vector<std::string> tooMany;
  for (size_t i = 0; i <= kMaxPeersPerNetwork; ++i)
    tooMany.push_back("198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  EXPECT_EQ(t.setGroup(ip("239.1.0.0"), tooMany).code(), ENOSPC);
  EXPECT_EQ(strs(t.lookup(ipFrame("239.1.0.0")).peers), std::vector<std::string>{"198.18.0.2:4790"});
}

}  // namespace
}  // namespace weft::datapath
