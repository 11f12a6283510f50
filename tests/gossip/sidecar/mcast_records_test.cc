// Multicast listeners as gossip records (gossip/daemon/mcast_records.h):
// the round trip, the limits as the record carries them, and records
// refused as forged or malformed.
#include "gossip/daemon/mcast_records.h"

#include <gtest/gtest.h>

#include "gossip/messages.h"

using namespace weft;
using namespace weft::gossip;

namespace {
const cluster::ipc::Mcast kMcast{"subnet:10.0.0.0/24", "", "198.18.0.2", {"239.1.2.3", "ff0e::1:3"}, false};

EndpointRecord published(const cluster::ipc::Mcast& m) {
  EndpointRecord r = mcastToRecord(m, "198.18.0.2");
  r.owner = "198.18.0.2";  // GossipNode::publish sets it
  return r;
}
}  // namespace

TEST(McastRecords, RoundTrip) {
  EndpointRecord r = published(kMcast);
  EXPECT_EQ(r.network, "mcast:subnet:10.0.0.0/24");
  EXPECT_EQ(r.endpoint, "198.18.0.2");
  EXPECT_EQ(r.ipv4, "ef010203");
  EXPECT_EQ(r.ipv6, "ff0e0000000000000000000000010003");
  EXPECT_EQ(r.mac, "");
  EXPECT_TRUE(isMcastNetwork(r.network));
  EXPECT_FALSE(isMcastNetwork("subnet:10.0.0.0/24"));
  auto m = recordToMcast(r);
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto want = kMcast;
  want.owner = "198.18.0.2";
  EXPECT_EQ(*m, want);

  cluster::ipc::Mcast all{"subnet:10.0.0.0/24", "", "fd00::7", {}, true};
  m = recordToMcast(published(all));
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_TRUE(m->all);
  EXPECT_TRUE(m->groups.empty());
  EXPECT_EQ(m->vtep, "fd00::7");
}

TEST(McastRecords, AFullAdvertisementFitsInOneRecord) {
  cluster::ipc::Mcast full = kMcast;
  full.groups.clear();
  for (size_t i = 0; i < cluster::ipc::kMaxMcastV4; ++i)
    full.groups.push_back("239.0.1." + std::to_string(i));
  for (size_t i = 0; i < cluster::ipc::kMaxMcastV6; ++i)
    full.groups.push_back("ff0e::ab:" + std::to_string(i));
  ASSERT_EQ(cluster::ipc::mcastGroupsProblem(full), "");
  EndpointRecord r = published(full);
  EXPECT_LE(r.ipv4.size(), kMaxNameSize);  // what the gossip codec carries per field
  EXPECT_LE(r.ipv6.size(), kMaxNameSize);
  auto m = recordToMcast(r);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->groups.size(), full.groups.size());
  // One group more than a record holds: refused, not cut short.
  r.ipv4 += "ef000001";
  EXPECT_FALSE(recordToMcast(r).ok());
}

TEST(McastRecords, ForgedOrMalformedRecordsAreRefused) {
  auto refused = [](const std::function<void(EndpointRecord&)>& change) {
    EndpointRecord r = published(kMcast);
    change(r);
    return !recordToMcast(r).ok();
  };
  EXPECT_FALSE(refused([](auto&) {}));
  EXPECT_TRUE(refused([](auto& r) { r.endpoint = "198.18.0.9"; }));  // under another host's name
  EXPECT_TRUE(refused([](auto& r) { r.network = "subnet:10.0.0.0/24"; }));
  EXPECT_TRUE(refused([](auto& r) { r.network = "mcast:"; }));
  EXPECT_TRUE(refused([](auto& r) { r.vtep = ""; }));
  EXPECT_TRUE(refused([](auto& r) { r.vtep = "nowhere"; }));
  EXPECT_TRUE(refused([](auto& r) { r.mac = "some"; }));
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "ef01020"; }));           // not whole groups
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "EF010203"; }));          // upper case
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "0a000001"; }));          // 10.0.0.1: not a group
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "ef010203ef010203"; }));  // twice
  EXPECT_TRUE(refused([](auto& r) { r.ipv6 = "fd000000000000000000000000000001"; }));
}
