// Addresses, routes, FDB and neighbour scenarios, run against both kernels.
#include <algorithm>

#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace weft::testvalues;

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using NetTest = KernelTest;

TEST_P(NetTest, AddressesAreAddedListedAndDeleted) {
  Netns a = makeNs("ad");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().addAddress(a, "br0", "10.1.0.1/24"));
  ASSERT_OK(k().addAddress(a, "br0", "10.2.0.1/16"));
  ASSERT_OK(k().addAddress(a, "br0", "2001:db8:0:0::1/64"));
  auto addrs = k().listAddresses(a, "br0");
  ASSERT_OK(addrs);
  EXPECT_EQ(sorted(*addrs), (std::vector<std::string>{"10.1.0.1/24", "10.2.0.1/16", "2001:db8::1/64"}));
  EXPECT_ERRNO(k().addAddress(a, "br0", "10.1.0.1/24"), EEXIST);
  EXPECT_ERRNO(k().addAddress(a, "br0", "2001:db8::1/64"), EEXIST);
  ASSERT_OK(k().delAddress(a, "br0", "10.2.0.1/16"));
  EXPECT_ERRNO(k().delAddress(a, "br0", "10.2.0.1/16"), ENOENT);
  EXPECT_ERRNO(k().delAddress(a, "br0", "10.1.0.1/25"), ENOENT);
  ASSERT_OK(k().delAddress(a, "br0", "2001:db8::1/64"));
  addrs = k().listAddresses(a, "br0");
  ASSERT_OK(addrs);
  EXPECT_EQ(*addrs, (std::vector<std::string>{"10.1.0.1/24"}));
}

TEST_P(NetTest, AddressArgumentsAreChecked) {
  Netns a = makeNs("ae");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  EXPECT_ERRNO(k().addAddress(a, "br0", "10.1.0.1/33"), EINVAL);
  EXPECT_ERRNO(k().addAddress(a, "br0", "10.1.0/24"), EINVAL);
  EXPECT_ERRNO(k().addAddress(a, "br0", "bogus"), EINVAL);
  EXPECT_ERRNO(k().addAddress(a, "ghost", "10.1.0.1/24"), ENOENT);
  EXPECT_ERRNO(k().listAddresses(a, "ghost"), ENOENT);
  EXPECT_ERRNO(k().addAddress("nope", "br0", "10.1.0.1/24"), ENOENT);
}

TEST_P(NetTest, DeletingAPrimaryIpv4AddressDeletesItsSecondaries) {
  Netns a = makeNs("sec");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().addAddress(a, "br0", "10.1.0.1/24"));
  ASSERT_OK(k().addAddress(a, "br0", "10.1.0.2/24"));
  ASSERT_OK(k().addAddress(a, "br0", "10.9.0.1/24"));
  ASSERT_OK(k().delAddress(a, "br0", "10.1.0.1/24"));
  auto addrs = k().listAddresses(a, "br0");
  ASSERT_OK(addrs);
  EXPECT_EQ(*addrs, (std::vector<std::string>{"10.9.0.1/24"}));
}

TEST_P(NetTest, LinkDownDropsIpv6AddressesNeighboursAndRoutes) {
  Netns a = makeNs("dn");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().setLinkUp(a, "br0", true));
  ASSERT_OK(k().addAddress(a, "br0", "10.1.0.1/24"));
  ASSERT_OK(k().addAddress(a, "br0", "fd00::1/64"));
  ASSERT_OK(k().addNeigh(a, neighEntry("br0", "10.1.0.9", "02:00:00:00:00:09")));
  ASSERT_OK(k().addRoute(a, route("10.7.0.0/16", "10.1.0.254", "")));
  ASSERT_OK(k().setLinkUp(a, "br0", false));
  auto addrs = k().listAddresses(a, "br0");
  ASSERT_OK(addrs);
  EXPECT_EQ(*addrs, (std::vector<std::string>{"10.1.0.1/24"}));
  auto neigh = k().listNeigh(a, "br0");
  ASSERT_OK(neigh);
  EXPECT_TRUE(neigh->empty());
  auto routes = k().listRoutes(a);
  ASSERT_OK(routes);
  EXPECT_TRUE(routes->empty());
}

TEST_P(NetTest, RoutesThroughDevicesAndGateways) {
  Netns a = makeNs("rt");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().addAddress(a, "br0", "10.1.0.1/24"));
  EXPECT_ERRNO(k().addRoute(a, route("10.5.0.0/16", "", "br0")), ENETDOWN);
  EXPECT_ERRNO(k().addRoute(a, route("10.6.0.0/16", "10.1.0.254", "")), ENETUNREACH);
  ASSERT_OK(k().setLinkUp(a, "br0", true));
  ASSERT_OK(k().addRoute(a, route("10.5.0.0/16", "", "br0")));
  ASSERT_OK(k().addRoute(a, route("10.6.0.0/16", "10.1.0.254", "")));
  ASSERT_OK(k().addRoute(a, route("default", "10.1.0.254", "br0")));
  EXPECT_ERRNO(k().addRoute(a, route("10.6.0.0/16", "10.1.0.253", "")), EEXIST);
  EXPECT_ERRNO(k().addRoute(a, route("10.1.0.0/24", "", "br0")), EEXIST);  // connected
  EXPECT_ERRNO(k().addRoute(a, route("10.8.0.0/16", "10.2.0.1", "")), ENETUNREACH);
  auto routes = k().listRoutes(a);
  ASSERT_OK(routes);
  EXPECT_EQ(sorted(*routes), sorted(std::vector<Route>{route("10.5.0.0/16", "", "br0"),
                                                       route("10.6.0.0/16", "10.1.0.254", "br0"),
                                                       route("default", "10.1.0.254", "br0")}));
  ASSERT_OK(k().delRoute(a, route("10.6.0.0/16", "10.1.0.254", "")));
  EXPECT_ERRNO(k().delRoute(a, route("10.6.0.0/16", "10.1.0.254", "")), ENOENT);
  EXPECT_ERRNO(k().delRoute(a, route("10.5.0.0/16", "10.1.0.9", "")), ENOENT);  // other gateway
  ASSERT_OK(k().delRoute(a, route("default", "", "br0")));
  routes = k().listRoutes(a);
  ASSERT_OK(routes);
  EXPECT_EQ(*routes, (std::vector<Route>{route("10.5.0.0/16", "", "br0")}));
}

TEST_P(NetTest, Ipv6RoutesAndRouteArguments) {
  Netns a = makeNs("r6");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().setLinkUp(a, "br0", true));
  ASSERT_OK(k().addAddress(a, "br0", "fd00:1::1/64"));
  ASSERT_OK(k().addRoute(a, route("fd00:2::/64", "", "br0")));
  ASSERT_OK(k().addRoute(a, route("default", "fd00:1::fe", "br0")));
  EXPECT_ERRNO(k().addRoute(a, route("fd00:2::/64", "", "br0")), EEXIST);
  auto routes = k().listRoutes(a);
  ASSERT_OK(routes);
  EXPECT_EQ(sorted(*routes), sorted(std::vector<Route>{route("fd00:2::/64", "", "br0"),
                                                       route("default", "fd00:1::fe", "br0")}));
  EXPECT_ERRNO(k().addRoute(a, route("10.5.0.1/16", "", "br0")), EINVAL);  // host bits
  EXPECT_ERRNO(k().addRoute(a, route("10.5.0.0/16", "", "")), EINVAL);
  EXPECT_ERRNO(k().addRoute(a, route("10.5.0.0/16", "fd00:1::fe", "")), EINVAL);
  EXPECT_ERRNO(k().addRoute(a, route("10.5.0.0/16", "", "ghost")), ENOENT);
  ASSERT_OK(k().delRoute(a, route("fd00:2::/64", "", "br0")));
  ASSERT_OK(k().deleteLink(a, "br0"));
  routes = k().listRoutes(a);
  ASSERT_OK(routes);
  EXPECT_TRUE(routes->empty());
}

TEST_P(NetTest, FdbEntriesOnVxlan) {
  Netns a = makeNs("fdb");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 500}, a));
  FdbEntry uni = fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2");
  ASSERT_OK(k().addFdb(a, uni, FdbAdd::kCreate));
  EXPECT_ERRNO(k().addFdb(a, uni, FdbAdd::kCreate), EEXIST);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx0", "02:42:0A:00:00:02", "198.18.0.3"), FdbAdd::kCreate), EEXIST);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx0", "02:42:0a:00:00:03", "198.18.0.3"), FdbAdd::kAppend), EINVAL);
  // Flood entries: one per remote VTEP for the all-zero MAC.
  const std::string zero = "00:00:00:00:00:00";
  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", zero, "198.18.0.2"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", zero, "198.18.0.3"), FdbAdd::kAppend));
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx0", zero, "198.18.0.3"), FdbAdd::kAppend), EEXIST);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx0", zero, "198.18.0.4"), FdbAdd::kCreate), EEXIST);
  auto fdb = k().listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_EQ(sorted(*fdb), sorted(std::vector<FdbEntry>{uni, fdbEntry("vx0", zero, "198.18.0.2"),
                                                       fdbEntry("vx0", zero, "198.18.0.3")}));
  // Entries survive the device going down and up (they are permanent).
  ASSERT_OK(k().setLinkUp(a, "vx0", true));
  ASSERT_OK(k().setLinkUp(a, "vx0", false));
  ASSERT_OK(k().delFdb(a, fdbEntry("vx0", zero, "198.18.0.2")));
  EXPECT_ERRNO(k().delFdb(a, fdbEntry("vx0", zero, "198.18.0.2")), ENOENT);
  EXPECT_ERRNO(k().delFdb(a, fdbEntry("vx0", "02:00:00:00:00:99", "198.18.0.2")), ENOENT);
  ASSERT_OK(k().delFdb(a, uni));
  fdb = k().listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_EQ(*fdb, (std::vector<FdbEntry>{fdbEntry("vx0", zero, "198.18.0.3")}));
}

TEST_P(NetTest, FdbArgumentsAreChecked) {
  Netns a = makeNs("fde");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 501}, a));
  ASSERT_OK(k().createBridge(a, "br0", 0));
  // Malformed text never becomes an entry: it is refused where it is parsed.
  EXPECT_FALSE(MacAddr::parse("02:00:00:00:00"));
  EXPECT_FALSE(IpAddr::parse("198.18.0"));
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx0", "02:00:00:00:00:01", ""), FdbAdd::kCreate), EINVAL);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("br0", "02:00:00:00:00:01", "198.18.0.2"), FdbAdd::kCreate), EINVAL);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("ghost", "02:00:00:00:00:01", "198.18.0.2"), FdbAdd::kCreate), ENOENT);
  EXPECT_ERRNO(k().listFdb(a, "ghost"), ENOENT);
  auto fdb = k().listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_TRUE(fdb->empty());
}

TEST_P(NetTest, NeighbourEntries) {
  Netns a = makeNs("nb");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 502}, a));
  NeighEntry n4 = neighEntry("vx0", "10.1.0.5", "02:42:0a:01:00:05");
  NeighEntry n6 = neighEntry("vx0", "fd00::5", "02:42:0a:01:00:06");
  ASSERT_OK(k().addNeigh(a, n4));
  ASSERT_OK(k().addNeigh(a, n6));
  EXPECT_ERRNO(k().addNeigh(a, n4), EEXIST);
  EXPECT_ERRNO(k().addNeigh(a, neighEntry("vx0", "10.1.0.5", "02:42:0a:01:00:07")), EEXIST);
  auto neigh = k().listNeigh(a, "vx0");
  ASSERT_OK(neigh);
  EXPECT_EQ(sorted(*neigh), sorted(std::vector<NeighEntry>{n4, n6}));
  ASSERT_OK(k().delNeigh(a, n4));
  EXPECT_ERRNO(k().delNeigh(a, n4), ENOENT);
  EXPECT_FALSE(IpAddr::parse("10.1.0.300"));  // malformed text never becomes an entry
  EXPECT_FALSE(MacAddr::parse("02-42-0a-01-00-05"));
  EXPECT_ERRNO(k().addNeigh(a, neighEntry("vx0/", "10.1.0.6", "02:42:0a:01:00:05")), EINVAL);
  EXPECT_ERRNO(k().addNeigh(a, neighEntry("ghost", "10.1.0.6", "02:42:0a:01:00:05")), ENOENT);
  neigh = k().listNeigh(a, "vx0");
  ASSERT_OK(neigh);
  EXPECT_EQ(*neigh, (std::vector<NeighEntry>{n6}));
}

// replaceFdb: what a remote endpoint that moved to another VTEP needs, in
// one call and without EEXIST.
TEST_P(NetTest, ReplacingAnFdbEntryPointsTheMacElsewhere) {
  Netns a = makeNs("fdbr");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 504}, a));
  ASSERT_OK(k().createBridge(a, "br0", 0));
  const std::string zero = "00:00:00:00:00:00";
  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2"), FdbAdd::kCreate));
  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", zero, "198.18.0.2"), FdbAdd::kAppend));
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:42:0A:00:00:02", "198.18.0.3")));  // moved
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.3")));  // again: fine
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:42:0a:00:00:04", "198.18.0.4")));  // new: created
  auto fdb = k().listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_EQ(sorted(*fdb), sorted(std::vector<FdbEntry>{fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.3"),
                                                       fdbEntry("vx0", "02:42:0a:00:00:04", "198.18.0.4"),
                                                       fdbEntry("vx0", zero, "198.18.0.2")}));
  // The old destination is gone: deleting it is ENOENT and leaves the MAC be.
  EXPECT_ERRNO(k().delFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.2")), ENOENT);
  // Flood and multicast MACs have several destinations: no replacing them.
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx0", zero, "198.18.0.3")), EINVAL);
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx0", "01:00:5e:00:00:01", "198.18.0.3")), EINVAL);
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx0", "02:42:0a:00:00:02", "")), EINVAL);  // no VTEP
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("br0", "02:42:0a:00:00:02", "198.18.0.3")), EINVAL);
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("ghost", "02:42:0a:00:00:02", "198.18.0.3")), ENOENT);
  EXPECT_ERRNO(k().replaceFdb("no-such-ns", fdbEntry("vx0", "02:42:0a:00:00:02", "198.18.0.3")), ENOENT);
  fdb = k().listFdb(a, "vx0");
  ASSERT_OK(fdb);
  EXPECT_EQ(fdb->size(), 3u);
}

TEST_P(NetTest, ReplacingANeighbourEntryGivesTheIpAnotherMac) {
  Netns a = makeNs("neir");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 505}, a));
  NeighEntry n4 = neighEntry("vx0", "10.1.0.5", "02:42:0a:01:00:05");
  ASSERT_OK(k().addNeigh(a, n4));
  NeighEntry moved = neighEntry("vx0", "10.1.0.5", "02:42:0a:01:00:07");
  ASSERT_OK(k().replaceNeigh(a, moved));
  ASSERT_OK(k().replaceNeigh(a, moved));
  NeighEntry n6 = neighEntry("vx0", "fd00::5", "02:42:0a:01:00:06");
  ASSERT_OK(k().replaceNeigh(a, n6));
  auto neigh = k().listNeigh(a, "vx0");
  ASSERT_OK(neigh);
  EXPECT_EQ(sorted(*neigh), sorted(std::vector<NeighEntry>{moved, n6}));
  EXPECT_ERRNO(k().replaceNeigh(a, neighEntry("", "10.1.0.6", "02:42:0a:01:00:05")), EINVAL);
  EXPECT_ERRNO(k().replaceNeigh(a, neighEntry("ghost", "10.1.0.6", "02:42:0a:01:00:05")), ENOENT);
  EXPECT_EQ(k().listNeigh(a, "vx0")->size(), 2u);
}

// The real shim remembers link indexes: a link deleted, retired or
// re-created under the same name must not leave entries pointed at the old
// one.
TEST_P(NetTest, EntriesGoToTheLinkThatHoldsTheNameNow) {
  Netns a = makeNs("renew");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 506}, a));
  ASSERT_OK(k().replaceNeigh(a, neighEntry("vx0", "10.6.0.5", "02:00:00:00:00:05")));
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:00:00:00:00:05", "198.18.0.9")));
  ASSERT_OK(k().deleteLink(a, "vx0"));
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx0", "02:00:00:00:00:05", "198.18.0.9")), ENOENT);
  EXPECT_ERRNO(k().replaceNeigh(a, neighEntry("vx0", "10.6.0.5", "02:00:00:00:00:05")), ENOENT);
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 506}, a));
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:00:00:00:00:06", "198.18.0.9")));
  ASSERT_OK(k().replaceNeigh(a, neighEntry("vx0", "10.6.0.6", "02:00:00:00:00:06")));
  EXPECT_EQ(*k().listFdb(a, "vx0"),
            (std::vector<FdbEntry>{fdbEntry("vx0", "02:00:00:00:00:06", "198.18.0.9")}));
  EXPECT_EQ(*k().listNeigh(a, "vx0"),
            (std::vector<NeighEntry>{neighEntry("vx0", "10.6.0.6", "02:00:00:00:00:06")}));
  // Retired (renamed away): the name is free for a new link.
  ASSERT_OK(k().retireLink(a, "vx0", "old0", 7));
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx0", "02:00:00:00:00:07", "198.18.0.9")), ENOENT);
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 507}, a));
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx0", "02:00:00:00:00:07", "198.18.0.9")));
  EXPECT_EQ(*k().listFdb(a, "vx0"),
            (std::vector<FdbEntry>{fdbEntry("vx0", "02:00:00:00:00:07", "198.18.0.9")}));
  ASSERT_OK(k().deleteLinkGroup(a, 7));
}

TEST_P(NetTest, DeletedLinkTakesItsEntriesAlong) {
  Netns a = makeNs("gone");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 503}, a));
  ASSERT_OK(k().addAddress(a, "vx0", "10.3.0.1/24"));
  ASSERT_OK(k().addNeigh(a, neighEntry("vx0", "10.3.0.5", "02:00:00:00:00:05")));
  ASSERT_OK(k().addFdb(a, fdbEntry("vx0", "02:00:00:00:00:05", "198.18.0.9"), FdbAdd::kCreate));
  ASSERT_OK(k().deleteLink(a, "vx0"));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx0", .vni = 503}, a));
  auto addrs = k().listAddresses(a, "vx0");
  auto neigh = k().listNeigh(a, "vx0");
  auto fdb = k().listFdb(a, "vx0");
  ASSERT_OK(addrs);
  ASSERT_OK(neigh);
  ASSERT_OK(fdb);
  EXPECT_TRUE(addrs->empty());
  EXPECT_TRUE(neigh->empty());
  EXPECT_TRUE(fdb->empty());
}

TEST_P(NetTest, UnderlayMtuFollowsTheInterface) {
  std::string local = makeUnderlay(9000);
  auto mtu = k().underlayMtu(local);
  ASSERT_OK(mtu);
  EXPECT_EQ(*mtu, 9000u);
  mtu = k().underlayMtu("");
  ASSERT_OK(mtu);
  EXPECT_EQ(*mtu, 9000u);
  EXPECT_ERRNO(k().underlayMtu("198.18.0.300"), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Kernels, NetTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
