// The value types every layer shares (common/): IpAddr, Prefix, MacAddr,
// HostPort. Text is parsed here once; everything inside works on values.
#include <gtest/gtest.h>

#include "common/host_port.h"
#include "common/ip.h"
#include "common/mac.h"

namespace weft {
namespace {

TEST(IpAddr, ParsesAndFormatsBothFamilies) {
  auto a = IpAddr::parse("10.1.2.3");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->isV6());
  EXPECT_EQ(a->str(), "10.1.2.3");
  auto b = IpAddr::parse("fd00::1");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->isV6());
  EXPECT_EQ(b->str(), "fd00::1");
  EXPECT_FALSE(IpAddr::parse("10.1.2"));
  EXPECT_FALSE(IpAddr::parse(""));
  EXPECT_FALSE(IpAddr::parse("fd00:::1"));
}

TEST(Prefix, ParsesContainsAndOverlaps) {
  auto p = Prefix::parse("10.0.1.7/24");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->network().str(), "10.0.1.0/24");
  EXPECT_EQ(p->last().str(), "10.0.1.255");
  EXPECT_TRUE(p->contains(*IpAddr::parse("10.0.1.200")));
  EXPECT_FALSE(p->contains(*IpAddr::parse("10.0.2.1")));
  EXPECT_TRUE(p->overlaps(*Prefix::parse("10.0.0.0/16")));
  EXPECT_FALSE(p->overlaps(*Prefix::parse("10.0.2.0/24")));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/33"));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/"));
  EXPECT_FALSE(Prefix::parse("10.0.0.0"));
  EXPECT_FALSE(Prefix::parse("10.0.0.0/2a"));
  EXPECT_EQ(Prefix::parse("fd00::/64")->size(), u128(1) << 64);
}

TEST(IpAddr, RefusesWhatIsNotAnAddress) {
  for (const char* bad : {" 10.1.2.3", "10.1.2.3 ", "10.1.2.256", "[fd00::1]", "fe80::1%eth0", "10.1.2.3/32",
                          "fd00::1:7946x", "host.example"})
    EXPECT_FALSE(IpAddr::parse(bad)) << bad;
  EXPECT_FALSE(IpAddr::parse(std::string(46, '1')));
  // IPv6 with an embedded IPv4 is IPv6, whatever its dots say.
  auto m = IpAddr::parse("::ffff:198.18.0.1");
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->isV6());
}

TEST(IpAddr, IntegerFormIsTheBytesInNetworkOrder) {
  auto a = *IpAddr::parse("10.1.2.3");
  EXPECT_EQ(a.toU128(), u128(0x0a010203));
  EXPECT_EQ(IpAddr::fromU128(AF_INET, a.toU128() + 1).str(), "10.1.2.4");
  auto b = *IpAddr::parse("fd00::1:2");
  EXPECT_EQ(IpAddr::fromU128(AF_INET6, b.toU128() + 0xfffe).str(), "fd00::2:0");
  EXPECT_EQ(IpAddr::fromBytes(AF_INET6, b.bytes.data()), b);
  EXPECT_TRUE(IpAddr::any(AF_INET6).isZero());
  EXPECT_EQ(IpAddr::any(AF_INET6).str(), "::");
  EXPECT_EQ(IpAddr().str(), "0.0.0.0");
  // Ordering is numeric within a family; IPv4 sorts before IPv6.
  EXPECT_LT(*IpAddr::parse("10.1.2.3"), *IpAddr::parse("10.1.2.10"));
  EXPECT_LT(*IpAddr::parse("255.255.255.255"), *IpAddr::parse("::"));
  EXPECT_TRUE(IpAddr::parse("fe80::1")->isLinkLocal6());
  EXPECT_TRUE(IpAddr::parse("febf::1")->isLinkLocal6());
  EXPECT_FALSE(IpAddr::parse("fec0::1")->isLinkLocal6());
  EXPECT_FALSE(IpAddr::parse("169.254.0.1")->isLinkLocal6());
}

TEST(Prefix, Ipv6RangesAndHostPrefixes) {
  auto p = *Prefix::parse("fd00:1::7/64");
  EXPECT_EQ(p.network().str(), "fd00:1::/64");
  EXPECT_FALSE(p.hostBitsZero());
  EXPECT_TRUE(p.network().hostBitsZero());
  EXPECT_EQ(p.first().str(), "fd00:1::");
  EXPECT_EQ(p.last().str(), "fd00:1::ffff:ffff:ffff:ffff");
  EXPECT_TRUE(p.contains(*IpAddr::parse("fd00:1::ffff")));
  EXPECT_FALSE(p.contains(*IpAddr::parse("fd00:2::1")));
  EXPECT_FALSE(p.contains(*IpAddr::parse("10.0.0.1")));  // other family
  EXPECT_FALSE(p.overlaps(*Prefix::parse("10.0.0.0/8")));
  EXPECT_EQ(Prefix::parse("::/0")->size(), ~u128(0));  // saturates
  EXPECT_EQ(Prefix::parse("10.0.0.0/0")->last().str(), "255.255.255.255");
  EXPECT_EQ(Prefix::parse("10.0.0.1/32")->size(), u128(1));
  EXPECT_FALSE(Prefix::parse("fd00::/129"));
  EXPECT_FALSE(Prefix::parse("fd00::/0064"));
  auto h = Prefix::parseHostOrPrefix("fd00::5");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->str(), "fd00::5/128");
  EXPECT_EQ(Prefix::parseHostOrPrefix("10.0.0.5")->str(), "10.0.0.5/32");
  EXPECT_EQ(Prefix::parseHostOrPrefix("10.0.0.0/8")->str(), "10.0.0.0/8");
  EXPECT_FALSE(Prefix::parseHostOrPrefix("10.0.0/8"));
}

TEST(MacAddr, ParsesEitherCaseAndPrintsLowerCase) {
  auto m = MacAddr::parse("02:42:0A:00:00:FF");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->str(), "02:42:0a:00:00:ff");
  EXPECT_FALSE(m->isZero());
  EXPECT_FALSE(m->isMulticast());
  EXPECT_TRUE(MacAddr::parse("00:00:00:00:00:00")->isZero());
  EXPECT_TRUE(MacAddr::parse("01:00:5e:00:00:01")->isMulticast());
  for (const char* bad : {"02:42:0a:00:00", "02-42-0a-00-00-ff", "02:42:0a:00:00:fg",
                          "02:42:0a:00:00:ff:", "2:42:0a:00:00:ff", ""})
    EXPECT_FALSE(MacAddr::parse(bad)) << bad;
}

TEST(HostPort, BracketsIpv6AndNeverGuessesAtTheLastColon) {
  auto a = HostPort::parse("198.18.0.1:7946");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->addr.str(), "198.18.0.1");
  EXPECT_EQ(a->port, 7946);
  auto b = HostPort::parse("[FD00:0::1]:7946");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->str(), "[fd00::1]:7946");  // canonical spelling
  for (const char* bad : {"fd00::1:7946", "[198.18.0.1]:7946", "198.18.0.1", "198.18.0.1:0",
                          "198.18.0.1:65536", "198.18.0.1:123456", "198.18.0.1:-1",
                          "198.18.0.1:", "[fd00::1]", "[fd00::1]7946", "host:7946", ":7946", ""})
    EXPECT_FALSE(HostPort::parse(bad)) << bad;
  EXPECT_EQ(HostPort::parse("198.18.0.1:65535")->port, 65535);
}

TEST(HostPort, ABareAddressTakesTheDefaultPort) {
  EXPECT_EQ(HostPort::parseOrDefaultPort("198.18.0.1", 7946)->str(), "198.18.0.1:7946");
  EXPECT_EQ(HostPort::parseOrDefaultPort("fd00::1", 7946)->str(), "[fd00::1]:7946");
  EXPECT_EQ(HostPort::parseOrDefaultPort("[fd00::1]", 7946)->str(), "[fd00::1]:7946");
  EXPECT_EQ(HostPort::parseOrDefaultPort("198.18.0.1:80", 7946)->str(), "198.18.0.1:80");
  EXPECT_EQ(HostPort::parseOrDefaultPort("[fd00::1]:80", 7946)->str(), "[fd00::1]:80");
  EXPECT_EQ(HostPort::parseOrDefaultPort("::ffff:198.18.0.1", 7946)->str(), "[::ffff:198.18.0.1]:7946");
  EXPECT_FALSE(HostPort::parseOrDefaultPort("[198.18.0.1]", 7946));
  EXPECT_FALSE(HostPort::parseOrDefaultPort("host", 7946));
}

TEST(HostPort, RoundTripsThroughSockaddr) {
  for (const char* s : {"198.18.0.1:7946", "[fd00::1]:7947"}) {
    auto hp = *HostPort::parse(s);
    socklen_t len = 0;
    sockaddr_storage ss = hp.toSockaddr(&len);
    EXPECT_EQ(len, hp.addr.isV6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    auto back = HostPort::fromSockaddr(reinterpret_cast<const sockaddr*>(&ss));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, hp);
    EXPECT_EQ(back->str(), s);
  }
  sockaddr_storage unix{};
  unix.ss_family = AF_UNIX;
  EXPECT_FALSE(HostPort::fromSockaddr(reinterpret_cast<const sockaddr*>(&unix)));
}

}  // namespace
}  // namespace weft
