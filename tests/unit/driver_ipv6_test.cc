// The driver on an IPv6 underlay and with IPv6 subnets (issue 14), on the
// fake kernel: the VTEP sends from the IPv6 ADVERTISE_ADDR, the MTU rule takes
// 70 bytes of overhead, br0 holds the IPv6 gateway, and a network with an
// IPv6 subnet below 1280 bytes of MTU is refused and leaves nothing behind.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "driver/driver.h"
#include "driver/names.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;

namespace {

std::string id(char c) { return std::string(64, c); }

CreateNetworkRequest dualStack(const std::string& nid, std::map<std::string, std::string> generic = {}) {
  CreateNetworkRequest r;
  r.networkId = nid;
  r.generic = std::move(generic);
  r.enableIpv6 = true;
  r.ipv4.push_back({"", "10.72.0.0/24", "10.72.0.1/24", {}});
  r.ipv6.push_back({"", "fd00:72::/64", "fd00:72::1/64", {}});
  return r;
}

bool hasNetns(kernel::Kernel& k, const std::string& ns) {
  auto l = k.listNetns();
  return l.ok() && std::find(l->begin(), l->end(), ns) != l->end();
}

class DriverIpv6Test : public ::testing::Test {
 protected:
  void start(const std::string& advertise, uint32_t underlayMtu) {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    kernel_->setUnderlayMtu(underlayMtu);
    cfg_.stateDir = dir_.path();
    cfg_.advertiseAddr = advertise;
    driver_ = std::make_unique<Driver>(cfg_, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
  }

  test::TempDir dir_;
  DriverConfig cfg_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

TEST_F(DriverIpv6Test, AnIpv6UnderlayGivesAnIpv6VtepAndSeventyBytesOfOverhead) {
  ASSERT_NO_FATAL_FAILURE(start("fd18::1", 1500));
  ASSERT_TRUE(driver_->createNetwork(dualStack(id('a'))).ok());
  auto n = driver_->networks().at(0);
  EXPECT_EQ(n.mtu, 1430u);  // 1500 - 70 (VXLAN over IPv6)
  auto vx = kernel_->getLink(n.netns, n.vxlanName);
  ASSERT_TRUE(vx.ok());
  EXPECT_EQ(vx->local, IpAddr::parse("fd18::1"));
  EXPECT_EQ(vx->mtu, 1430u);
  // weft owns the gateways: both on br0.
  auto addrs = kernel_->listAddresses(n.netns, "br0");
  ASSERT_TRUE(addrs.ok());
  for (const char* gw : {"10.72.0.1/24", "fd00:72::1/64"})
    EXPECT_NE(std::find(addrs->begin(), addrs->end(), gw), addrs->end()) << gw;
}

TEST_F(DriverIpv6Test, AnIpv4UnderlayStaysAtFiftyBytes) {
  ASSERT_NO_FATAL_FAILURE(start("198.18.0.1", 1500));
  ASSERT_TRUE(driver_->createNetwork(dualStack(id('a'))).ok());
  auto n = driver_->networks().at(0);
  EXPECT_EQ(n.mtu, 1450u);
  EXPECT_EQ(kernel_->getLink(n.netns, n.vxlanName)->local, IpAddr::parse("198.18.0.1"));
}

TEST_F(DriverIpv6Test, AnIpv6SubnetBelow1280BytesOfMtuIsRefusedAndLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(start("fd18::1", 1500));
  auto small = driver_->createNetwork(dualStack(id('a'), {{"mtu", "1279"}}));
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.code(), EINVAL);
  EXPECT_NE(small.error().message.find("at least 1280"), std::string::npos) << small.error().message;
  EXPECT_TRUE(driver_->networks().empty());
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('a'))));
  // The same MTU without the IPv6 subnet is fine; 1280 with it too.
  auto v4only = dualStack(id('b'), {{"mtu", "1279"}});
  v4only.ipv6.clear();
  v4only.enableIpv6 = false;
  EXPECT_TRUE(driver_->createNetwork(v4only).ok());
  EXPECT_TRUE(driver_->createNetwork(dualStack(id('c'), {{"mtu", "1280"}, {"weft.name", "c"}})).ok());
}

TEST_F(DriverIpv6Test, ASmallIpv6UnderlayCannotCarryAnIpv6Subnet) {
  ASSERT_NO_FATAL_FAILURE(start("fd18::1", 1340));  // 1340 - 70 = 1270
  auto r = driver_->createNetwork(dualStack(id('a')));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("underlay's MTU 1340 less 70 bytes"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('a'))));
}
