// The xfrm (ESP state and policy), address and route messages weft sends,
// checked field by field and decoded back. Pure (no socket, no root); see
// nl_msg_test.cc for the byte-for-byte conventions.

#include "kernel/nl_msg_xfrm.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <linux/xfrm.h>

#include <cstddef>
#include <string>
#include <vector>

#include "kernel/nl_msg_addr.h"
#include "kernel/nl_msg_route.h"
#include "tests/kernel/nl_msg_test_util.h"

using namespace weft;
using namespace weft::kernel;
using namespace weft::kernel::nltest;

// --- xfrm ---

TEST(NlMsgXfrm, StateCarriesSpiInNetworkOrderAndDecodesToItself) {
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x1234;
  s.reqid = 7;
  s.aeadKeyHex = std::string(64, 'a') + "01020304";  // AES-256 key + 4-byte salt
  auto p = parseXfrmState("test", s, XfrmUse::kAdd);
  ASSERT_TRUE(p.ok());
  auto m = nl::xfrmStateAdd(s, *p);
  EXPECT_EQ(m.hdr()->nlmsg_type, XFRM_MSG_NEWSA);
  EXPECT_EQ(m.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  const Bytes b = bytesOf(m);
  const size_t spi = NLMSG_HDRLEN + offsetof(xfrm_usersa_info, id) + offsetof(xfrm_id, spi);
  EXPECT_EQ(Bytes(b.begin() + spi, b.begin() + spi + 4), (Bytes{0, 0, 0x12, 0x34}));
  auto back = nl::parseXfrmState(m.hdr());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
}

// A dump's NEWSA carries the SA's counters in the fixed part: curlft
// (bytes, packets) and stats (replay_window, replay, integrity_failed).
// They are decoded, and the state still equals the one asked for (equality
// ignores counters: desired against installed).
TEST(NlMsgXfrm, DumpedStateDecodesItsCountersAndEqualityIgnoresThem) {
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x4242;
  s.reqid = 3;
  s.aeadKeyHex = std::string(64, 'd') + "05060708";
  auto p = parseXfrmState("test", s, XfrmUse::kAdd);
  ASSERT_TRUE(p.ok());
  auto m = nl::xfrmStateAdd(s, *p);  // the dump's NEWSA has this layout
  auto* sa = static_cast<xfrm_usersa_info*>(mnl_nlmsg_get_payload(m.hdr()));
  sa->curlft.packets = 0x100000007ull;  // past 32 bits: 64-bit counters
  sa->curlft.bytes = 0x2000000123ull;
  sa->stats.replay = 5;
  sa->stats.replay_window = 2;
  sa->stats.integrity_failed = 11;
  auto back = nl::parseXfrmState(m.hdr());
  ASSERT_TRUE(back);
  ASSERT_TRUE(back->counters);
  EXPECT_EQ(back->counters->packets, 0x100000007ull);
  EXPECT_EQ(back->counters->bytes, 0x2000000123ull);
  EXPECT_EQ(back->counters->duplicates, 5u);
  EXPECT_EQ(back->counters->tooOld, 2u);
  EXPECT_EQ(back->counters->replayDropped(), 7u);
  EXPECT_EQ(back->counters->authFailed, 11u);
  EXPECT_EQ(*back, s) << "counters are not part of an SA's identity";
  XfrmState other = s;
  other.spi = 0x4243;
  other.counters = back->counters;
  EXPECT_NE(*back, other) << "everything else still is";
}

TEST(NlMsgXfrm, PolicySelectsUdpPortAndDecodesToItself) {
  XfrmPolicy pol;
  pol.dir = XfrmDir::kIn;
  pol.src = "198.18.0.2";
  pol.dst = "198.18.0.1";
  pol.udpPort = 4790;
  pol.tmplSrc = "198.18.0.2";
  pol.tmplDst = "198.18.0.1";
  pol.reqid = 7;
  auto parsed = parseXfrmPolicy("test", pol, XfrmUse::kAdd);
  ASSERT_TRUE(parsed.ok());
  auto m = nl::xfrmPolicyAdd(pol, *parsed);
  const auto* info = static_cast<const xfrm_userpolicy_info*>(mnl_nlmsg_get_payload(m.hdr()));
  EXPECT_EQ(info->sel.dport, htons(4790));
  EXPECT_EQ(info->sel.dport_mask, 0xffff);
  EXPECT_EQ(info->sel.proto, IPPROTO_UDP);
  auto back = nl::parseXfrmPolicy(m.hdr());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, pol);
}

TEST(NlMsgXfrm, EsnStateCarriesItsReplayWindowBitmap) {
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x8badf00d;
  s.reqid = 9;
  s.aeadKeyHex = std::string(64, 'b') + "0a0b0c0d";
  s.replayWindow = 2048;
  auto p = parseXfrmState("test", s, XfrmUse::kAdd);
  ASSERT_TRUE(p.ok());
  auto m = nl::xfrmStateAdd(s, *p);
  const auto* sa = static_cast<const xfrm_usersa_info*>(mnl_nlmsg_get_payload(m.hdr()));
  EXPECT_EQ(sa->flags, XFRM_STATE_ESN);
  EXPECT_EQ(sa->replay_window, 0);  // with ESN the window is in XFRMA_REPLAY_ESN_VAL
  EXPECT_EQ(sa->mode, XFRM_MODE_TRANSPORT);
  EXPECT_EQ(sa->id.proto, IPPROTO_ESP);
  const nlattr* esn = findAttr(m.hdr(), sizeof(xfrm_usersa_info), XFRMA_REPLAY_ESN_VAL);
  const nlattr* aead = findAttr(m.hdr(), sizeof(xfrm_usersa_info), XFRMA_ALG_AEAD);
  ASSERT_NE(esn, nullptr);
  // 2048 packets: a 64-word bitmap after the fixed part, all zero.
  ASSERT_EQ(mnl_attr_get_payload_len(esn), sizeof(xfrm_replay_state_esn) + 64 * 4);
  const auto* rs = static_cast<const xfrm_replay_state_esn*>(mnl_attr_get_payload(esn));
  EXPECT_EQ(rs->bmp_len, 64u);
  EXPECT_EQ(rs->replay_window, 2048u);
  EXPECT_EQ(rs->seq, 0u);
  EXPECT_EQ(rs->oseq, 0u);
  ASSERT_NE(aead, nullptr);
  const auto* alg = static_cast<const xfrm_algo_aead*>(mnl_attr_get_payload(aead));
  EXPECT_STREQ(alg->alg_name, "rfc4106(gcm(aes))");
  EXPECT_EQ(alg->alg_key_len, 288u);  // 256-bit key + 32-bit salt
  EXPECT_EQ(alg->alg_icv_len, 128u);
  const auto* key = reinterpret_cast<const uint8_t*>(alg->alg_key);
  EXPECT_EQ(Bytes(key + 32, key + 36), (Bytes{0x0a, 0x0b, 0x0c, 0x0d}));  // the salt last
  auto back = nl::parseXfrmState(m.hdr());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, s);
}

TEST(NlMsgXfrm, ReplayWindowDefaultsAndLegacyWindow) {
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x300;
  s.aeadKeyHex = std::string(72, 'c');
  auto p = parseXfrmState("test", s, XfrmUse::kAdd);
  ASSERT_TRUE(p.ok());
  auto m = nl::xfrmStateAdd(s, *p);  // ESN, window 0: the default
  const nlattr* esn = findAttr(m.hdr(), sizeof(xfrm_usersa_info), XFRMA_REPLAY_ESN_VAL);
  ASSERT_NE(esn, nullptr);
  EXPECT_EQ(static_cast<const xfrm_replay_state_esn*>(mnl_attr_get_payload(esn))->replay_window,
            kDefaultEsnReplayWindow);
  EXPECT_EQ(nl::parseXfrmState(m.hdr())->replayWindow, 0u);  // reads back as asked

  s.esn = false;
  s.replayWindow = 16;
  p = parseXfrmState("test", s, XfrmUse::kAdd);
  ASSERT_TRUE(p.ok());
  m = nl::xfrmStateAdd(s, *p);
  const auto* sa = static_cast<const xfrm_usersa_info*>(mnl_nlmsg_get_payload(m.hdr()));
  EXPECT_EQ(sa->flags, 0);
  EXPECT_EQ(sa->replay_window, 16);
  EXPECT_EQ(findAttr(m.hdr(), sizeof(xfrm_usersa_info), XFRMA_REPLAY_ESN_VAL), nullptr);
  EXPECT_EQ(*nl::parseXfrmState(m.hdr()), s);
}

TEST(NlMsgXfrm, ReplayWindowLimits) {
  XfrmState s;
  s.src = "198.18.0.1";
  s.dst = "198.18.0.2";
  s.spi = 0x300;
  s.aeadKeyHex = std::string(72, 'c');
  for (uint32_t ok : {0u, 32u, 1024u, kMaxXfrmReplayWindow}) {
    s.replayWindow = ok;
    EXPECT_TRUE(parseXfrmState("test", s, XfrmUse::kAdd).ok()) << ok;
  }
  for (uint32_t bad : {31u, 33u, kMaxXfrmReplayWindow + 32}) {
    s.replayWindow = bad;
    auto r = parseXfrmState("test", s, XfrmUse::kAdd);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("replay window"), std::string::npos) << r.error().message;
  }
  s.esn = false;
  s.replayWindow = 32;
  EXPECT_TRUE(parseXfrmState("test", s, XfrmUse::kAdd).ok());
  s.replayWindow = 33;
  EXPECT_FALSE(parseXfrmState("test", s, XfrmUse::kAdd).ok());
}

TEST(NlMsgXfrm, PolicyUpdateIsTheAddMessageAsUpdpolicyWithoutExcl) {
  XfrmPolicy pol{XfrmDir::kOut, "198.18.0.1", "198.18.0.2", 4799,
                 "198.18.0.1",  "198.18.0.2", 0x51,         0xc0ffee01};
  auto parsed = parseXfrmPolicy("test", pol, XfrmUse::kAdd);
  ASSERT_TRUE(parsed.ok());
  auto add = nl::xfrmPolicyAdd(pol, *parsed);
  auto upd = nl::xfrmPolicyUpdate(pol, *parsed);
  EXPECT_EQ(upd.hdr()->nlmsg_type, XFRM_MSG_UPDPOLICY);
  // Replace-or-create: the kernel refuses NEWPOLICY on an existing selector
  // (EEXIST); UPDPOLICY swaps the template in one step.
  EXPECT_EQ(upd.hdr()->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
  const Bytes a = bytesOf(add), u = bytesOf(upd);
  ASSERT_EQ(a.size(), u.size());
  EXPECT_EQ(Bytes(a.begin() + NLMSG_HDRLEN, a.end()), Bytes(u.begin() + NLMSG_HDRLEN, u.end()));
  // The template: ESP, transport, required (not optional), SPI in network
  // order, reqid host order.
  const nlattr* tmpl = findAttr(upd.hdr(), sizeof(xfrm_userpolicy_info), XFRMA_TMPL);
  ASSERT_NE(tmpl, nullptr);
  const auto* t = static_cast<const xfrm_user_tmpl*>(mnl_attr_get_payload(tmpl));
  EXPECT_EQ(t->id.proto, IPPROTO_ESP);
  EXPECT_EQ(t->mode, XFRM_MODE_TRANSPORT);
  EXPECT_EQ(t->optional, 0);  // "level required": no SA, no traffic
  EXPECT_EQ(t->reqid, 0x51u);
  const auto* spi = reinterpret_cast<const uint8_t*>(&t->id.spi);
  EXPECT_EQ(Bytes(spi, spi + 4), (Bytes{0xc0, 0xff, 0xee, 0x01}));
  const auto* info = static_cast<const xfrm_userpolicy_info*>(mnl_nlmsg_get_payload(upd.hdr()));
  EXPECT_EQ(info->dir, XFRM_POLICY_OUT);
  EXPECT_EQ(info->action, XFRM_POLICY_ALLOW);
  EXPECT_EQ(info->sel.prefixlen_s, 32);
  EXPECT_EQ(info->sel.prefixlen_d, 32);
  EXPECT_EQ(info->sel.sport_mask, 0);          // any source port: VXLAN hashes it per flow
  auto back = nl::parseXfrmPolicy(add.hdr());  // a dump answers in the NEWPOLICY form
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, pol);
}

// --- addresses and routes ---

TEST(NlMsgAddr, Ipv6AddressSkipsDadAndDecodesToItself) {
  Prefix c = *Prefix::parse("fd00::1/64");
  auto m = nl::addrAdd(4, c);
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(m.hdr()));
  EXPECT_EQ(ifa->ifa_family, AF_INET6);
  EXPECT_EQ(ifa->ifa_prefixlen, 64);
  EXPECT_EQ(ifa->ifa_flags, IFA_F_NODAD);  // usable at once
  m.hdr()->nlmsg_type = RTM_NEWADDR;
  auto back = nl::parseAddr(m.hdr());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ifindex, 4);
  EXPECT_EQ(back->cidr, c);
}

TEST(NlMsgRoute, StaticRouteViaGatewayDecodesToItself) {
  Route r{*Prefix::parse("10.9.0.0/16"), ip("10.1.0.254"), ""};
  auto m = nl::routeAdd(r, 3);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(m.hdr()));
  EXPECT_EQ(rtm->rtm_protocol, RTPROT_STATIC);  // what listing and deleting match
  EXPECT_EQ(rtm->rtm_table, RT_TABLE_MAIN);
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_UNIVERSE);  // through a gateway
  m.hdr()->nlmsg_type = RTM_NEWROUTE;
  auto back = nl::parseRoute(m.hdr());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->dst, r.dst);
  EXPECT_EQ(back->gateway, r.gateway);
  EXPECT_EQ(back->oif, 3);
  EXPECT_EQ(back->table, RT_TABLE_MAIN);
  // A default route has no RTA_DST at all.
  auto def = nl::routeAdd(Route{*Prefix::parse("0.0.0.0/0"), ip("10.1.0.254"), ""}, 0);
  EXPECT_EQ(def.hdr()->nlmsg_len, m.hdr()->nlmsg_len - 8 - 8);  // no RTA_DST, no RTA_OIF
}
