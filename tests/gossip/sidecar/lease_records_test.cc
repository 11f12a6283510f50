// Leases as gossip records (gossip/daemon/lease_records.h): the round trip,
// and records a member forged under another member's name are refused.
#include "gossip/daemon/lease_records.h"

#include <gtest/gtest.h>

using namespace weft;
using namespace weft::gossip;

namespace {
const cluster::ipc::Lease kLease{"10.60.0.0/24", 7, "", 1700000000000000, true, false, "198.18.0.3@1699"};
}

TEST(LeaseRecords, RoundTrip) {
  EndpointRecord r = leaseToRecord(kLease, "198.18.0.2");
  EXPECT_EQ(r.network, "ipam:10.60.0.0/24");
  EXPECT_EQ(r.endpoint, "7@198.18.0.2");
  EXPECT_TRUE(isLeaseNetwork(r.network));
  EXPECT_FALSE(isLeaseNetwork("subnet:10.60.0.0/24"));
  r.owner = "198.18.0.2";  // GossipNode::publish sets it
  auto l = recordToLease(r);
  ASSERT_TRUE(l.ok()) << l.error().message;
  auto want = kLease;
  want.owner = "198.18.0.2";
  EXPECT_EQ(*l, want);
  auto plain = kLease;
  plain.takeoverOf.clear();
  plain.used = false;
  plain.released = true;
  r = leaseToRecord(plain, "h");
  r.owner = "h";
  l = recordToLease(r);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->released);
  EXPECT_FALSE(l->used);
  EXPECT_TRUE(l->takeoverOf.empty());
}

TEST(LeaseRecords, ARecordUnderAnotherMembersNameIsRefused) {
  EndpointRecord r = leaseToRecord(kLease, "198.18.0.2");
  r.owner = "198.18.0.9";  // written by .9, keyed as .2's lease
  auto l = recordToLease(r);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.code(), EPERM);
  EXPECT_NE(l.error().message.find("under the name of 198.18.0.2 by 198.18.0.9"), std::string::npos)
      << l.error().message;
}

TEST(LeaseRecords, MalformedRecordsAreRefused) {
  EndpointRecord good = leaseToRecord(kLease, "h");
  good.owner = "h";
  auto with = [&](auto change) {
    EndpointRecord r = good;
    change(r);
    return recordToLease(r).ok();
  };
  EXPECT_TRUE(with([](EndpointRecord&) {}));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.network = "ipam:10.60.0.1/24"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.network = "ipam:x"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.endpoint = "4096@h"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.endpoint = "x@h"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.endpoint = "7"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.vtep = ""; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.vtep = "c=1;f=x-;t="; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.vtep = "c=;f=u-;t="; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.vtep = "c=1;f=u-;t=nobody"; }));
  EXPECT_FALSE(with([](EndpointRecord& r) { r.vtep = "c=1;f=u-r;t="; }));
}
