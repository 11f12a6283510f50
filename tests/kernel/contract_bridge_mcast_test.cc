// A bridge's multicast snooping, its ports' multicast-router mode and its
// MDB (kernel/bridge_mcast.h), against both implementations: what multicast
// pruning reads. On the real kernel a listener is a socket in a second
// namespace joining the group on its end of a veth (the kernel sends the
// IGMP/MLD report, the bridge snoops it); on the fake, a report() call.
// Also the VTEP FDB entries pruning writes: a group's multicast MAC with
// several destinations, and one with 0.0.0.0 (no remote listener).

#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "kernel/bridge_mcast.h"
#include "kernel/netns_util.h"
#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace std::chrono_literals;

class BridgeMcastTest : public KernelTest {
 protected:
  void SetUp() override {
    KernelTest::SetUp();
    if (IsSkipped()) return;
    if (real()) {
      bm_ = makeNetlinkBridgeMulticast(k());
    } else {
      fake_ = new FakeBridgeMulticast(k());
      bm_.reset(fake_);
    }
  }
  void TearDown() override {
    listeners_.clear();  // closing the sockets before their namespaces go
    bm_.reset();
    KernelTest::TearDown();
  }
  BridgeMulticast& bm() { return *bm_; }

  // A sandbox `s` with br0 and ports v1, v2 to containers c1, c2 (eth0 up,
  // 10.61.0.1x/24; IPv6 without DAD, so MLD reports go at once).
  struct Bed {
    Netns s, c1, c2;
  };
  Bed makeBed(const std::string& tag) {
    Bed b{makeNs(tag), makeNs(tag + "c1"), makeNs(tag + "c2")};
    EXPECT_OK(k().createBridge(b.s, "br0", 0));
    EXPECT_OK(k().setLinkUp(b.s, "br0", true));
    int i = 1;
    for (const Netns& c : {b.c1, b.c2}) {
      const std::string v = "v" + std::to_string(i);
      EXPECT_OK(k().setSysctl(c, "net/ipv6/conf/default/accept_dad", "0"));
      EXPECT_OK(k().createVeth(b.s, v, c, "eth0", 1500));
      EXPECT_OK(k().setMaster(b.s, v, "br0"));
      EXPECT_OK(k().setLinkUp(b.s, v, true));
      EXPECT_OK(k().addAddress(c, "eth0", "10.61.0.1" + std::to_string(i) + "/24"));
      EXPECT_OK(k().setLinkUp(c, "eth0", true));
      ++i;
    }
    // Real kernel: a veth's carrier and the bridge port's forwarding state
    // come up asynchronously, and a report sent before is lost (the kernel
    // repeats it once, within 1 s): let them settle first.
    if (real()) std::this_thread::sleep_for(500ms);
    return b;
  }

  // A listener for `group` in container namespace `c` behind sandbox port
  // `port` of `s`; it leaves when dropped (leave()).
  void join(const Netns& s, const std::string& port, const Netns& c, const std::string& group) {
    auto g = IpAddr::parse(group);
    ASSERT_TRUE(g);
    if (!real()) {
      ASSERT_OK(fake_->report(s, port, *g, true));
      return;
    }
    auto nsfd = openNetnsFile(k().netnsPath(c));
    ASSERT_OK(nsfd);
    Fd sock;
    ASSERT_OK(runInNetns(nsfd->get(), [&]() -> Status {
      const unsigned index = if_nametoindex("eth0");
      sock = Fd(::socket(g->family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!sock || !index) return Error::fromErrno(errno, "listener socket");
      int rc;
      if (g->isV6()) {
        ipv6_mreq m{};
        std::memcpy(&m.ipv6mr_multiaddr, g->bytes.data(), 16);
        m.ipv6mr_interface = index;
        rc = ::setsockopt(sock.get(), IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m);
      } else {
        ip_mreqn m{};
        std::memcpy(&m.imr_multiaddr, g->bytes.data(), 4);
        m.imr_ifindex = static_cast<int>(index);
        rc = ::setsockopt(sock.get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m);
      }
      return rc == 0 ? Status{} : Error::fromErrno(errno, "join " + group);
    }));
    listeners_[{s, port, group}] = std::move(sock);
  }
  void leave(const Netns& s, const std::string& port, const std::string& group) {
    if (!real()) {
      ASSERT_OK(fake_->report(s, port, *IpAddr::parse(group), false));
      return;
    }
    listeners_.erase({s, port, group});  // closing the socket leaves the group
  }

  // The MDB's entries of routable groups (not 224.0.0.0/24, ff02::/16: the
  // kernel's own link-local joins, such as IPv6 solicited-node groups).
  std::set<std::pair<std::string, std::string>> groups(const Netns& s) {
    std::set<std::pair<std::string, std::string>> out;
    auto mdb = bm().listMdb(s, "br0");
    EXPECT_OK(mdb);
    if (!mdb.ok()) return out;
    for (const auto& e : *mdb) {
      const auto& b = e.group.bytes;
      if (e.group.isV6() ? (b[0] == 0xff && (b[1] & 0x0f) == 0x02) : (b[0] == 224 && b[1] == 0 && b[2] == 0))
        continue;
      out.emplace(e.port, e.group.str());
    }
    return out;
  }
  // Polls (reports travel asynchronously on the real kernel) for up to 3 s.
  bool groupsBecome(const Netns& s, const std::set<std::pair<std::string, std::string>>& want) {
    for (auto end = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(20ms))
      if (groups(s) == want) return true;
    return groups(s) == want;
  }

  BridgeMulticastPtr bm_;
  FakeBridgeMulticast* fake_ = nullptr;
  std::map<std::tuple<Netns, std::string, std::string>, Fd> listeners_;
};

TEST_P(BridgeMcastTest, SnoopingSettingsStartAtTheKernelDefaultsAndRoundTrip) {
  Netns a = makeNs("bms");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  auto c = bm().getBridgeMcast(a, "br0");
  ASSERT_OK(c);
  EXPECT_EQ(*c, BridgeMcast{});
  const BridgeMcast want{.snooping = true,
                         .querier = true,
                         .queryIntervalMs = 10000,
                         .membershipIntervalMs = 30000,
                         .queryResponseIntervalMs = 5000,
                         .startupQueryIntervalMs = 2500,
                         .lastMemberIntervalMs = 200,
                         .igmpVersion = 3,
                         .mldVersion = 2};
  ASSERT_OK(bm().setBridgeMcast(a, "br0", want));
  c = bm().getBridgeMcast(a, "br0");
  ASSERT_OK(c);
  EXPECT_EQ(*c, want);

  // Refused, naming why, and nothing changes.
  BridgeMcast bad = want;
  bad.queryIntervalMs = kMinMcastQueryIntervalMs - 10;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad.queryIntervalMs = 10005;  // not whole centiseconds
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.membershipIntervalMs = want.queryIntervalMs;  // would expire between queries
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad.membershipIntervalMs = want.queryIntervalMs + want.queryResponseIntervalMs;  // ... or answers
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.queryResponseIntervalMs = want.queryIntervalMs;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.startupQueryIntervalMs = kMinMcastQueryIntervalMs - 10;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.lastMemberIntervalMs = kMinMcastLastMemberIntervalMs - 10;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad.lastMemberIntervalMs = kMaxMcastIntervalMs + 10;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.igmpVersion = 4;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  bad = want;
  bad.mldVersion = 3;
  EXPECT_ERRNO(bm().setBridgeMcast(a, "br0", bad), EINVAL);
  EXPECT_EQ(*bm().getBridgeMcast(a, "br0"), want);

  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxb", .vni = 4081}, a));
  EXPECT_ERRNO(bm().setBridgeMcast(a, "vxb", want), EINVAL);  // not a bridge
  EXPECT_ERRNO(bm().getBridgeMcast(a, "vxb"), EINVAL);
  EXPECT_ERRNO(bm().listMdb(a, "vxb"), EINVAL);
  EXPECT_ERRNO(bm().setBridgeMcast(a, "nobr", want), ENOENT);
  EXPECT_ERRNO(bm().getBridgeMcast("no-such-ns", "br0"), ENOENT);
}

TEST_P(BridgeMcastTest, APortsMulticastRouterModeRoundTripsOnlyOnABridgePort) {
  Netns a = makeNs("bmp");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxp", .vni = 4082}, a));
  EXPECT_ERRNO(bm().setPortMcastRouter(a, "vxp", McastRouter::kPermanent), EINVAL);  // on no bridge yet
  ASSERT_OK(k().setMaster(a, "vxp", "br0"));
  auto m = bm().getPortMcastRouter(a, "vxp");
  ASSERT_OK(m);
  EXPECT_EQ(*m, McastRouter::kLearn);
  for (McastRouter mode : {McastRouter::kPermanent, McastRouter::kDisabled, McastRouter::kLearn}) {
    ASSERT_OK(bm().setPortMcastRouter(a, "vxp", mode));
    EXPECT_EQ(*bm().getPortMcastRouter(a, "vxp"), mode);
  }
  EXPECT_ERRNO(bm().setPortMcastRouter(a, "vxp", static_cast<McastRouter>(3)), EINVAL);
  EXPECT_ERRNO(bm().setPortMcastRouter(a, "nope", McastRouter::kPermanent), ENOENT);
  EXPECT_ERRNO(bm().getPortMcastRouter(a, "br0"), EINVAL);  // the bridge is no port
}

// Isolation keeps the encrypted backends' two ports of one bridge (the
// kernel backend's VTEP, the userspace backend's TAP) from forwarding to
// each other (driver/kernel_plane.h).
TEST_P(BridgeMcastTest, APortsIsolationRoundTripsOnlyOnABridgePort) {
  Netns a = makeNs("bmi");
  ASSERT_OK(k().createBridge(a, "br0", 0));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxi", .vni = 4083}, a));
  EXPECT_ERRNO(bm().setPortIsolated(a, "vxi", true), EINVAL);  // on no bridge yet
  ASSERT_OK(k().setMaster(a, "vxi", "br0"));
  auto i = bm().getPortIsolated(a, "vxi");
  ASSERT_OK(i);
  EXPECT_FALSE(*i);  // the kernel's default
  ASSERT_OK(bm().setPortIsolated(a, "vxi", true));
  EXPECT_TRUE(*bm().getPortIsolated(a, "vxi"));
  ASSERT_OK(bm().setPortIsolated(a, "vxi", false));
  EXPECT_FALSE(*bm().getPortIsolated(a, "vxi"));
  EXPECT_ERRNO(bm().setPortIsolated(a, "nope", true), ENOENT);
  EXPECT_ERRNO(bm().getPortIsolated(a, "br0"), EINVAL);  // the bridge is no port
}

// Without the bridge's querier (the kernel's default): the listeners'
// unsolicited reports alone fill the MDB (with an IGMPv2 querier, IPv4
// joins were often missing: see kernel/bridge_mcast.h).
TEST_P(BridgeMcastTest, ListenersAppearInTheMdbByPortAndGoWhenTheyLeaveOrTheirPortGoes) {
  Bed b = makeBed("bml");
  ASSERT_OK(bm().setBridgeMcast(b.s, "br0",
                                BridgeMcast{.querier = false,
                                            .queryIntervalMs = 10000,
                                            .membershipIntervalMs = 30000,
                                            .queryResponseIntervalMs = 5000,
                                            .lastMemberIntervalMs = 200}));
  EXPECT_TRUE(groupsBecome(b.s, {}));
  join(b.s, "v1", b.c1, "239.1.2.3");
  join(b.s, "v2", b.c2, "239.1.2.4");
  join(b.s, "v2", b.c2, "ff0e::1:3");
  EXPECT_TRUE(groupsBecome(b.s, {{"v1", "239.1.2.3"}, {"v2", "239.1.2.4"}, {"v2", "ff0e::1:3"}}))
      << ::testing::PrintToString(groups(b.s));
  // A leave: gone after the last-member interval (2 x 200 ms).
  const auto left = std::chrono::steady_clock::now();
  leave(b.s, "v1", "239.1.2.3");
  EXPECT_TRUE(groupsBecome(b.s, {{"v2", "239.1.2.4"}, {"v2", "ff0e::1:3"}}))
      << ::testing::PrintToString(groups(b.s));
  if (real())
    std::printf("leave seen in the MDB after %lld ms\n",
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                           std::chrono::steady_clock::now() - left)
                                           .count()));
  // A port that goes takes its entries with it at once.
  ASSERT_OK(k().deleteLink(b.s, "v2"));
  EXPECT_EQ(groups(b.s), (std::set<std::pair<std::string, std::string>>{}));
}

// What multicast pruning runs: the bridge's own querier, speaking IGMPv3 and
// MLDv2 (so listeners stay in v3/v2 mode, without report suppression). A
// join is in the MDB at once, and the querier's queries keep it there past
// the membership interval (nothing else refreshes an entry).
TEST_P(BridgeMcastTest, ListenersAreRefreshedByAnIgmpV3Querier) {
  Bed b = makeBed("bmq");
  const BridgeMcast c{.querier = true,
                      .queryIntervalMs = 1000,
                      .membershipIntervalMs = 2500,
                      .queryResponseIntervalMs = 500,
                      .startupQueryIntervalMs = 1000,
                      .lastMemberIntervalMs = 200,
                      .igmpVersion = 3,
                      .mldVersion = 2};
  ASSERT_OK(bm().setBridgeMcast(b.s, "br0", c));
  join(b.s, "v1", b.c1, "239.1.2.5");
  join(b.s, "v2", b.c2, "ff0e::1:5");
  const std::set<std::pair<std::string, std::string>> want{{"v1", "239.1.2.5"}, {"v2", "ff0e::1:5"}};
  EXPECT_TRUE(groupsBecome(b.s, want)) << ::testing::PrintToString(groups(b.s));
  // Twice the membership interval: without a refresh both would be gone.
  if (real()) std::this_thread::sleep_for(2 * std::chrono::milliseconds(c.membershipIntervalMs));
  EXPECT_EQ(groups(b.s), want);
  leave(b.s, "v1", "239.1.2.5");
  EXPECT_TRUE(groupsBecome(b.s, {{"v2", "ff0e::1:5"}})) << ::testing::PrintToString(groups(b.s));
}

TEST_P(BridgeMcastTest, WithSnoopingOffTheMdbStaysEmpty) {
  Bed b = makeBed("bmo");
  ASSERT_OK(bm().setBridgeMcast(b.s, "br0", BridgeMcast{.snooping = false}));
  join(b.s, "v1", b.c1, "239.1.2.4");
  std::this_thread::sleep_for(real() ? 300ms : 0ms);
  EXPECT_EQ(groups(b.s), (std::set<std::pair<std::string, std::string>>{}));
  EXPECT_ERRNO(bm().listMdb(b.s, "nobr"), ENOENT);
}

// What pruning writes into a VTEP: a group's MAC with the listening hosts
// (beside the all-zero flood entry it takes precedence over), and a MAC
// whose one destination is 0.0.0.0 -- the kernel's VXLAN drops what goes
// there (tx_dropped): a group with no remote listener.
TEST_P(BridgeMcastTest, AVtepTakesAGroupMacWithSeveralDestinationsOrTheAnyAddress) {
  Netns a = makeNs("bmf");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxf", .vni = 4083, .local = "198.18.0.1"}, a));
  using testvalues::fdbEntry;
  ASSERT_OK(k().addFdb(a, fdbEntry("vxf", "00:00:00:00:00:00", "198.18.0.2"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vxf", "00:00:00:00:00:00", "198.18.0.3"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vxf", "01:00:5e:01:02:03", "198.18.0.2"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vxf", "01:00:5e:01:02:03", "198.18.0.4"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vxf", "33:33:00:01:00:03", "0.0.0.0"), FdbAdd::kAppend));
  auto fdb = k().listFdb(a, "vxf");
  ASSERT_OK(fdb);
  std::set<std::pair<std::string, std::string>> got;
  for (const auto& e : *fdb) got.emplace(e.mac.str(), e.dst ? e.dst->str() : "-");
  EXPECT_EQ(got, (std::set<std::pair<std::string, std::string>>{{"00:00:00:00:00:00", "198.18.0.2"},
                                                                {"00:00:00:00:00:00", "198.18.0.3"},
                                                                {"01:00:5e:01:02:03", "198.18.0.2"},
                                                                {"01:00:5e:01:02:03", "198.18.0.4"},
                                                                {"33:33:00:01:00:03", "0.0.0.0"}}));
  // One listening host goes: only its destination.
  ASSERT_OK(k().delFdb(a, fdbEntry("vxf", "01:00:5e:01:02:03", "198.18.0.4")));
  fdb = k().listFdb(a, "vxf");
  ASSERT_OK(fdb);
  EXPECT_EQ(std::count_if(fdb->begin(), fdb->end(),
                          [](const FdbEntry& e) { return e.mac.str() == "01:00:5e:01:02:03"; }),
            1);
}

INSTANTIATE_TEST_SUITE_P(Kernels, BridgeMcastTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

}  // namespace
}  // namespace weft::kernel::testing
