// Namespace and link scenarios, run against FakeKernel and NetlinkKernel.
#include <algorithm>

#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

using LinksTest = KernelTest;

TEST_P(LinksTest, NamespacesAreCreatedListedAndDeleted) {
  Netns a = makeNs("a");
  auto list = k().listNetns();
  ASSERT_OK(list);
  EXPECT_EQ(std::count(list->begin(), list->end(), a), 1);
  EXPECT_EQ(k().netnsPath(a).substr(k().netnsPath(a).rfind('/') + 1), a);
  EXPECT_ERRNO(k().createNetns(a), EEXIST);
  EXPECT_OK(k().deleteNetns(a));
  EXPECT_ERRNO(k().deleteNetns(a), ENOENT);
  list = k().listNetns();
  ASSERT_OK(list);
  EXPECT_EQ(std::count(list->begin(), list->end(), a), 0);
}

TEST_P(LinksTest, NamespaceNamesAreValidated) {
  EXPECT_ERRNO(k().createNetns(""), EINVAL);
  EXPECT_ERRNO(k().deleteNetns(""), EINVAL);
  EXPECT_ERRNO(k().createNetns("a/b"), EINVAL);
  EXPECT_ERRNO(k().createNetns(".."), EINVAL);
  EXPECT_ERRNO(k().createNetns(std::string(256, 'n')), EINVAL);
}

TEST_P(LinksTest, NewNamespaceHoldsOnlyLoopbackDown) {
  Netns a = makeNs("lo");
  auto links = k().listLinks(a);
  ASSERT_OK(links);
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ((*links)[0].name, "lo");
  EXPECT_FALSE((*links)[0].up);
  EXPECT_EQ((*links)[0].kind, LinkKind::kOther);
  EXPECT_ERRNO(k().deleteLink(a, "lo"), EOPNOTSUPP);
}

TEST_P(LinksTest, MissingNamespaceIsEnoent) {
  EXPECT_ERRNO(k().createBridge("nope", "br0", 0), ENOENT);
  EXPECT_ERRNO(k().listLinks("nope"), ENOENT);
  EXPECT_ERRNO(k().getLink("nope", "br0"), ENOENT);
  EXPECT_ERRNO(k().setSysctl("nope", "net/ipv4/ip_forward", "1"), ENOENT);
}

TEST_P(LinksTest, BridgeIsCreatedWithMtuAndReported) {
  Netns a = makeNs("br");
  ASSERT_OK(k().createBridge(a, "br0", 9000));
  LinkInfo br = link(a, "br0");
  EXPECT_EQ(br.kind, LinkKind::kBridge);
  EXPECT_EQ(br.kindName, "bridge");
  EXPECT_EQ(br.mtu, 9000u);
  EXPECT_FALSE(br.up);
  EXPECT_GT(br.ifindex, 1);
  EXPECT_TRUE(MacAddr::parse(br.mac).has_value()) << br.mac;
  EXPECT_FALSE(br.vni.has_value());
  EXPECT_ERRNO(k().createBridge(a, "br0", 0), EEXIST);
  ASSERT_OK(k().createBridge(a, "br1", 0));
  EXPECT_EQ(link(a, "br1").mtu, 1500u);
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo", "br0", "br1"}));
}

TEST_P(LinksTest, LinkNamesAndMtusAreValidated) {
  Netns a = makeNs("val");
  EXPECT_ERRNO(k().createBridge(a, "0123456789abcdef", 0), EINVAL);  // 16 bytes
  EXPECT_OK(k().createBridge(a, "0123456789abcde", 0));              // 15 bytes
  EXPECT_ERRNO(k().createBridge(a, "", 0), EINVAL);
  EXPECT_ERRNO(k().createBridge(a, "a/b", 0), EINVAL);
  EXPECT_ERRNO(k().createBridge(a, "a b", 0), EINVAL);
  EXPECT_ERRNO(k().createBridge(a, "brx", 10), EINVAL);
  EXPECT_ERRNO(k().createVeth(a, "v0", a, std::string(16, 'p'), 0), EINVAL);
  EXPECT_ERRNO(k().getLink(a, std::string(16, 'x')), EINVAL);
  EXPECT_ERRNO(k().setMtu(a, "0123456789abcde", 67), EINVAL);
  EXPECT_ERRNO(k().setMtu(a, "0123456789abcde", 0), EINVAL);
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo", "0123456789abcde"}));
}

TEST_P(LinksTest, MissingLinkIsEnoent) {
  Netns a = makeNs("miss");
  EXPECT_ERRNO(k().getLink(a, "ghost"), ENOENT);
  EXPECT_ERRNO(k().deleteLink(a, "ghost"), ENOENT);
  EXPECT_ERRNO(k().setLinkUp(a, "ghost", true), ENOENT);
  EXPECT_ERRNO(k().setMtu(a, "ghost", 1400), ENOENT);
  EXPECT_ERRNO(k().setMaster(a, "ghost", ""), ENOENT);
}

TEST_P(LinksTest, VethPeerLandsInItsNamespace) {
  Netns a = makeNs("va"), b = makeNs("vb");
  ASSERT_OK(k().createVeth(a, "veth0", b, "veth1", 1400));
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo", "veth0"}));
  EXPECT_EQ(linkNames(b), (std::set<std::string>{"lo", "veth1"}));
  LinkInfo v0 = link(a, "veth0"), v1 = link(b, "veth1");
  EXPECT_EQ(v0.kind, LinkKind::kVeth);
  EXPECT_EQ(v1.kindName, "veth");
  EXPECT_EQ(v0.mtu, 1400u);
  EXPECT_EQ(v1.mtu, 1400u);
  EXPECT_NE(v0.mac, v1.mac);
  EXPECT_ERRNO(k().createVeth(a, "veth0", b, "other", 0), EEXIST);
  EXPECT_ERRNO(k().createVeth(a, "other", b, "veth1", 0), EEXIST);
  EXPECT_ERRNO(k().createVeth(a, "same", a, "same", 0), EEXIST);
  EXPECT_ERRNO(k().createVeth(a, "x0", "nope", "x1", 0), ENOENT);
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo", "veth0"}));
  EXPECT_EQ(linkNames(b), (std::set<std::string>{"lo", "veth1"}));
}

TEST_P(LinksTest, DeletingAVethEndDeletesItsPeer) {
  Netns a = makeNs("da");
  ownHostLink("wtv0");
  ASSERT_OK(k().createVeth(kHostNetns, "wtv0", a, "wtv1", 0));
  EXPECT_TRUE(linkNames(kHostNetns).count("wtv0"));
  ASSERT_OK(k().deleteLink(a, "wtv1"));
  EXPECT_FALSE(linkNames(kHostNetns).count("wtv0"));
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo"}));
}

TEST_P(LinksTest, DeletingANamespaceDeletesItsLinksAndTheirPeers) {
  Netns a = makeNs("dn");
  ownHostLink("wtd0");  // only if deleteNetns fails to
  ASSERT_OK(k().createVeth(a, "in0", kHostNetns, "wtd0", 0));
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 4242}, a));
  ASSERT_OK(k().deleteNetns(a));
  EXPECT_FALSE(linkNames(kHostNetns).count("wtd0"));
  // The VNI is free again at once: nothing of the old device lingers.
  Netns b = makeNs("dn2");
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 4242}, b));
  // And the name can be reused.
  EXPECT_OK(k().createNetns(a));
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo"}));
}

TEST_P(LinksTest, VxlanIsCreatedInHostAndMovedToTarget) {
  Netns a = makeNs("vx");
  VxlanSpec spec{.name = "vx0",
                 .vni = 256,
                 .port = 4789,
                 .local = "198.18.0.1",
                 .learning = false,
                 .proxy = true,
                 .l2miss = true,
                 .l3miss = true,
                 .mtu = 1450};
  ASSERT_OK(k().createVxlan(spec, a));
  EXPECT_FALSE(linkNames(kHostNetns).count("vx0"));
  LinkInfo vx = link(a, "vx0");
  EXPECT_EQ(vx.kind, LinkKind::kVxlan);
  EXPECT_EQ(vx.kindName, "vxlan");
  EXPECT_EQ(vx.vni, 256u);
  EXPECT_EQ(vx.port, 4789);
  EXPECT_EQ(vx.learning, false);
  EXPECT_EQ(vx.mtu, 1450u);
}

TEST_P(LinksTest, VxlanDefaultsAndHostTarget) {
  ownHostLink("wtx0");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "wtx0", .vni = 7, .port = 0, .learning = true}, kHostNetns));
  LinkInfo vx = link(kHostNetns, "wtx0");
  EXPECT_EQ(vx.port, 4789);  // 0 means the IANA port
  EXPECT_EQ(vx.learning, true);
  EXPECT_EQ(vx.mtu, 1500u);
  ASSERT_OK(k().deleteLink(kHostNetns, "wtx0"));
}

TEST_P(LinksTest, VxlanWithSameVniAndPortIsEexistAcrossNamespaces) {
  Netns a = makeNs("vd1"), b = makeNs("vd2");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 100, .port = 4789}, a));
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx1", .vni = 100, .port = 4789}, b), EEXIST);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx1", .vni = 100, .port = 4789}, a), EEXIST);
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx2", .vni = 100, .port = 4790}, b));
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx3", .vni = 101, .port = 4789}, b));
  EXPECT_EQ(linkNames(b), (std::set<std::string>{"lo", "vx2", "vx3"}));
}

TEST_P(LinksTest, VxlanNameTakenInTargetLeavesNothingBehind) {
  Netns a = makeNs("vt");
  ASSERT_OK(k().createBridge(a, "vx0", 0));
  auto hostBefore = linkNames(kHostNetns);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 300}, a), EEXIST);
  EXPECT_EQ(linkNames(kHostNetns), hostBefore);
  // The VNI was not left claimed by a half-made device.
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx1", .vni = 300}, a));
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx2", .vni = 1}, "nope"), ENOENT);
}

TEST_P(LinksTest, VxlanSpecIsValidated) {
  Netns a = makeNs("vv");
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 1u << 24}, a), EINVAL);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 1, .local = "1.2.3"}, a), EINVAL);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 1, .mtu = 65500}, a), EINVAL);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "0123456789abcdef", .vni = 1}, a), EINVAL);
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx6", .vni = 1, .local = "2001:db8::1"}, a));
  EXPECT_EQ(linkNames(a), (std::set<std::string>{"lo", "vx6"}));
}

TEST_P(LinksTest, LinkStateAndMtuChange) {
  Netns a = makeNs("st");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().setLinkUp(a, "br0", true));
  EXPECT_TRUE(link(a, "br0").up);
  ASSERT_OK(k().setMtu(a, "br0", 1400));
  EXPECT_EQ(link(a, "br0").mtu, 1400u);
  ASSERT_OK(k().setLinkUp(a, "br0", false));
  EXPECT_FALSE(link(a, "br0").up);
}

TEST_P(LinksTest, BridgePortsAndMasterRules) {
  Netns a = makeNs("ms"), b = makeNs("ms2");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().createBridge(a, "br1", 0));
  ASSERT_OK(k().createVeth(a, "p0", b, "q0", 9000));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 9, .mtu = 1450}, a));
  ASSERT_OK(k().setMaster(a, "p0", "br0"));
  EXPECT_EQ(link(a, "p0").master, "br0");
  EXPECT_EQ(link(a, "br0").mtu, 9000u);  // follows its only port
  ASSERT_OK(k().setMaster(a, "vx0", "br0"));
  EXPECT_EQ(link(a, "br0").mtu, 1450u);       // the smallest port
  EXPECT_OK(k().setMaster(a, "vx0", "br0"));  // again: no change
  ASSERT_OK(k().setMaster(a, "vx0", ""));
  EXPECT_EQ(link(a, "vx0").master, "");
  EXPECT_EQ(link(a, "br0").mtu, 9000u);
  EXPECT_OK(k().setMaster(a, "vx0", ""));    // detaching a free link is fine
  ASSERT_OK(k().setMaster(a, "p0", "br1"));  // moves between bridges
  EXPECT_EQ(link(a, "p0").master, "br1");
  EXPECT_EQ(link(a, "br0").mtu, 1500u);   // no ports left
  ASSERT_OK(k().setMtu(a, "br0", 2000));  // set by hand: no longer follows
  ASSERT_OK(k().setMaster(a, "vx0", "br0"));
  EXPECT_EQ(link(a, "br0").mtu, 2000u);

  EXPECT_ERRNO(k().setMaster(a, "p0", "ghost"), ENODEV);
  EXPECT_ERRNO(k().setMaster(a, "ghost", "br0"), ENOENT);
  EXPECT_ERRNO(k().setMaster(a, "p0", "vx0"), EOPNOTSUPP);
  EXPECT_ERRNO(k().setMaster(a, "br1", "br0"), EINVAL);
  EXPECT_ERRNO(k().setMaster(a, "lo", "br0"), EINVAL);

  ASSERT_OK(k().deleteLink(a, "br1"));
  EXPECT_EQ(link(a, "p0").master, "");
  EXPECT_EQ(linkNames(b), (std::set<std::string>{"lo", "q0"}));
}

TEST_P(LinksTest, RetiredLinksLeaveServiceAtOnceAndGoInOneBatch) {
  Netns a = makeNs("ret");
  Netns b = makeNs("ret2");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  for (int i = 0; i < 5; ++i) {
    std::string n = "v" + std::to_string(i);
    ASSERT_OK(k().createVeth(a, n, b, "p" + std::to_string(i), 1400));
    ASSERT_OK(k().setMaster(a, n, "br0"));
    ASSERT_OK(k().setLinkUp(a, n, true));
  }
  for (int i = 0; i < 4; ++i)
    ASSERT_OK(k().retireLink(a, "v" + std::to_string(i), "t" + std::to_string(i), 77));
  LinkInfo t0 = link(a, "t0");
  EXPECT_FALSE(t0.up);
  EXPECT_TRUE(t0.master.empty());
  EXPECT_EQ(t0.group, 77u);
  EXPECT_ERRNO(k().getLink(a, "v0"), ENOENT);
  // The old name is free again at once.
  ASSERT_OK(k().createVeth(a, "v0", b, "q0", 1400));
  EXPECT_ERRNO(k().retireLink(a, "v0", "t1", 77), EEXIST);
  EXPECT_ERRNO(k().retireLink(a, "nope", "t9", 77), ENOENT);
  EXPECT_ERRNO(k().retireLink(a, "v0", "t9", 0), EINVAL);
  ASSERT_OK(k().deleteLinkGroup(a, 77));
  for (int i = 0; i < 4; ++i) {
    EXPECT_ERRNO(k().getLink(a, "t" + std::to_string(i)), ENOENT);
    EXPECT_ERRNO(k().getLink(b, "p" + std::to_string(i)), ENOENT);  // peers went too
  }
  EXPECT_OK(k().getLink(a, "v4").ok() ? Status::Ok() : Status(Error{ENOENT, "v4 gone"}));
  EXPECT_OK(k().getLink(b, "p4").ok() ? Status::Ok() : Status(Error{ENOENT, "p4 gone"}));
  EXPECT_OK(k().deleteLinkGroup(a, 77));  // empty group: fine
  EXPECT_ERRNO(k().deleteLinkGroup(a, 0), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Kernels, LinksTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
