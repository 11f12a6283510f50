// Endpoint names as gossip records (gossip/daemon/name_records.h): the round
// trip, and records refused as malformed or written for an endpoint another
// member owns.
#include "gossip/daemon/name_records.h"

#include <gtest/gtest.h>

using namespace weft;
using namespace weft::gossip;

namespace {
const cluster::ipc::Names kNames{"subnet:10.0.0.0/24", "0123abcd", "",
                                 "10.0.0.2",           "fd00::2",  {"web-1", "web"}};
}

TEST(NameRecords, RoundTrip) {
  EndpointRecord r = namesToRecord(kNames);
  EXPECT_EQ(r.network, "dns:subnet:10.0.0.0/24");
  EXPECT_EQ(r.endpoint, "0123abcd");
  EXPECT_EQ(r.vtep, "web-1,web");
  EXPECT_TRUE(isNamesNetwork(r.network));
  EXPECT_FALSE(isNamesNetwork("subnet:10.0.0.0/24"));
  r.owner = "198.18.0.2";  // GossipNode::publish sets it
  auto n = recordToNames(r, "198.18.0.2");
  ASSERT_TRUE(n.ok()) << n.error().message;
  auto want = kNames;
  want.owner = "198.18.0.2";
  EXPECT_EQ(*n, want);
  // Not yet knowing the endpoint record is fine (the plugin checks again).
  EXPECT_TRUE(recordToNames(r, "").ok());
}

TEST(NameRecords, AnotherMembersEndpointIsRefused) {
  EndpointRecord r = namesToRecord(kNames);
  r.owner = "198.18.0.3";
  auto n = recordToNames(r, "198.18.0.2");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, EPERM);
}

TEST(NameRecords, MalformedRecordsAreRefused) {
  EndpointRecord good = namesToRecord(kNames);
  good.owner = "h";
  auto refused = [&](const std::function<void(EndpointRecord&)>& change) {
    EndpointRecord r = good;
    change(r);
    return !recordToNames(r, "").ok();
  };
  EXPECT_FALSE(refused([](auto&) {}));
  EXPECT_TRUE(refused([](auto& r) { r.network = "subnet:x"; }));
  EXPECT_TRUE(refused([](auto& r) { r.network = "dns:"; }));
  EXPECT_TRUE(refused([](auto& r) { r.endpoint = "a b"; }));
  EXPECT_TRUE(refused([](auto& r) { r.vtep = "web,,db"; }));
  EXPECT_TRUE(refused([](auto& r) { r.vtep = "web,"; }));
  EXPECT_TRUE(refused([](auto& r) { r.vtep = "bad name"; }));
  EXPECT_TRUE(refused([](auto& r) {
    r.vtep.clear();
    for (int i = 0; i < 17; ++i) r.vtep += std::string(i ? "," : "") + "n" + std::to_string(i);
  }));
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "fd00::1"; }));
  EXPECT_TRUE(refused([](auto& r) { r.ipv6 = "10.0.0.1"; }));
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = r.ipv6 = ""; }));
  EXPECT_TRUE(refused([](auto& r) { r.ipv4 = "10.0.0.2/24"; }));
}
