// An IPv6 underlay, against both kernels: a VTEP with an IPv6 local address
// reports it, takes IPv6 FDB destinations and refuses IPv4 ones (and an IPv4
// VTEP IPv6 ones) with EAFNOSUPPORT. On the real kernel only: a container's
// neighbour solicitation for a remote endpoint is answered by the VTEP from
// its permanent IPv6 neighbour entry (vxlan "proxy"), so no NS crosses the
// underlay, while the datagram that follows does.

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kernel/netns_util.h"
#include "tests/kernel/kernel_test_env.h"
#include "tests/support/kernel_values.h"

namespace weft::kernel::testing {
namespace {

using namespace weft::testvalues;
using Ipv6UnderlayTest = KernelTest;

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

const std::string kZero = "00:00:00:00:00:00";

TEST_P(Ipv6UnderlayTest, Ipv6VtepReportsItsLocalAddressAndTakesIpv6Destinations) {
  Netns a = makeNs("v6u"), b = makeNs("v6ub");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx6", .vni = 600, .local = "fd18::1"}, a));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx4", .vni = 601, .local = "198.18.0.1"}, a));
  EXPECT_EQ(link(a, "vx6").local, IpAddr::parse("fd18::1"));
  EXPECT_EQ(link(a, "vx4").local, IpAddr::parse("198.18.0.1"));
  // The same VNI may be used once per family (each has its own UDP socket).
  EXPECT_OK(k().createVxlan(VxlanSpec{.name = "vx4b", .vni = 600, .local = "198.18.0.1"}, b));
  EXPECT_ERRNO(k().createVxlan(VxlanSpec{.name = "vx6b", .vni = 600, .local = "fd18::2"}, b), EEXIST);

  FdbEntry uni = fdbEntry("vx6", "02:42:0a:00:00:02", "fd18::2");
  ASSERT_OK(k().addFdb(a, uni, FdbAdd::kCreate));
  ASSERT_OK(k().addFdb(a, fdbEntry("vx6", kZero, "fd18::2"), FdbAdd::kAppend));
  ASSERT_OK(k().addFdb(a, fdbEntry("vx6", kZero, "fd18::3"), FdbAdd::kAppend));
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx6", kZero, "fd18::3"), FdbAdd::kAppend), EEXIST);
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx6", "02:42:0a:00:00:03", "fd18::3")));
  ASSERT_OK(k().replaceFdb(a, fdbEntry("vx6", "02:42:0a:00:00:03", "fd18::4")));  // moved
  auto fdb = k().listFdb(a, "vx6");
  ASSERT_OK(fdb);
  EXPECT_EQ(sorted(*fdb), sorted(std::vector<FdbEntry>{uni, fdbEntry("vx6", kZero, "fd18::2"),
                                                       fdbEntry("vx6", kZero, "fd18::3"),
                                                       fdbEntry("vx6", "02:42:0a:00:00:03", "fd18::4")}));
  ASSERT_OK(k().delFdb(a, fdbEntry("vx6", kZero, "fd18::2")));
  ASSERT_OK(k().delFdb(a, uni));
  EXPECT_ERRNO(k().delFdb(a, uni), ENOENT);
  fdb = k().listFdb(a, "vx6");
  ASSERT_OK(fdb);
  EXPECT_EQ(sorted(*fdb), sorted(std::vector<FdbEntry>{fdbEntry("vx6", kZero, "fd18::3"),
                                                       fdbEntry("vx6", "02:42:0a:00:00:03", "fd18::4")}));
  // IPv6 neighbour entries on an IPv6 VTEP, as for IPv4.
  NeighEntry n6 = neighEntry("vx6", "fd00:70::2", "02:42:0a:00:00:02");
  ASSERT_OK(k().addNeigh(a, n6));
  auto neigh = k().listNeigh(a, "vx6");
  ASSERT_OK(neigh);
  EXPECT_EQ(*neigh, std::vector<NeighEntry>{n6});
}

TEST_P(Ipv6UnderlayTest, FdbDestinationsMustBeOfTheVtepsFamily) {
  Netns a = makeNs("v6f");
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx6", .vni = 610, .local = "fd18::1"}, a));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vx4", .vni = 611, .local = "198.18.0.1"}, a));
  ASSERT_OK(k().createVxlan(VxlanSpec{.name = "vxn", .vni = 612}, a));  // no local: IPv4
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx6", "02:00:00:00:00:01", "198.18.0.2"), FdbAdd::kCreate),
               EAFNOSUPPORT);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx6", kZero, "198.18.0.2"), FdbAdd::kAppend), EAFNOSUPPORT);
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx6", "02:00:00:00:00:01", "198.18.0.2")), EAFNOSUPPORT);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vx4", "02:00:00:00:00:01", "fd18::2"), FdbAdd::kCreate), EAFNOSUPPORT);
  EXPECT_ERRNO(k().replaceFdb(a, fdbEntry("vx4", "02:00:00:00:00:01", "fd18::2")), EAFNOSUPPORT);
  EXPECT_ERRNO(k().addFdb(a, fdbEntry("vxn", kZero, "fd18::2"), FdbAdd::kAppend), EAFNOSUPPORT);
  for (const char* dev : {"vx6", "vx4", "vxn"}) {  // nothing was written
    auto fdb = k().listFdb(a, dev);
    ASSERT_OK(fdb);
    EXPECT_TRUE(fdb->empty()) << dev;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, Ipv6UnderlayTest, ::testing::Values(Impl::kFake, Impl::kNetlink), implName);

// ---------------------------------------------------------------- neighbour discovery, real kernel

// What a captured underlay frame carries inside its VXLAN payload (outer
// Ethernet + IPv6 + UDP + VXLAN: 70 bytes, the MTU rule's overhead).
struct Inner {
  bool vxlan = false;
  uint8_t nextHeader = 0;   // of the inner IPv6 packet
  uint8_t icmpType = 0;     // when it is ICMPv6
  std::string target;       // a neighbour solicitation's target
  uint16_t udpDstPort = 0;  // when it is UDP
  std::string innerDstMac;
};

Inner parseUnderlayFrame(const uint8_t* p, size_t n) {
  Inner in;
  constexpr size_t kOuter = 14 + 40 + 8 + 8, kIp6 = kOuter + 14;
  if (n < kIp6 + 40 + 8 || p[12] != 0x86 || p[13] != 0xdd || p[14 + 6] != IPPROTO_UDP) return in;
  if ((p[14 + 40 + 2] << 8 | p[14 + 40 + 3]) != 4789) return in;
  if (p[kOuter + 12] != 0x86 || p[kOuter + 13] != 0xdd) return in;
  in.vxlan = true;
  MacAddr dst;
  std::copy(p + kOuter, p + kOuter + dst.bytes.size(), dst.bytes.begin());
  in.innerDstMac = dst.str();
  in.nextHeader = p[kIp6 + 6];
  const uint8_t* l4 = p + kIp6 + 40;
  if (in.nextHeader == IPPROTO_ICMPV6) {
    in.icmpType = l4[0];
    if (in.icmpType == 135 && n >= kIp6 + 40 + 24) in.target = IpAddr::fromBytes(AF_INET6, l4 + 8).str();
  } else if (in.nextHeader == IPPROTO_UDP) {
    in.udpDstPort = static_cast<uint16_t>(l4[2] << 8 | l4[3]);
  }
  return in;
}

TEST_P(Ipv6UnderlayTest, NeighbourSolicitationsForRemoteEndpointsAreAnsweredByTheVtep) {
  if (!real()) GTEST_SKIP() << "traffic needs the real kernel";
  // The underlay: a veth in the (throwaway) host namespace with fd18::1; the
  // remote VTEP fd18::9 gets a permanent neighbour entry, so encapsulated
  // frames leave at once without underlay neighbour discovery.
  Netns far = makeNs("v6far");
  ownHostLink("wul6");
  ASSERT_OK(k().createVeth(kHostNetns, "wul6", far, "wul7", 1500));
  ASSERT_OK(k().addAddress(kHostNetns, "wul6", "fd18::1/64"));
  ASSERT_OK(k().setLinkUp(kHostNetns, "wul6", true));
  ASSERT_OK(k().setLinkUp(far, "wul7", true));  // carrier: frames are sent (and captured)
  ASSERT_OK(k().addNeigh(kHostNetns, neighEntry("wul6", "fd18::9", "02:00:00:18:00:09")));
  // The sandbox: br0 with the VTEP (proxy on, as weft creates it) and a
  // veth to a "container" namespace holding fd00:70::1.
  Netns sb = makeNs("v6sb"), ct = makeNs("v6ct");
  ASSERT_OK(k().createBridge(sb, "br0", 0));
  ASSERT_OK(k().createVxlan(
      VxlanSpec{.name = "vx6", .vni = 620, .local = "fd18::1", .learning = false, .proxy = true}, sb));
  ASSERT_OK(k().createVeth(sb, "ve0", ct, "ct0", 1430));
  for (const char* dev : {"vx6", "ve0"}) ASSERT_OK(k().setMaster(sb, dev, "br0"));
  for (const char* dev : {"br0", "vx6", "ve0"}) ASSERT_OK(k().setLinkUp(sb, dev, true));
  ASSERT_OK(k().addAddress(ct, "ct0", "fd00:70::1/64"));
  ASSERT_OK(k().setLinkUp(ct, "ct0", true));
  // The remote endpoint fd00:70::2, as PeerTable programs it.
  const std::string remoteMac = "02:42:0a:46:00:02";
  ASSERT_OK(k().addNeigh(sb, neighEntry("vx6", "fd00:70::2", remoteMac)));
  ASSERT_OK(k().replaceFdb(sb, fdbEntry("vx6", remoteMac, "fd18::9")));
  ASSERT_OK(k().addFdb(sb, fdbEntry("vx6", kZero, "fd18::9"), FdbAdd::kAppend));

  auto ul = k().getLink(kHostNetns, "wul6");
  ASSERT_OK(ul);
  Fd cap(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
  ASSERT_TRUE(cap) << std::strerror(errno);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = ul->ifindex;
  ASSERT_EQ(::bind(cap.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll), 0) << std::strerror(errno);

  // The container sends a datagram to fd00:70::2: it must resolve the
  // address first (NS to its solicited-node group, flooded by br0 to vx6).
  auto ctFd = openNetnsFile(k().netnsPath(ct));
  ASSERT_OK(ctFd);
  ASSERT_OK(runInNetns(ctFd->get(), [&]() -> Status {
    Fd s(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s) return Error::fromErrno(errno, "socket");
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(9);
    inet_pton(AF_INET6, "fd00:70::2", &to.sin6_addr);
    const char msg[] = "weft-nd-test";
    if (::sendto(s.get(), msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
      return Error::fromErrno(errno, "sendto");
    return Status::Ok();
  }));

  // Watch the underlay for 3 s or until the datagram shows up.
  bool datagram = false;
  std::vector<std::string> solicitations;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  uint8_t buf[2048];
  while (std::chrono::steady_clock::now() < until && !datagram) {
    pollfd pfd{cap.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    ssize_t n;
    while ((n = ::recv(cap.get(), buf, sizeof buf, 0)) > 0) {
      Inner in = parseUnderlayFrame(buf, static_cast<size_t>(n));
      if (!in.vxlan) continue;
      if (in.nextHeader == IPPROTO_ICMPV6 && in.icmpType == 135) solicitations.push_back(in.target);
      if (in.nextHeader == IPPROTO_UDP && in.udpDstPort == 9) {
        datagram = true;
        // Only the VTEP's answer told the container this MAC.
        EXPECT_EQ(in.innerDstMac, remoteMac);
      }
    }
  }
  EXPECT_TRUE(datagram) << "the datagram to fd00:70::2 never reached the underlay: the container's "
                           "neighbour solicitation was not answered";
  EXPECT_EQ(std::count(solicitations.begin(), solicitations.end(), "fd00:70::2"), 0)
      << "a neighbour solicitation for fd00:70::2 crossed the underlay";
}

}  // namespace
}  // namespace weft::kernel::testing
