// removeUnreachableVxlan on both kernels: a VTEP left in a namespace that no
// namespace file reaches any more (its mount gone, the namespace kept alive
// by something else) still holds its VNI; the shim finds it through the
// host's namespace ids and deletes it -- and touches nothing else.
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

class OrphanTest : public KernelTest {
 protected:
  static VxlanSpec vtep(const std::string& name, uint32_t vni) {
    return VxlanSpec{.name = name, .vni = vni, .port = 4789, .learning = false, .proxy = true};
  }
};

TEST_P(OrphanTest, AVtepInAnOrphanedNamespaceIsFoundAndRemoved) {
  Netns gone = makeNs("orphan");
  ASSERT_OK(k().createVxlan(vtep("wx-000f01", 3841), gone));
  ASSERT_NO_FATAL_FAILURE(orphanNs(gone));
  Netns fresh = makeNs("fresh");
  // The orphan still holds the VNI...
  EXPECT_ERRNO(k().createVxlan(vtep("wx-000f01", 3841), fresh), EEXIST);
  // ...until the shim removes it.
  auto id = k().removeUnreachableVxlan("wx-000f01", 3841, 4789);
  ASSERT_OK(id);
  EXPECT_GE(*id, 0);
  ASSERT_OK(k().createVxlan(vtep("wx-000f01", 3841), fresh));
  EXPECT_EQ(link(fresh, "wx-000f01").vni, 3841u);
  // Nothing more to find.
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f01", 3841, 4789), ENOENT);
}

TEST_P(OrphanTest, OnlyThatDeviceInAnUnreachableNamespaceIsTouched) {
  // A reachable namespace's VTEP is never removed.
  Netns live = makeNs("live");
  ASSERT_OK(k().createVxlan(vtep("wx-000f02", 3842), live));
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f02", 3842, 4789), ENOENT);
  EXPECT_EQ(link(live, "wx-000f02").vni, 3842u);
  // Nor one in the host namespace.
  ownHostLink("wx-000f03");
  ASSERT_OK(k().createVxlan(vtep("wx-000f03", 3843), kHostNetns));
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f03", 3843, 4789), ENOENT);
  EXPECT_EQ(link(kHostNetns, "wx-000f03").vni, 3843u);
  // In an orphan: another name, VNI or port is not a match.
  Netns gone = makeNs("orphan");
  ASSERT_OK(k().createVxlan(vtep("wx-000f04", 3844), gone));
  ASSERT_NO_FATAL_FAILURE(orphanNs(gone));
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f05", 3844, 4789), ENOENT);
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f04", 3845, 4789), ENOENT);
  EXPECT_ERRNO(k().removeUnreachableVxlan("wx-000f04", 3844, 4790), ENOENT);
  ASSERT_OK(k().removeUnreachableVxlan("wx-000f04", 3844, 4789));
  ASSERT_OK(k().deleteLink(kHostNetns, "wx-000f03"));
}

INSTANTIATE_TEST_SUITE_P(Kernels, OrphanTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
