#include "kernel/nl_msg_xfrm.h"

#include <arpa/inet.h>
#include <linux/xfrm.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "common/ip.h"

namespace weft::kernel::nl {

namespace {

constexpr const char* kAead = "rfc4106(gcm(aes))";

void putAddr(xfrm_address_t* out, const IpAddr& a) { std::memcpy(out, a.bytes.data(), a.size()); }

IpAddr getAddr(const xfrm_address_t& in, int family) { return IpAddr::fromBytes(family, &in); }

void infiniteLifetime(xfrm_lifetime_cfg* l) {
  l->soft_byte_limit = l->hard_byte_limit = XFRM_INF;
  l->soft_packet_limit = l->hard_packet_limit = XFRM_INF;
}

std::vector<uint8_t> unhex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

std::string tohex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
  return s;
}

uint8_t dirCode(XfrmDir d) {
  switch (d) {
    case XfrmDir::kIn:
      return XFRM_POLICY_IN;
    case XfrmDir::kOut:
      return XFRM_POLICY_OUT;
    case XfrmDir::kFwd:
      return XFRM_POLICY_FWD;
  }
  return XFRM_POLICY_OUT;
}

xfrm_selector selector(const ParsedXfrmPolicy& p, uint16_t port) {
  xfrm_selector sel{};
  putAddr(&sel.saddr, p.src);
  putAddr(&sel.daddr, p.dst);
  sel.family = static_cast<uint16_t>(p.src.family);
  // The unspecified address selects any (prefix length 0): block policies.
  sel.prefixlen_s = static_cast<uint8_t>(p.src.isZero() ? 0 : p.src.bits());
  sel.prefixlen_d = static_cast<uint8_t>(p.dst.isZero() ? 0 : p.dst.bits());
  sel.proto = IPPROTO_UDP;
  if (port) {
    sel.dport = htons(port);
    sel.dport_mask = 0xffff;
  }
  return sel;
}

}  // namespace

Message xfrmStateAdd(const XfrmState& s, const ParsedXfrmState& p) {
  Message m(XFRM_MSG_NEWSA, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  auto* sa = m.extra<xfrm_usersa_info>();
  sa->sel.family = static_cast<uint16_t>(p.src.family);
  putAddr(&sa->id.daddr, p.dst);
  sa->id.spi = htonl(s.spi);
  sa->id.proto = IPPROTO_ESP;
  putAddr(&sa->saddr, p.src);
  infiniteLifetime(&sa->lft);
  sa->family = static_cast<uint16_t>(p.src.family);
  sa->mode = XFRM_MODE_TRANSPORT;
  sa->reqid = s.reqid;
  if (s.esn) {
    sa->flags = XFRM_STATE_ESN;  // the window is in XFRMA_REPLAY_ESN_VAL
  } else {
    sa->replay_window = static_cast<uint8_t>(s.replayWindow ? s.replayWindow : kLegacyReplayWindow);
  }
  std::vector<uint8_t> key = unhex(p.keyHex);
  std::vector<char> alg(sizeof(xfrm_algo_aead) + key.size(), 0);
  auto* aead = reinterpret_cast<xfrm_algo_aead*>(alg.data());
  std::strncpy(aead->alg_name, kAead, sizeof aead->alg_name - 1);
  aead->alg_key_len = static_cast<unsigned>(key.size() * 8);
  aead->alg_icv_len = s.icvBits;
  std::memcpy(aead->alg_key, key.data(), key.size());
  m.put(XFRMA_ALG_AEAD, alg.data(), alg.size());
  if (s.esn) {
    const uint32_t window = s.replayWindow ? s.replayWindow : kDefaultEsnReplayWindow;
    const uint32_t words = window / 32;
    std::vector<char> esn(sizeof(xfrm_replay_state_esn) + words * sizeof(uint32_t), 0);
    auto* rs = reinterpret_cast<xfrm_replay_state_esn*>(esn.data());
    rs->bmp_len = words;
    rs->replay_window = window;
    m.put(XFRMA_REPLAY_ESN_VAL, esn.data(), esn.size());
  }
  return m;
}

Message xfrmStateDelete(const ParsedXfrmState& p, uint32_t spi) {
  Message m(XFRM_MSG_DELSA, NLM_F_ACK);
  auto* id = m.extra<xfrm_usersa_id>();
  putAddr(&id->daddr, p.dst);
  id->spi = htonl(spi);
  id->family = static_cast<uint16_t>(p.dst.family);
  id->proto = IPPROTO_ESP;
  xfrm_address_t src{};
  putAddr(&src, p.src);
  m.put(XFRMA_SRCADDR, &src, sizeof src);
  return m;
}

Message xfrmStateDump() { return Message(XFRM_MSG_GETSA, NLM_F_DUMP); }

std::optional<XfrmState> parseXfrmState(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(xfrm_usersa_info))) return std::nullopt;
  if (nlh->nlmsg_type != XFRM_MSG_NEWSA) return std::nullopt;
  const auto* sa = static_cast<const xfrm_usersa_info*>(mnl_nlmsg_get_payload(nlh));
  if (sa->id.proto != IPPROTO_ESP || sa->mode != XFRM_MODE_TRANSPORT) return std::nullopt;
  const nlattr* tb[XFRMA_MAX + 1];
  parseAttrs(nlh, sizeof(xfrm_usersa_info), tb, XFRMA_MAX);
  if (!tb[XFRMA_ALG_AEAD] || mnl_attr_get_payload_len(tb[XFRMA_ALG_AEAD]) < sizeof(xfrm_algo_aead))
    return std::nullopt;
  const auto* aead = static_cast<const xfrm_algo_aead*>(mnl_attr_get_payload(tb[XFRMA_ALG_AEAD]));
  if (std::strncmp(aead->alg_name, kAead, sizeof aead->alg_name) != 0) return std::nullopt;
  size_t keyLen = aead->alg_key_len / 8;
  if (mnl_attr_get_payload_len(tb[XFRMA_ALG_AEAD]) < sizeof(xfrm_algo_aead) + keyLen) return std::nullopt;
  XfrmState s;
  s.src = getAddr(sa->saddr, sa->family).str();
  s.dst = getAddr(sa->id.daddr, sa->family).str();
  s.spi = ntohl(sa->id.spi);
  s.reqid = sa->reqid;
  s.aeadKeyHex = tohex(reinterpret_cast<const uint8_t*>(aead->alg_key), keyLen);
  s.icvBits = aead->alg_icv_len;
  s.esn = (sa->flags & XFRM_STATE_ESN) != 0;
  uint32_t window = sa->replay_window;
  if (tb[XFRMA_REPLAY_ESN_VAL] &&
      mnl_attr_get_payload_len(tb[XFRMA_REPLAY_ESN_VAL]) >= sizeof(xfrm_replay_state_esn))
    window = static_cast<const xfrm_replay_state_esn*>(mnl_attr_get_payload(tb[XFRMA_REPLAY_ESN_VAL]))
                 ->replay_window;
  // The default reads back as 0, like the XfrmState that asked for it.
  s.replayWindow = window == (s.esn ? kDefaultEsnReplayWindow : kLegacyReplayWindow) ? 0 : window;
  s.counters = XfrmCounters{.packets = sa->curlft.packets,
                            .bytes = sa->curlft.bytes,
                            .duplicates = sa->stats.replay,
                            .tooOld = sa->stats.replay_window,
                            .authFailed = sa->stats.integrity_failed};
  return s;
}

namespace {

// NEWPOLICY fails on an existing (dir, selector); UPDPOLICY replaces it in
// one step, which is what moves outbound traffic to a new SA without a gap.
Message policyMessage(uint16_t type, uint16_t flags, const XfrmPolicy& p, const ParsedXfrmPolicy& parsed) {
  Message m(type, flags);
  auto* pol = m.extra<xfrm_userpolicy_info>();
  pol->sel = selector(parsed, p.udpPort);
  infiniteLifetime(&pol->lft);
  pol->priority = p.block ? kXfrmBlockPriority : kXfrmPolicyPriority;
  pol->dir = dirCode(p.dir);
  pol->action = p.block ? XFRM_POLICY_BLOCK : XFRM_POLICY_ALLOW;
  pol->share = XFRM_SHARE_ANY;
  if (p.block) return m;  // discards: no ESP template
  xfrm_user_tmpl t{};
  if (parsed.tmplDst) putAddr(&t.id.daddr, *parsed.tmplDst);
  if (parsed.tmplSrc) putAddr(&t.saddr, *parsed.tmplSrc);
  t.id.spi = htonl(p.spi);
  t.id.proto = IPPROTO_ESP;
  t.family = static_cast<uint16_t>(parsed.src.family);
  t.reqid = p.reqid;
  t.mode = XFRM_MODE_TRANSPORT;
  t.aalgos = t.ealgos = t.calgos = ~0u;
  m.put(XFRMA_TMPL, &t, sizeof t);
  return m;
}

}  // namespace

Message xfrmPolicyAdd(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed) {
  return policyMessage(XFRM_MSG_NEWPOLICY, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, p, parsed);
}

Message xfrmPolicyUpdate(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed) {
  return policyMessage(XFRM_MSG_UPDPOLICY, NLM_F_ACK, p, parsed);
}

Message xfrmPolicyDelete(const XfrmPolicy& p, const ParsedXfrmPolicy& parsed) {
  Message m(XFRM_MSG_DELPOLICY, NLM_F_ACK);
  auto* id = m.extra<xfrm_userpolicy_id>();
  id->sel = selector(parsed, p.udpPort);
  id->dir = dirCode(p.dir);
  return m;
}

Message xfrmPolicyDump() { return Message(XFRM_MSG_GETPOLICY, NLM_F_DUMP); }

std::optional<XfrmPolicy> parseXfrmPolicy(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(xfrm_userpolicy_info))) return std::nullopt;
  if (nlh->nlmsg_type != XFRM_MSG_NEWPOLICY) return std::nullopt;
  const auto* pol = static_cast<const xfrm_userpolicy_info*>(mnl_nlmsg_get_payload(nlh));
  if (pol->dir > XFRM_POLICY_FWD || pol->sel.proto != IPPROTO_UDP) return std::nullopt;
  int family = pol->sel.family;
  XfrmPolicy p;
  p.dir = pol->dir == XFRM_POLICY_IN    ? XfrmDir::kIn
          : pol->dir == XFRM_POLICY_OUT ? XfrmDir::kOut
                                        : XfrmDir::kFwd;
  p.src = getAddr(pol->sel.saddr, family).str();
  p.dst = getAddr(pol->sel.daddr, family).str();
  p.udpPort = pol->sel.dport_mask ? ntohs(pol->sel.dport) : 0;
  if (pol->action == XFRM_POLICY_BLOCK) {
    p.block = true;
    return p;
  }
  const nlattr* tb[XFRMA_MAX + 1];
  parseAttrs(nlh, sizeof(xfrm_userpolicy_info), tb, XFRMA_MAX);
  if (!tb[XFRMA_TMPL] || mnl_attr_get_payload_len(tb[XFRMA_TMPL]) < sizeof(xfrm_user_tmpl))
    return std::nullopt;
  const auto* t = static_cast<const xfrm_user_tmpl*>(mnl_attr_get_payload(tb[XFRMA_TMPL]));
  if (t->id.proto != IPPROTO_ESP || t->mode != XFRM_MODE_TRANSPORT) return std::nullopt;
  IpAddr ts = getAddr(t->saddr, family), td = getAddr(t->id.daddr, family);
  p.tmplSrc = ts.isZero() ? "" : ts.str();
  p.tmplDst = td.isZero() ? "" : td.str();
  p.reqid = t->reqid;
  p.spi = ntohl(t->id.spi);
  return p;
}

}  // namespace weft::kernel::nl
