// Echo probes (Kernel::echo) and a VXLAN device's own MAC, run against both
// kernels: what the data-plane prober relies on.
#include "kernel/validate.h"
#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace std::chrono_literals;
using EchoTest = KernelTest;

// A namespace with a VXLAN device (MTU 1400, 10.9.0.1/24, up) whose only
// neighbour 10.9.0.2 sits behind a VTEP no host answers for.
Netns vxlanWithAnUnansweredPeer(KernelTest& t, Kernel& k, const Netns& ns) {
  EXPECT_OK(k.createVxlan(VxlanSpec{.name = "vxe", .vni = 4091, .mtu = 1400}, ns));
  EXPECT_OK(k.addAddress(ns, "vxe", "10.9.0.1/24"));
  EXPECT_OK(k.setLinkUp(ns, "vxe", true));
  EXPECT_OK(k.replaceNeigh(ns, testvalues::neighEntry("vxe", "10.9.0.2", "02:77:0a:09:00:02")));
  EXPECT_OK(k.replaceFdb(ns, testvalues::fdbEntry("vxe", "02:77:0a:09:00:02", "198.18.250.1")));
  return ns;
}

TEST_P(EchoTest, AVxlanDeviceGetsTheMacItWasCreatedWith) {
  Netns a = makeNs("mac");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxm", .vni = 4092, .mac = "02:77:c6:12:00:07"}, a));
  EXPECT_EQ(link(a, "vxm").mac, "02:77:c6:12:00:07");
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vxn", .vni = 4093, .mac = "01:00:5e:00:00:01"}, a), EINVAL);
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vxn", .vni = 4093, .mac = "not-a-mac"}, a), EINVAL);
  EXPECT_EQ(linkNames(a).count("vxn"), 0u);
}

TEST_P(EchoTest, ProbesAreAnsweredLostOrRefusedAtSend) {
  Netns a = vxlanWithAnUnansweredPeer(*this, k(), makeNs("echo"));
  ASSERT_OK(k().setLinkUp(a, "lo", true));
  auto r = k().echo(a,
                    {EchoProbe{"10.9.0.1", 84},    // itself: answered through lo
                     EchoProbe{"10.9.0.2", 1000},  // through the VTEP to nobody: lost
                     EchoProbe{"10.9.0.2", 1401},  // larger than the device's MTU with DF
                     EchoProbe{"10.10.0.1", 84}},  // no route
                    300ms);
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[0].ok);
  EXPECT_EQ((*r)[0].error, 0);
  EXPECT_FALSE((*r)[1].ok);
  EXPECT_EQ((*r)[1].error, 0);
  EXPECT_FALSE((*r)[2].ok);
  EXPECT_EQ((*r)[2].error, EMSGSIZE);
  EXPECT_FALSE((*r)[3].ok);
  EXPECT_EQ((*r)[3].error, ENETUNREACH);
}

// The same over IPv6 (an IPv6 underlay's health namespace), in one call
// with an IPv4 probe: each family goes out of its own socket.
TEST_P(EchoTest, Ipv6ProbesAreAnsweredLostOrRefusedAtSendBesideIpv4Ones) {
  Netns a = vxlanWithAnUnansweredPeer(*this, k(), makeNs("echo6"));
  ASSERT_OK(k().setLinkUp(a, "lo", true));
  ASSERT_OK(k().addAddress(a, "vxe", "fd09::1/64"));
  ASSERT_OK(k().replaceNeigh(a, testvalues::neighEntry("vxe", "fd09::2", "02:77:0a:09:00:02")));
  // Real kernel: even without DAD an IPv6 address's local route comes from
  // a work queue, a moment after the address: wait until it answers.
  for (int i = 0; i < 50; ++i) {
    auto self = k().echo(a, {EchoProbe{"fd09::1", 84}}, 100ms);
    ASSERT_OK(self);
    if ((*self)[0].ok) break;
  }
  auto r = k().echo(a,
                    {EchoProbe{"fd09::1", 84},     // itself: answered through lo
                     EchoProbe{"fd09::2", 1000},   // through the VTEP to nobody: lost
                     EchoProbe{"fd09::2", 1401},   // larger than the device's MTU, never fragmented
                     EchoProbe{"fd0a::1", 84},     // no route
                     EchoProbe{"10.9.0.1", 84},    // IPv4 beside it: answered
                     EchoProbe{"fd09::1", 1400}},  // itself, large (through lo): answered
                    300ms);
  ASSERT_OK(r);
  ASSERT_EQ(r->size(), 6u);
  EXPECT_TRUE((*r)[0].ok);
  EXPECT_EQ((*r)[0].error, 0);
  EXPECT_FALSE((*r)[1].ok);
  EXPECT_EQ((*r)[1].error, 0);
  EXPECT_FALSE((*r)[2].ok);
  EXPECT_EQ((*r)[2].error, EMSGSIZE);
  EXPECT_FALSE((*r)[3].ok);
  EXPECT_EQ((*r)[3].error, ENETUNREACH);
  EXPECT_TRUE((*r)[4].ok);
  EXPECT_TRUE((*r)[5].ok);
}

TEST_P(EchoTest, ArgumentsOutsideTheLimitsAreRefused) {
  Netns a = makeNs("elim");
  EXPECT_ERRNO(k().echo("no-such-ns", {EchoProbe{"10.0.0.1", 84}}, 10ms), ENOENT);
  EXPECT_ERRNO(k().echo(a, {EchoProbe{"10.0.0.1", kMinEchoSize - 1}}, 10ms), EINVAL);
  EXPECT_ERRNO(k().echo(a, {EchoProbe{"10.0.0.1", kMaxEchoSize + 1}}, 10ms), EINVAL);
  EXPECT_ERRNO(k().echo(a, {EchoProbe{"fd00::1", kMinEchoSize6 - 1}}, 10ms), EINVAL);
  EXPECT_ERRNO(k().echo(a, {EchoProbe{"not-an-address", 84}}, 10ms), EINVAL);
  EXPECT_ERRNO(k().echo(a, {EchoProbe{"10.0.0.1", 84}}, kMaxEchoTimeout + 1ms), EINVAL);
  std::vector<EchoProbe> many(kMaxEchoProbes + 1, EchoProbe{"10.0.0.1", 84});
  EXPECT_ERRNO(k().echo(a, many, 10ms), EINVAL);
  auto none = k().echo(a, {}, 10ms);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

INSTANTIATE_TEST_SUITE_P(Kernels, EchoTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
