// The netlink messages weft sends, byte for byte, and the decoders of the
// kernel's replies. Pure (no socket, no root). Every expected array is
// annotated: the 16-byte nlmsghdr (length, type, flags, seq, pid; the socket
// fills in seq and pid when sending), the family header, then attributes as
// {length, type, payload, padding to 4 bytes}. Multi-byte fields are
// little-endian (x86, arm64) except where netlink wants network order.
// (xfrm, addresses and routes: nl_msg_xfrm_test.cc)

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "kernel/nl_msg_fdb.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_neigh.h"
#include "kernel/nl_msg_nsid.h"
#include "kernel/nl_msg_veth.h"
#include "kernel/nl_msg_vxlan.h"
#include "kernel/validate.h"
#include "tests/kernel/nl_msg_test_util.h"

using namespace weft;
using namespace weft::kernel;
using namespace weft::kernel::nltest;

namespace {

std::string hex(const Bytes& b) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < b.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%02x", b[i]);
    s += buf;
    s += (i % 16 == 15) ? "\n" : " ";
  }
  return s;
}

#define EXPECT_BYTES(msg, ...)                                                              \
  do {                                                                                      \
    if constexpr (std::endian::native != std::endian::little) GTEST_SKIP() << "big-endian"; \
    const Bytes want_ = __VA_ARGS__;                                                        \
    const Bytes got_ = bytesOf(msg);                                                        \
    EXPECT_EQ(got_, want_) << "got:\n" << hex(got_) << "\nwant:\n" << hex(want_);           \
  } while (0)

MacAddr mac(const char* s) { return *MacAddr::parse(s); }

VxlanSpec vxlan(uint32_t vni, uint16_t port, const std::string& local, uint32_t mtu) {
  VxlanSpec spec;
  spec.name = "vx0";
  spec.vni = vni;
  spec.port = port;
  spec.local = local;
  spec.mtu = mtu;
  return spec;
}

}  // namespace

// --- FDB (AF_BRIDGE, NTF_SELF) ---

TEST(NlMsgFdb, ReplaceUnicastEntryWithPortAndVni) {
  EXPECT_BYTES(nl::fdbAdd(7, {mac("02:42:0a:00:00:02"), ip("198.18.0.2"), 4790, 42}, nl::FdbWrite::kReplace),
               {
                   0x40,
                   0,
                   0,
                   0,  // nlmsg_len 64
                   0x1c,
                   0,  // RTM_NEWNEIGH (28)
                   0x05,
                   0x05,  // NLM_F_REQUEST|NLM_F_ACK (0x5) | NLM_F_REPLACE (0x100) | NLM_F_CREATE (0x400)
                   0,
                   0,
                   0,
                   0,  // seq
                   0,
                   0,
                   0,
                   0,  // pid
                   // ndmsg
                   7,
                   0,
                   0,
                   0,  // AF_BRIDGE, padding
                   7,
                   0,
                   0,
                   0,  // ifindex 7
                   0xc0,
                   0,     // NUD_PERMANENT (0x80) | NUD_NOARP (0x40)
                   0x02,  // NTF_SELF: the VXLAN device's own table, not br0's
                   0,     // ndm_type
                   // NDA_LLADDR (2): 6 bytes + 2 padding
                   0x0a,
                   0,
                   0x02,
                   0,
                   0x02,
                   0x42,
                   0x0a,
                   0,
                   0,
                   0x02,
                   0,
                   0,
                   // NDA_DST (1): the remote VTEP 198.18.0.2
                   0x08,
                   0,
                   0x01,
                   0,
                   198,
                   18,
                   0,
                   2,
                   // NDA_PORT (6): 4790 = 0x12b6 in network order, + 2 padding
                   0x06,
                   0,
                   0x06,
                   0,
                   0x12,
                   0xb6,
                   0,
                   0,
                   // NDA_VNI (7): 42 in host order
                   0x08,
                   0,
                   0x07,
                   0,
                   42,
                   0,
                   0,
                   0,
               });
}

TEST(NlMsgFdb, FloodEntryIsAppendedToTheAllZeroMac) {
  EXPECT_BYTES(nl::fdbAdd(7, {mac("00:00:00:00:00:00"), ip("198.18.0.3"), {}, {}}, nl::FdbWrite::kAppend),
               {
                   0x30, 0,    0,    0,  // nlmsg_len 48
                   0x1c, 0,              // RTM_NEWNEIGH
                   0x05, 0x0c,           // REQUEST|ACK | NLM_F_CREATE (0x400) | NLM_F_APPEND (0x800)
                   0,    0,    0,    0,  // seq
                   0,    0,    0,    0,  // pid
                   7,    0,    0,    0,  // AF_BRIDGE
                   7,    0,    0,    0,  // ifindex
                   0xc0, 0,    0x02, 0,  // PERMANENT|NOARP, NTF_SELF
                   0x0a, 0,    0x02, 0, 0,   0,  0, 0, 0, 0, 0, 0,  // NDA_LLADDR 00:00:00:00:00:00
                   0x08, 0,    0x01, 0, 198, 18, 0, 3,  // NDA_DST; no port, no VNI: the device's own
               });
}

TEST(NlMsgFdb, CreateIsExclusive) {
  auto m = nl::fdbAdd(7, {mac("02:42:0a:00:00:02"), ip("198.18.0.2"), {}, {}}, nl::FdbWrite::kCreate);
  EXPECT_EQ(m.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  EXPECT_EQ(m.hdr()->nlmsg_flags, 0x0605);
}

TEST(NlMsgFdb, DeleteOneDestinationOrTheWholeMac) {
  EXPECT_BYTES(nl::fdbDelete(7, mac("00:00:00:00:00:00"), ip("198.18.0.3")),
               {
                   0x30, 0, 0,    0,                             // nlmsg_len 48
                   0x1d, 0,                                      // RTM_DELNEIGH (29)
                   0x05, 0,                                      // REQUEST|ACK
                   0,    0, 0,    0, 0,   0,  0, 0,              // seq, pid
                   7,    0, 0,    0, 7,   0,  0, 0,              // AF_BRIDGE, ifindex 7
                   0,    0, 0x02, 0,                             // no state, NTF_SELF
                   0x0a, 0, 0x02, 0, 0,   0,  0, 0, 0, 0, 0, 0,  // NDA_LLADDR
                   0x08, 0, 0x01, 0, 198, 18, 0, 3,              // NDA_DST: only this destination goes
               });
  auto all = nl::fdbDelete(7, mac("02:42:0a:00:00:02"), std::nullopt);
  EXPECT_EQ(all.hdr()->nlmsg_len, 40u);  // no NDA_DST: every destination of the MAC
}

TEST(NlMsgFdb, GetOneMacIsARequestNotADump) {
  EXPECT_BYTES(nl::fdbGet(7, mac("02:42:0a:00:00:02")),
               {
                   0x28, 0, 0,    0,                       // nlmsg_len 40
                   0x1e, 0,                                // RTM_GETNEIGH (30)
                   0x05, 0,                                // REQUEST|ACK: no NLM_F_DUMP
                   0,    0, 0,    0, 0,    0,    0,    0,  // seq, pid
                   7,    0, 0,    0, 7,    0,    0,    0,  // AF_BRIDGE, ifindex 7
                   0,    0, 0x02, 0,                       // state 0, NTF_SELF (strictly checked)
                   0x0a, 0, 0x02, 0, 0x02, 0x42, 0x0a, 0, 0, 0x02, 0, 0,  // NDA_LLADDR
               });
}

TEST(NlMsgFdb, DumpIsFilteredByDeviceThroughAnIfinfomsgHeader) {
  EXPECT_BYTES(nl::fdbDump(7), {
                                   0x20, 0, 0, 0,           // nlmsg_len 32
                                   0x1e, 0,                 // RTM_GETNEIGH (30)
                                   0x01, 0x03,              // NLM_F_REQUEST | NLM_F_DUMP (0x300)
                                   0, 0, 0, 0, 0, 0, 0, 0,  // seq, pid
                                   // ifinfomsg, not ndmsg: rtnl_fdb_dump reads ifi_index as the
                                   // bridge-port filter when the header is not ndmsg-sized
                                   7, 0, 0, 0,  // AF_BRIDGE, padding, ifi_type
                                   7, 0, 0, 0,  // ifi_index 7
                                   0, 0, 0, 0,  // ifi_flags
                                   0, 0, 0, 0,  // ifi_change
                               });
}

// --- neighbours ---

TEST(NlMsgNeigh, ReplaceIpv4Entry) {
  EXPECT_BYTES(nl::neighAdd(5, ip("10.1.0.5"), mac("02:42:0a:01:00:05"), nl::NeighWrite::kReplace),
               {
                   0x30, 0,    0,    0,                                      // nlmsg_len 48
                   0x1c, 0,                                                  // RTM_NEWNEIGH
                   0x05, 0x05,                                               // REQUEST|ACK | REPLACE | CREATE
                   0,    0,    0,    0, 0,    0,    0,    0,                 // seq, pid
                   2,    0,    0,    0,                                      // AF_INET
                   5,    0,    0,    0,                                      // ifindex 5
                   0x80, 0,                                                  // NUD_PERMANENT
                   0,    0,                                                  // no NTF flags, ndm_type
                   0x08, 0,    0x01, 0, 10,   1,    0,    5,                 // NDA_DST 10.1.0.5
                   0x0a, 0,    0x02, 0, 0x02, 0x42, 0x0a, 0x01, 0, 5, 0, 0,  // NDA_LLADDR
               });
}

TEST(NlMsgNeigh, CreateIpv6EntryIsExclusive) {
  EXPECT_BYTES(nl::neighAdd(5, ip("fd00::5"), mac("02:42:0a:01:00:06"), nl::NeighWrite::kCreate),
               {
                   0x3c, 0,    0,    0,                    // nlmsg_len 60
                   0x1c, 0,                                // RTM_NEWNEIGH
                   0x05, 0x06,                             // REQUEST|ACK | EXCL (0x200) | CREATE (0x400)
                   0,    0,    0,    0, 0,    0, 0,    0,  // seq, pid
                   10,   0,    0,    0,                    // AF_INET6
                   5,    0,    0,    0,                    // ifindex
                   0x80, 0,    0,    0,                    // NUD_PERMANENT
                   0x14, 0,    0x01, 0,                    // NDA_DST, 16 bytes
                   0xfd, 0,    0,    0, 0,    0, 0,    0,    0,    0,    0, 0, 0, 0,
                   0,    5,    0x0a, 0, 0x02, 0, 0x02, 0x42, 0x0a, 0x01, 0, 6, 0, 0,  // NDA_LLADDR
               });
}

TEST(NlMsgNeigh, DeleteNamesOnlyTheAddress) {
  EXPECT_BYTES(nl::neighDelete(5, ip("10.1.0.5")), {
                                                       0x24, 0, 0,    0,  // nlmsg_len 36
                                                       0x1d, 0, 0x05, 0,  // RTM_DELNEIGH, REQUEST|ACK
                                                       0,    0, 0,    0, 0,  0, 0, 0,  // seq, pid
                                                       2,    0, 0,    0, 5,  0, 0, 0,  // AF_INET, ifindex 5
                                                       0,    0, 0,    0,               // state, flags, type
                                                       0x08, 0, 0x01, 0, 10, 1, 0, 5,  // NDA_DST
                                                   });
}

TEST(NlMsgNeigh, ParsesAnFdbEntryWithPortAndVni) {
  auto m = nl::fdbAdd(7, {mac("02:42:0a:00:00:02"), ip("198.18.0.2"), 4790, 42}, nl::FdbWrite::kReplace);
  m.hdr()->nlmsg_type = RTM_NEWNEIGH;  // as the kernel reports an entry
  auto r = nl::parseNeigh(m.hdr());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->family, AF_BRIDGE);
  EXPECT_EQ(r->ifindex, 7);
  EXPECT_EQ(r->state, NUD_PERMANENT | NUD_NOARP);
  EXPECT_EQ(r->flags, NTF_SELF);
  EXPECT_EQ(r->mac, mac("02:42:0a:00:00:02"));
  EXPECT_EQ(r->dst, ip("198.18.0.2"));
  EXPECT_EQ(r->port, 4790);  // back in host order
  EXPECT_EQ(r->vni, 42u);
}

TEST(NlMsgNeigh, RefusesOtherMessagesAndShortOnes) {
  auto m = nl::neighDelete(5, ip("10.1.0.5"));
  EXPECT_FALSE(nl::parseNeigh(m.hdr()));  // RTM_DELNEIGH
  m.hdr()->nlmsg_type = RTM_NEWNEIGH;
  ASSERT_TRUE(nl::parseNeigh(m.hdr()));
  EXPECT_EQ(nl::parseNeigh(m.hdr())->dst, ip("10.1.0.5"));
  EXPECT_FALSE(nl::parseNeigh(m.hdr())->mac);
  m.hdr()->nlmsg_len = NLMSG_LENGTH(4);  // shorter than an ndmsg
  EXPECT_FALSE(nl::parseNeigh(m.hdr()));
}

// --- links ---

TEST(NlMsgLink, GetByName) {
  EXPECT_BYTES(nl::linkGet("vx0"),
               {
                   0x28, 0, 0,    0,                    // nlmsg_len 40
                   0x12, 0, 0x05, 0,                    // RTM_GETLINK (18), REQUEST|ACK
                   0,    0, 0,    0, 0,   0,   0,   0,  // seq, pid
                   0,    0, 0,    0, 0,   0,   0,   0,  // ifinfomsg: AF_UNSPEC, index 0 (by name)
                   0,    0, 0,    0, 0,   0,   0,   0,  // flags, change
                   0x08, 0, 0x03, 0, 'v', 'x', '0', 0,  // IFLA_IFNAME (3), NUL-terminated
               });
}

TEST(NlMsgLink, SetUpChangesOnlyIffUp) {
  EXPECT_BYTES(nl::linkSetUp("br0", true),
               {
                   0x28, 0, 0,    0, 0x10, 0,   0x05, 0,  // 40 bytes, RTM_NEWLINK (16), REQUEST|ACK
                   0,    0, 0,    0, 0,    0,   0,    0,  // seq, pid
                   0,    0, 0,    0, 0,    0,   0,    0,  // AF_UNSPEC, index 0
                   1,    0, 0,    0,                      // ifi_flags IFF_UP
                   1,    0, 0,    0,                      // ifi_change IFF_UP: nothing else changes
                   0x08, 0, 0x03, 0, 'b',  'r', '0',  0,  // IFLA_IFNAME
               });
}

TEST(NlMsgLink, SetMasterByIndex) {
  EXPECT_BYTES(nl::linkSetMaster(4, 2),
               {
                   0x28, 0, 0,    0, 0x10, 0, 0x05, 0,  // RTM_NEWLINK
                   0,    0, 0,    0, 0,    0, 0,    0,  // seq, pid
                   0,    0, 0,    0, 4,    0, 0,    0,  // ifi_index 4
                   0,    0, 0,    0, 0,    0, 0,    0,  // flags, change
                   0x08, 0, 0x0a, 0, 2,    0, 0,    0,  // IFLA_MASTER (10) = 2 (0 would detach)
               });
}

TEST(NlMsgLink, PeerNamespaceLinksAreReachedByTheirNsid) {
  EXPECT_BYTES(nl::linkDeleteInPeer(5, "vx0"),
               {
                   0x30, 0, 0,    0, 0x11, 0,   0x05, 0,  // 48 bytes, RTM_DELLINK (17), REQUEST|ACK
                   0,    0, 0,    0, 0,    0,   0,    0,  // seq, pid
                   0,    0, 0,    0, 0,    0,   0,    0,  // ifinfomsg: AF_UNSPEC, index 0 (by name)
                   0,    0, 0,    0, 0,    0,   0,    0,  // flags, change
                   0x08, 0, 0x03, 0, 'v',  'x', '0',  0,  // IFLA_IFNAME
                   0x08, 0, 0x2e, 0, 5,    0,   0,    0,  // IFLA_TARGET_NETNSID (46) = 5
               });
}

TEST(NlMsgNsid, IdOfANamespaceFdAndItsReply) {
  EXPECT_BYTES(nl::nsidOfFd(9),
               {
                   0x1c, 0, 0,    0, 0x5a, 0, 0x05, 0,  // 28 bytes, RTM_GETNSID (90), REQUEST|ACK
                   0,    0, 0,    0, 0,    0, 0,    0,  // seq, pid
                   0,    0, 0,    0,                    // rtgenmsg AF_UNSPEC, padded to 4
                   0x08, 0, 0x03, 0, 9,    0, 0,    0,  // NETNSA_FD (3) = 9
               });
  nl::Message reply(RTM_NEWNSID, 0);
  reply.extra<rtgenmsg>();
  EXPECT_EQ(nl::parseNsid(reply.hdr()), -1);  // none assigned
  reply.putU32(NETNSA_NSID, 4);
  EXPECT_EQ(nl::parseNsid(reply.hdr()), 4);
}

TEST(NlMsgLink, CreateBridge) {
  EXPECT_BYTES(nl::bridgeCreate("br0", 1450),
               {
                   0x40, 0,    0,    0,    0x10, 0,             // 64 bytes, RTM_NEWLINK
                   0x05, 0x06,                                  // REQUEST|ACK | CREATE | EXCL
                   0,    0,    0,    0,    0,    0,    0,   0,  // seq, pid
                   0,    0,    0,    0,    0,    0,    0,   0,   0,   0,   0, 0, 0, 0, 0, 0,  // ifinfomsg
                   0x08, 0,    0x03, 0,    'b',  'r',  '0', 0,                                // IFLA_IFNAME
                   0x08, 0,    0x04, 0,    0xaa, 0x05, 0,   0,  // IFLA_MTU (4) = 1450
                   0x10, 0,    0x12, 0x80,                      // IFLA_LINKINFO (18) | NLA_F_NESTED, 16 bytes
                   0x0b, 0,    0x01, 0,    'b',  'r',  'i', 'd', 'g', 'e', 0, 0,  // IFLA_INFO_KIND "bridge"
               });
}

TEST(NlMsgVxlan, CreateWithPortBigEndianAndVniHostOrder) {
  EXPECT_BYTES(
      nl::vxlanCreate(vxlan(42, 4789, "198.18.0.1", 1450)),
      {
          0x7c, 0, 0,    0,    0x10, 0,    0x05, 0x06,  // 124 bytes, RTM_NEWLINK, REQUEST|ACK|CREATE|EXCL
          0,    0, 0,    0,    0,    0,    0,    0,     // seq, pid
          0,    0, 0,    0,    0,    0,    0,    0,    0,   0, 0, 0, 0, 0, 0, 0,  // ifinfomsg
          0x08, 0, 0x03, 0,    'v',  'x',  '0',  0,                               // IFLA_IFNAME
          0x08, 0, 0x04, 0,    0xaa, 0x05, 0,    0,                               // IFLA_MTU 1450
          0x4c, 0, 0x12, 0x80,                                        // IFLA_LINKINFO, nested, 76 bytes
          0x0a, 0, 0x01, 0,    'v',  'x',  'l',  'a',  'n', 0, 0, 0,  // IFLA_INFO_KIND "vxlan"
          0x3c, 0, 0x02, 0x80,                                        // IFLA_INFO_DATA (2), nested, 60 bytes
          0x08, 0, 0x01, 0,    42,   0,    0,    0,                   // IFLA_VXLAN_ID: host order
          0x06, 0, 0x0f, 0,    0x12, 0xb5, 0,    0,                   // IFLA_VXLAN_PORT (15): 4789 big-endian
          0x08, 0, 0x04, 0,    198,  18,   0,    1,                   // IFLA_VXLAN_LOCAL (4)
          0x05, 0, 0x07, 0,    0,    0,    0,    0,                   // IFLA_VXLAN_LEARNING off
          0x05, 0, 0x0b, 0,    1,    0,    0,    0,  // IFLA_VXLAN_PROXY on: ARP answered locally
          0x05, 0, 0x0d, 0,    0,    0,    0,    0,  // IFLA_VXLAN_L2MISS off
          0x05, 0, 0x0e, 0,    0,    0,    0,    0,  // IFLA_VXLAN_L3MISS off
      });
}

TEST(NlMsgVxlan, Ipv6LocalAddressAndDefaultPort) {
  auto m = nl::vxlanCreate(vxlan(7, 0, "fd00::1", 0));
  m.hdr()->nlmsg_type = RTM_NEWLINK;
  auto l = nl::parseLink(m.hdr());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->info.port, 4789);  // 0 means the IANA port
  const Bytes b = bytesOf(m);
  // IFLA_VXLAN_LOCAL6 (17): 4-byte header + 16 bytes.
  const Bytes local6 = {0x14, 0, 0x11, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  EXPECT_NE(std::search(b.begin(), b.end(), local6.begin(), local6.end()), b.end()) << hex(b);
}

TEST(NlMsgVeth, PeerIsNestedWithItsOwnHeaderAndNamespace) {
  EXPECT_BYTES(
      nl::vethCreate("ve0", "ve1", 1450, 9),
      {
          0x70, 0, 0,    0,    0x10, 0,    0x05, 0x06,  // 112 bytes, RTM_NEWLINK, REQUEST|ACK|CREATE|EXCL
          0,    0, 0,    0,    0,    0,    0,    0,     // seq, pid
          0,    0, 0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0,  // ifinfomsg
          0x08, 0, 0x03, 0,    'v',  'e',  '0',  0,                             // IFLA_IFNAME
          0x08, 0, 0x04, 0,    0xaa, 0x05, 0,    0,                             // IFLA_MTU
          0x40, 0, 0x12, 0x80,                                                  // IFLA_LINKINFO, 64 bytes
          0x09, 0, 0x01, 0,    'v',  'e',  't',  'h',  0, 0, 0, 0,              // IFLA_INFO_KIND "veth"
          0x30, 0, 0x02, 0x80,                                                  // IFLA_INFO_DATA, 48 bytes
          0x2c, 0, 0x01, 0x80,  // VETH_INFO_PEER (1), 44 bytes:
          0,    0, 0,    0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0,  //   the peer's ifinfomsg
          0x08, 0, 0x03, 0,    'v',  'e',  '1',  0,                             //   its IFLA_IFNAME
          0x08, 0, 0x04, 0,    0xaa, 0x05, 0,    0,                             //   its IFLA_MTU
          0x08, 0, 0x1c, 0,    9,    0,    0,    0,  //   IFLA_NET_NS_FD (28): created there
      });
  auto same = nl::vethCreate("ve0", "ve1", 0, nl::kSameNetns);
  EXPECT_EQ(same.hdr()->nlmsg_len, 112u - 8 - 8 - 8);  // no MTUs, no namespace
}

TEST(NlMsgLink, ParsesWhatTheKernelReportsOfAVxlan) {
  auto m = nl::vxlanCreate(vxlan(42, 4790, "", 1450));
  uint32_t master = 3, group = 9;
  m.putU32(IFLA_MASTER, master);
  m.putU32(IFLA_GROUP, group);
  const uint8_t addr[6] = {0x02, 0x42, 0, 0, 0, 1};
  m.put(IFLA_ADDRESS, addr, sizeof addr);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(m.hdr()));
  ifi->ifi_index = 12;
  ifi->ifi_flags = IFF_UP;
  auto r = nl::parseLink(m.hdr());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->info.name, "vx0");
  EXPECT_EQ(r->info.ifindex, 12);
  EXPECT_TRUE(r->info.up);
  EXPECT_EQ(r->info.mtu, 1450u);
  EXPECT_EQ(r->info.kind, LinkKind::kVxlan);
  EXPECT_EQ(r->info.kindName, "vxlan");
  EXPECT_EQ(r->info.vni, 42u);
  EXPECT_EQ(r->info.port, 4790);  // decoded from network order
  EXPECT_EQ(r->info.learning, false);
  EXPECT_EQ(r->info.group, 9u);
  EXPECT_EQ(r->info.mac, "02:42:00:00:00:01");
  EXPECT_EQ(r->masterIndex, 3);
  EXPECT_EQ(r->info.master, "");           // names are the caller's business
  EXPECT_EQ(r->info.local, std::nullopt);  // created without one
  m.hdr()->nlmsg_type = RTM_DELLINK;
  EXPECT_FALSE(nl::parseLink(m.hdr()));
}

TEST(NlMsgLink, ParsesAVxlansLocalAddressOfEitherFamily) {
  for (const char* local : {"198.18.0.1", "fd18::1"}) {
    auto r = nl::parseLink(nl::vxlanCreate(vxlan(42, 4789, local, 0)).hdr());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->info.local, IpAddr::parse(local));
  }
}
