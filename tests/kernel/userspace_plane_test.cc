// The userspace backend's port on a real kernel: attach puts a persistent
// TAP on br0 of the network's sandbox with the network's MTU; a sandbox
// rebuilt in a new namespace (repair) gets its port again; detach and the
// namespace's removal leave nothing. Root only, in the suite's throwaway
// namespace; what it makes is removed also on failure.

#include "driver/userspace_plane.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "driver/names.h"
#include "kernel/netlink_kernel.h"
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

class UserspacePlaneKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!realKernelAvailable()) GTEST_SKIP() << "needs root (TAP devices, namespaces)";
    k_ = std::make_unique<NetlinkKernel>(stateDir() + "/netns");
    ns_ = "wplane-" + std::to_string(::getpid());
    epochFile_ = stateDir() + "/datapath-epoch-" + std::to_string(::getpid());
  }
  void TearDown() override {
    plane_.reset();
    if (!k_) return;
    EXPECT_TRUE(k_->deleteNetns(ns_).okOr(ENOENT));
    ::unlink(epochFile_.c_str());
  }
  void sandbox() {
    ASSERT_OK(k_->createNetns(ns_));
    ASSERT_OK(k_->createBridge(ns_, driver::kBridgeName, 1418));
  }
  void expectPort() {
    auto l = k_->getLink(ns_, driver::kEncryptedTapName);
    ASSERT_OK(l);
    EXPECT_EQ(l->master, driver::kBridgeName);
    EXPECT_EQ(l->mtu, 1418u);
    EXPECT_TRUE(l->up);
  }

  std::unique_ptr<NetlinkKernel> k_;
  std::unique_ptr<driver::UserspacePlane> plane_;
  std::string ns_, epochFile_;
};

TEST_F(UserspacePlaneKernelTest, PortIsATapOnBr0AndFollowsARebuiltSandbox) {
  ASSERT_OK(k_->setLinkUp(kHostNetns, "lo", true));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  driver::UserspacePlaneConfig c;
  c.self = "127.0.0.1";
  c.port = 47913;
  c.key.assign(32, 0x5a);
  c.epochFile = epochFile_;
  auto p = driver::UserspacePlane::start(*k_, c);
  ASSERT_OK(p);
  plane_ = std::move(*p);
  const driver::EncryptedNetwork net{"subnet:10.77.0.0/24", 100, ns_, 1418};
  ASSERT_OK(plane_->attach(net));
  ASSERT_NO_FATAL_FAILURE(expectPort());
  ASSERT_OK(plane_->attach(net));  // again (a repair): a no-op
  ASSERT_NO_FATAL_FAILURE(expectPort());

  // The sandbox is rebuilt in a new namespace of the same name: the port
  // comes back with the next attach.
  ASSERT_OK(k_->deleteNetns(ns_));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  EXPECT_FALSE(k_->getLink(ns_, driver::kEncryptedTapName).ok());
  ASSERT_OK(plane_->attach(net));
  ASSERT_NO_FATAL_FAILURE(expectPort());
  auto st = plane_->status();
  ASSERT_EQ(st["networks"].size(), 1u);
  EXPECT_EQ(st["networks"][0]["vni"], 100);

  plane_->detach(net.identity);
  EXPECT_EQ(plane_->status()["networks"].size(), 0u);
  // The TAP is persistent: it stays until its namespace goes.
  EXPECT_TRUE(k_->getLink(ns_, driver::kEncryptedTapName).ok());
}

}  // namespace
}  // namespace weft::kernel::testing
