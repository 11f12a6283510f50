// Sysctl and xfrm scenarios, run against both kernels.
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

using SysctlXfrmTest = KernelTest;

TEST_P(SysctlXfrmTest, SysctlsArePerNamespace) {
  Netns a = makeNs("sy"), b = makeNs("sy2");
  ASSERT_OK(k().setSysctl(kHostNetns, "net/ipv4/ip_forward", "0"));
  ASSERT_OK(k().setSysctl(a, "net/ipv4/ip_forward", "1"));
  ASSERT_OK(k().setSysctl(b, "net/ipv4/ip_forward", "0"));
  EXPECT_EQ(*k().getSysctl(a, "net/ipv4/ip_forward"), "1");
  EXPECT_EQ(*k().getSysctl(b, "net/ipv4/ip_forward"), "0");
  EXPECT_EQ(*k().getSysctl(kHostNetns, "net/ipv4/ip_forward"), "0");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().setSysctl(a, "net/ipv6/conf/br0/disable_ipv6", "1"));
  EXPECT_EQ(*k().getSysctl(a, "net/ipv6/conf/br0/disable_ipv6"), "1");
  ASSERT_OK(k().setSysctl(a, "net/ipv4/conf/br0/proxy_arp", "1\n"));
  EXPECT_EQ(*k().getSysctl(a, "net/ipv4/conf/br0/proxy_arp"), "1");
}

TEST_P(SysctlXfrmTest, SysctlErrors) {
  Netns a = makeNs("sye");
  EXPECT_ERRNO(k().getSysctl(a, "net/ipv4/conf/ghost/forwarding"), ENOENT);
  EXPECT_ERRNO(k().setSysctl(a, "net/ipv4/no_such_knob", "1"), ENOENT);
  EXPECT_ERRNO(k().setSysctl(a, "net/ipv4/../../kernel/hostname", "x"), EINVAL);
  EXPECT_ERRNO(k().setSysctl(a, "kernel/hostname", "x"), EINVAL);
  EXPECT_ERRNO(k().setSysctl(a, "/net/ipv4/ip_forward", "1"), EINVAL);
  EXPECT_ERRNO(k().setSysctl(a, "net/ipv4/ip_forward", "yes"), EINVAL);
  EXPECT_ERRNO(k().getSysctl("nope", "net/ipv4/ip_forward"), ENOENT);
}

XfrmState state(const std::string& src, const std::string& dst, uint32_t spi, bool esn) {
  XfrmState s;
  s.src = src;
  s.dst = dst;
  s.spi = spi;
  s.reqid = 0xd0c4e3;
  s.aeadKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff01020304";
  s.icvBits = 128;
  s.esn = esn;
  return s;
}

TEST_P(SysctlXfrmTest, XfrmStates) {
  if (real()) {
    Status probe = k().probe();
    if (probe.code() == EPROTONOSUPPORT) GTEST_SKIP() << probe.error().message;
  }
  XfrmState out = state("198.18.0.1", "198.18.0.2", 0x1001, true);
  XfrmState in = state("198.18.0.2", "198.18.0.1", 0x2002, false);
  in.aeadKeyHex = "0123456789ABCDEF0123456789ABCDEF01020304";  // AES-128 + salt
  in.icvBits = 96;
  out.counters = XfrmCounters{.packets = 99};  // not the caller's to set: ignored
  ASSERT_OK(k().addXfrmState(out));
  ASSERT_OK(k().addXfrmState(in));
  EXPECT_ERRNO(k().addXfrmState(out), EEXIST);
  auto list = k().listXfrmStates();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  XfrmState inLower = in;
  inLower.aeadKeyHex = "0123456789abcdef0123456789abcdef01020304";
  for (auto& s : *list) {
    // A listing has the kernel's counters, 0 for an SA that carried nothing.
    EXPECT_EQ(s.counters, std::optional<XfrmCounters>(XfrmCounters{})) << "spi " << s.spi;
    if (s.spi == out.spi)
      EXPECT_EQ(s, out);
    else
      EXPECT_EQ(s, inLower);
  }
  ASSERT_OK(k().delXfrmState(out));
  EXPECT_ERRNO(k().delXfrmState(out), ENOENT);
  ASSERT_OK(k().delXfrmState(in));
  list = k().listXfrmStates();
  ASSERT_OK(list);
  EXPECT_TRUE(list->empty());
}

TEST_P(SysctlXfrmTest, XfrmStateArgumentsAreChecked) {
  XfrmState s = state("198.18.0.1", "198.18.0.2", 0x3003, true);
  s.aeadKeyHex = "0011";
  EXPECT_ERRNO(k().addXfrmState(s), EINVAL);
  s = state("198.18.0.1", "fd00::2", 0x3003, true);
  EXPECT_ERRNO(k().addXfrmState(s), EINVAL);
  s = state("198.18.0.1", "198.18.0.2", 0, true);
  EXPECT_ERRNO(k().addXfrmState(s), EINVAL);
  s = state("198.18.0.1", "198.18.0.2", 0x3003, true);
  s.icvBits = 100;
  EXPECT_ERRNO(k().addXfrmState(s), EINVAL);
  auto list = k().listXfrmStates();
  ASSERT_OK(list);
  EXPECT_TRUE(list->empty());
}

TEST_P(SysctlXfrmTest, XfrmPolicies) {
  XfrmPolicy out{XfrmDir::kOut, "198.18.0.1", "198.18.0.2", 4790, "198.18.0.1", "198.18.0.2", 7, 0x1001};
  XfrmPolicy in{XfrmDir::kIn, "198.18.0.2", "198.18.0.1", 4790, "198.18.0.2", "198.18.0.1", 7, 0};
  XfrmPolicy v6{XfrmDir::kFwd, "fd00::1", "fd00::2", 0, "", "", 9, 0};
  ASSERT_OK(k().addXfrmPolicy(out));
  ASSERT_OK(k().addXfrmPolicy(in));
  ASSERT_OK(k().addXfrmPolicy(v6));
  EXPECT_ERRNO(k().addXfrmPolicy(out), EEXIST);
  XfrmPolicy otherPort = out;
  otherPort.udpPort = 4789;
  ASSERT_OK(k().addXfrmPolicy(otherPort));
  auto list = k().listXfrmPolicies();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 4u);
  for (const XfrmPolicy& want : {out, in, v6, otherPort})
    EXPECT_EQ(std::count(list->begin(), list->end(), want), 1) << want.src << "->" << want.dst;
  ASSERT_OK(k().delXfrmPolicy(out));
  EXPECT_ERRNO(k().delXfrmPolicy(out), ENOENT);
  ASSERT_OK(k().delXfrmPolicy(in));
  ASSERT_OK(k().delXfrmPolicy(v6));
  ASSERT_OK(k().delXfrmPolicy(otherPort));
  list = k().listXfrmPolicies();
  ASSERT_OK(list);
  EXPECT_TRUE(list->empty());
  EXPECT_ERRNO(k().addXfrmPolicy(XfrmPolicy{XfrmDir::kOut, "198.18.0.1", "fd00::2"}), EINVAL);
  EXPECT_ERRNO(k().addXfrmPolicy(XfrmPolicy{XfrmDir::kOut, "198.18.0.1", "198.18.0.2", 1, "fd00::1"}),
               EINVAL);
}

TEST_P(SysctlXfrmTest, XfrmPolicyUpdateReplacesTheTemplateOrAdds) {
  XfrmPolicy out{XfrmDir::kOut, "198.18.0.1", "198.18.0.2", 4799, "198.18.0.1", "198.18.0.2", 7, 0x1001};
  ASSERT_OK(k().updateXfrmPolicy(out));  // none yet: added
  XfrmPolicy rekeyed = out;
  rekeyed.spi = 0x2002;
  EXPECT_ERRNO(k().addXfrmPolicy(rekeyed), EEXIST);
  ASSERT_OK(k().updateXfrmPolicy(rekeyed));
  auto list = k().listXfrmPolicies();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front(), rekeyed);
  XfrmPolicy bad = rekeyed;
  bad.tmplDst = "fd00::2";
  EXPECT_ERRNO(k().updateXfrmPolicy(bad), EINVAL);
  list = k().listXfrmPolicies();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front(), rekeyed);  // bad input changed nothing
  ASSERT_OK(k().delXfrmPolicy(rekeyed));
}

// The catch-all of the encrypted port: any source (the unspecified address)
// to this host's port is discarded, below the per-peer ESP policy in
// precedence; both list back as they were added, and a block policy with an
// ESP template is refused.
TEST_P(SysctlXfrmTest, XfrmBlockPoliciesSelectAnyAddressAndCarryNoTemplate) {
  const XfrmPolicy in{XfrmDir::kIn, "0.0.0.0", "198.18.0.1", 4799, "", "", 0, 0, true};
  const XfrmPolicy out{XfrmDir::kOut, "198.18.0.1", "0.0.0.0", 4799, "", "", 0, 0, true};
  const XfrmPolicy v6{XfrmDir::kIn, "::", "fd00::1", 4799, "", "", 0, 0, true};
  const XfrmPolicy peer{XfrmDir::kIn, "198.18.0.2", "198.18.0.1", 4799, "198.18.0.2", "198.18.0.1", 7, 0,
                        false};
  for (const XfrmPolicy& p : {in, out, v6, peer}) ASSERT_OK(k().addXfrmPolicy(p));
  EXPECT_ERRNO(k().addXfrmPolicy(in), EEXIST);
  auto list = k().listXfrmPolicies();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 4u);
  for (const XfrmPolicy& want : {in, out, v6, peer})
    EXPECT_EQ(std::count(list->begin(), list->end(), want), 1) << want.src << "->" << want.dst;
  XfrmPolicy withTemplate = in;
  withTemplate.dst = "198.18.0.3";
  withTemplate.reqid = 7;
  EXPECT_ERRNO(k().addXfrmPolicy(withTemplate), EINVAL);
  withTemplate.reqid = 0;
  withTemplate.tmplDst = "198.18.0.3";
  EXPECT_ERRNO(k().addXfrmPolicy(withTemplate), EINVAL);
  for (const XfrmPolicy& p : {in, out, v6, peer}) ASSERT_OK(k().delXfrmPolicy(p));
  EXPECT_ERRNO(k().delXfrmPolicy(in), ENOENT);
  list = k().listXfrmPolicies();
  ASSERT_OK(list);
  EXPECT_TRUE(list->empty());
}

TEST_P(SysctlXfrmTest, XfrmStateReplayWindow) {
  XfrmState big = state("198.18.0.1", "198.18.0.2", 0x4004, true);
  big.replayWindow = 2048;
  XfrmState bad = big;
  bad.spi = 0x4005;
  bad.replayWindow = 2049;
  EXPECT_ERRNO(k().addXfrmState(bad), EINVAL);
  bad.replayWindow = kMaxXfrmReplayWindow + 32;
  EXPECT_ERRNO(k().addXfrmState(bad), EINVAL);
  bad.esn = false;
  bad.replayWindow = 64;
  EXPECT_ERRNO(k().addXfrmState(bad), EINVAL);
  if (real()) {
    Status probe = k().probe();
    if (probe.code() == EPROTONOSUPPORT) GTEST_SKIP() << probe.error().message;
  }
  ASSERT_OK(k().addXfrmState(big));
  auto list = k().listXfrmStates();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().replayWindow, 2048u);
  ASSERT_OK(k().delXfrmState(big));
}

INSTANTIATE_TEST_SUITE_P(Kernels, SysctlXfrmTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
