// Named cluster-wide pools (--ipam-opt weft.name): the rule that finds two
// hosts giving one name different subnets (driver/ipam_pool_names.h), and
// what Docker's calls get through the driver -- a refused pool or address
// naming the other host, both hosts logging and counting it, forged records
// refused.
#include "driver/ipam_pool_names.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/driver_test_fixture.h"

using namespace weft;
using namespace weft::driver;

namespace {

const std::string kA = "198.18.0.1", kB = "198.18.0.2", kC = "fd00::3";

Prefix prefix(const std::string& s) { return *Prefix::parse(s); }

}  // namespace

TEST(PoolNames, TheSameNameWithAnotherSubnetOfTheSameFamilyIsAMismatch) {
  PoolNames names;
  ASSERT_TRUE(names.apply(PoolNames::record("app", {"10.63.0.0/24", "fd00:63::/64"}, kA), true, kB).ok());
  EXPECT_FALSE(names.mismatch("app", prefix("10.63.0.0/24")));
  EXPECT_FALSE(names.mismatch("app", prefix("fd00:63::/64")));
  EXPECT_FALSE(names.mismatch("other", prefix("10.64.0.0/24")));
  auto m = names.mismatch("app", prefix("10.64.0.0/24"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->owner, kA);
  EXPECT_EQ(m->theirs, "10.63.0.0/24");
  EXPECT_EQ(m->ours, "10.64.0.0/24");
  EXPECT_TRUE(names.mismatch("app", prefix("fd00:64::/64")));
  // A host that uses the name for IPv4 only says nothing about IPv6.
  ASSERT_TRUE(names.apply(PoolNames::record("v4only", {"10.65.0.0/24", ""}, kA), true, kB).ok());
  EXPECT_FALSE(names.mismatch("v4only", prefix("fd00:65::/64")));
  EXPECT_EQ(
      names.mismatches({{"app", {"10.64.0.0/24", "fd00:63::/64"}}, {"v4only", {"10.65.0.0/24", ""}}}).size(),
      1u);
  // The record withdrawn: no mismatch left.
  ASSERT_TRUE(names.apply(PoolNames::record("app", {}, kA), false, kB).ok());
  EXPECT_FALSE(names.mismatch("app", prefix("10.64.0.0/24")));
}

TEST(PoolNames, EveryOwnerIsComparedAndAnIpv6OwnerHasAValidKey) {
  PoolNames names;
  auto r = PoolNames::record("app", {"10.63.0.0/24", ""}, kC);
  EXPECT_EQ(r.endpoint, "pool.fd00--3");  // an endpoint id allows no ':'
  ASSERT_TRUE(names.apply(r, true, kB).ok());
  ASSERT_TRUE(names.apply(PoolNames::record("app", {"10.64.0.0/24", ""}, kA), true, kB).ok());
  EXPECT_EQ(names.mismatches({{"app", {"10.63.0.0/24", ""}}}).size(), 1u);
  EXPECT_EQ(names.mismatches({{"app", {"10.66.0.0/24", ""}}}).size(), 2u);
}

TEST(PoolNames, ForgedOrMalformedRecordsAreRefusedAndChangeNothing) {
  PoolNames names;
  // Written by kA under kB's name: the key names another owner.
  auto forged = PoolNames::record("app", {"10.63.0.0/24", ""}, kA);
  forged.endpoint = "pool." + kB;
  auto st = names.apply(forged, true, kC);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("key does not name"), std::string::npos) << st.error().message;
  auto badName = PoolNames::record("a/b", {"10.63.0.0/24", ""}, kA);
  EXPECT_FALSE(names.apply(badName, true, kC).ok());
  auto badPool = PoolNames::record("app", {"10.63.0.1/24", ""}, kA);  // host bits
  EXPECT_FALSE(names.apply(badPool, true, kC).ok());
  auto wrongFamily = PoolNames::record("app", {"fd00::/64", ""}, kA);
  EXPECT_FALSE(names.apply(wrongFamily, true, kC).ok());
  EXPECT_EQ(names.size(), 0u);
  // This host's own record (echoed back) is not another host's.
  ASSERT_TRUE(names.apply(PoolNames::record("app", {"10.63.0.0/24", ""}, kC), true, kC).ok());
  EXPECT_EQ(names.size(), 0u);
}

TEST(PoolNames, AtMostALimitOfOwnersPerNameIsKept) {
  PoolNames names;
  for (size_t i = 0; i < kMaxOwnersPerName; ++i) {
    const std::string host = "198.19." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    ASSERT_TRUE(names.apply(PoolNames::record("app", {"10.63.0.0/24", ""}, host), true, kC).ok());
  }
  auto over = names.apply(PoolNames::record("app", {"10.64.0.0/24", ""}, "198.20.0.1"), true, kC);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.code(), ENOSPC);
  EXPECT_NE(over.error().message.find("already 1024 hosts use that name"), std::string::npos)
      << over.error().message;
  EXPECT_FALSE(names.mismatch("app", prefix("10.63.0.0/24")));  // the refused owner left nothing
  // An owner already kept may still change its pool.
  ASSERT_TRUE(names.apply(PoolNames::record("app", {"10.65.0.0/24", ""}, "198.19.0.0"), true, kC).ok());
  EXPECT_EQ(names.mismatches({{"app", {"10.63.0.0/24", ""}}}).size(), 1u);
}

namespace {

struct NamedHost {
  explicit NamedHost(const std::string& addr) {
    kernel = std::make_unique<kernel::FakeKernel>(dir / "netns");
    cfg.stateDir = dir.path();
    cfg.advertiseAddr = addr;
    cfg.leaseRules.settleUs = 1000;
    driver = std::make_unique<Driver>(cfg, *kernel);
    EXPECT_TRUE(driver->start().ok());
    driver->setCluster(&cluster);
  }
  Result<PoolGrant> pool(const std::string& name, const std::string& subnet) {
    return driver->requestPool("", subnet, "", {{kPoolNameOption, name}}, false);
  }
  std::vector<EndpointRecord> nameRecords() const {
    std::vector<EndpointRecord> out;
    for (const auto& r : cluster.published)
      if (PoolNames::isRecordNetwork(r.network)) out.push_back(r);
    return out;
  }
  test::TempDir dir;
  DriverConfig cfg;
  std::unique_ptr<kernel::FakeKernel> kernel;
  test::RecordingCluster cluster;  // the test hands its records to the other host
  std::unique_ptr<Driver> driver;
};

}  // namespace

TEST(DriverPoolNames, ANameAnotherHostUsesWithAnotherSubnetIsRefusedNamingThatHost) {
  NamedHost a(kA), b(kB);
  ASSERT_TRUE(a.pool("app", "10.63.0.0/24").ok());
  auto recs = a.nameRecords();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].network, "ipam-name:app");
  EXPECT_EQ(recs[0].ipv4, "10.63.0.0/24");
  b.driver->applyRemote(recs[0], RecordState::kActive);

  auto other = b.pool("app", "10.64.0.0/24");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code(), EEXIST);
  EXPECT_NE(other.error().message.find("is 10.63.0.0/24 on host 198.18.0.1, not 10.64.0.0/24"),
            std::string::npos)
      << other.error().message;
  // Without --subnet the name picks a /24 of 10.128.0.0/9: not a's either.
  EXPECT_FALSE(b.pool("app", "").ok());
  EXPECT_TRUE(b.driver->ipamUsage().empty());  // nothing changed
  EXPECT_TRUE(b.nameRecords().empty());
  // The same subnet is the same pool.
  auto same = b.pool("app", "10.63.0.0/24");
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_EQ(b.nameRecords().size(), 1u);
  EXPECT_EQ(b.driver->ipamClusterCounts().poolNameMismatches, 0u);
}

TEST(DriverPoolNames, AMismatchFoundLaterRefusesNewAddressesOnBothHostsAndIsCounted) {
  NamedHost a(kA), b(kB);
  auto pa = a.pool("app", "10.63.0.0/24");
  auto pb = b.pool("app", "10.64.0.0/24");  // neither knows the other yet
  ASSERT_TRUE(pa.ok() && pb.ok());
  auto x = a.driver->requestAddress(pa->poolId, "", {});
  ASSERT_TRUE(x.ok()) << x.error().message;
  a.driver->applyRemote(b.nameRecords().at(0), RecordState::kActive);
  b.driver->applyRemote(a.nameRecords().at(0), RecordState::kActive);
  for (auto* h : {&a, &b}) {
    const auto& pid = h == &a ? pa->poolId : pb->poolId;
    auto r = h->driver->requestAddress(pid, "", {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), EEXIST);
    EXPECT_NE(r.error().message.find(h == &a ? "on host 198.18.0.2" : "on host 198.18.0.1"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(h->driver->ipamClusterCounts().poolNameMismatches, 1u);
    auto view = h->driver->ipamView();
    ASSERT_EQ(view["poolNameMismatches"].size(), 1u);
    EXPECT_EQ(view["poolNameMismatches"][0]["name"], "app");
  }
  // The address a handed out before is still its own.
  ASSERT_EQ(a.driver->ipamUsage().size(), 1u);
  EXPECT_EQ(a.driver->ipamUsage()[0].allocated, 1u);
  // b removes its network: b's record is withdrawn and a hands out again.
  ASSERT_TRUE(b.driver->releasePool(pb->poolId).ok());
  ASSERT_EQ(b.cluster.withdrawn.size(), 1u);
  EXPECT_EQ(b.cluster.withdrawn[0].first, "ipam-name:app");
  auto gone = b.nameRecords().at(0);
  a.driver->applyRemote(gone, RecordState::kWithdrawn);
  EXPECT_TRUE(a.driver->requestAddress(pa->poolId, "", {}).ok());
  EXPECT_EQ(a.driver->ipamClusterCounts().poolNameMismatches, 0u);
}

TEST(DriverPoolNames, AForgedNameRecordIsRefusedLoggedAndCounted) {
  NamedHost a(kA), b(kB);
  ASSERT_TRUE(b.pool("app", "10.64.0.0/24").ok());
  auto forged = PoolNames::record("app", {"10.63.0.0/24", ""}, kA);
  forged.vtep = "198.18.0.9";  // the key names kA
  b.driver->applyRemote(forged, RecordState::kActive);
  EXPECT_EQ(b.driver->ipamClusterCounts().refusedRecords, 1u);
  EXPECT_EQ(b.driver->ipamClusterCounts().poolNameMismatches, 0u);
  EXPECT_TRUE(b.driver->remoteEndpoints().empty());  // never taken for an endpoint
}
