// Change notifications (Kernel::watchChanges), run against both kernels: a
// watch wakes for link, address, neighbour and FDB changes in its own
// namespace, not for another's, and is quiet when nothing changes.
#include <poll.h>

#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace weft::testvalues;

// Notifications that arrive within `wait` (drained).
size_t changesWithin(ChangeWatch& w, int waitMs = 1000) {
  pollfd p{w.fd(), POLLIN, 0};
  if (::poll(&p, 1, waitMs) <= 0) return 0;
  return w.drain();
}

using WatchTest = KernelTest;

TEST_P(WatchTest, WakesForEveryKindOfChangeInItsNamespace) {
  Netns a = makeNs("wa");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 610}, a));
  auto w = k().watchChanges(a);
  ASSERT_OK(w);
  (*w)->drain();  // whatever the set-up left queued
  EXPECT_EQ(changesWithin(**w, 100), 0u) << "quiet namespace";

  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2"), FdbAdd::kCreate));
  EXPECT_GT(changesWithin(**w), 0u) << "fdb add";
  ASSERT_OK(k().delFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2")));
  EXPECT_GT(changesWithin(**w), 0u) << "fdb delete";
  ASSERT_OK(k().addNeigh(a, neighEntry("vx0", "10.9.0.2", "02:42:0a:09:00:02")));
  EXPECT_GT(changesWithin(**w), 0u) << "neighbour add";
  ASSERT_OK(k().replaceNeigh(a, neighEntry("vx0", "10.9.0.2", "02:42:0a:09:00:03")));
  EXPECT_GT(changesWithin(**w), 0u) << "neighbour replace";
  ASSERT_OK(k().setLinkUp(a, "vx0", true));
  EXPECT_GT(changesWithin(**w), 0u) << "link up";
  ASSERT_OK(k().setLinkUp(a, "vx0", false));
  EXPECT_GT(changesWithin(**w), 0u) << "link down";
  ASSERT_OK(k().setMtu(a, "br0", 1400));
  EXPECT_GT(changesWithin(**w), 0u) << "mtu";
  ASSERT_OK(k().addAddress(a, "br0", "10.9.0.1/24"));
  EXPECT_GT(changesWithin(**w), 0u) << "address";
  EXPECT_EQ(changesWithin(**w, 100), 0u) << "all drained";
}

TEST_P(WatchTest, DoesNotWakeForAnotherNamespace) {
  Netns a = makeNs("wb");
  Netns b = makeNs("wc");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 611}, b));
  auto w = k().watchChanges(a);
  ASSERT_OK(w);
  (*w)->drain();
  ASSERT_OK(k().addFdb(b, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2"), FdbAdd::kCreate));
  ASSERT_OK(k().setLinkUp(b, "vx0", true));
  EXPECT_EQ(changesWithin(**w, 200), 0u);
}

TEST_P(WatchTest, MissingNamespaceIsENOENT) { EXPECT_ERRNO(k().watchChanges("weft-no-such-ns"), ENOENT); }

INSTANTIATE_TEST_SUITE_P(Kernels, WatchTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
