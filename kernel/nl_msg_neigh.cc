#include "kernel/nl_msg_neigh.h"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include <cstring>

namespace weft::kernel::nl {

Message neighAdd(int ifindex, const IpAddr& ip, const MacAddr& mac, NeighWrite how) {
  Message m(RTM_NEWNEIGH,
            NLM_F_ACK | NLM_F_CREATE | (how == NeighWrite::kReplace ? NLM_F_REPLACE : NLM_F_EXCL));
  auto* ndm = m.extra<ndmsg>();
  ndm->ndm_family = static_cast<uint8_t>(ip.family);
  ndm->ndm_ifindex = ifindex;
  ndm->ndm_state = NUD_PERMANENT;
  m.put(NDA_DST, ip.bytes.data(), ip.size());
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  return m;
}

Message neighDelete(int ifindex, const IpAddr& ip) {
  Message m(RTM_DELNEIGH, NLM_F_ACK);
  auto* ndm = m.extra<ndmsg>();
  ndm->ndm_family = static_cast<uint8_t>(ip.family);
  ndm->ndm_ifindex = ifindex;
  m.put(NDA_DST, ip.bytes.data(), ip.size());
  return m;
}

Message neighDump(int family) {
  Message m(RTM_GETNEIGH, NLM_F_DUMP);
  m.extra<ndmsg>()->ndm_family = static_cast<uint8_t>(family);
  return m;
}

std::optional<NeighRecord> parseNeigh(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWNEIGH || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return std::nullopt;
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[NDA_MAX + 1];
  parseAttrs(nlh, sizeof(ndmsg), tb, NDA_MAX);
  NeighRecord r;
  r.family = ndm->ndm_family;
  r.ifindex = ndm->ndm_ifindex;
  r.state = ndm->ndm_state;
  r.flags = ndm->ndm_flags;
  if (tb[NDA_DST]) {
    auto len = mnl_attr_get_payload_len(tb[NDA_DST]);
    if (len == 4 || len == 16)
      r.dst = IpAddr::fromBytes(len == 4 ? AF_INET : AF_INET6, mnl_attr_get_payload(tb[NDA_DST]));
  }
  if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6) {
    MacAddr mac;
    std::memcpy(mac.bytes.data(), mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
    r.mac = mac;
  }
  if (tb[NDA_PORT] && mnl_attr_get_payload_len(tb[NDA_PORT]) == 2)
    r.port = ntohs(mnl_attr_get_u16(tb[NDA_PORT]));
  if (tb[NDA_VNI] && mnl_attr_get_payload_len(tb[NDA_VNI]) == 4) r.vni = mnl_attr_get_u32(tb[NDA_VNI]);
  return r;
}

}  // namespace weft::kernel::nl
