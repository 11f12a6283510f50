#include "kernel/nl_msg_veth.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

namespace weft::kernel::nl {

Message vethCreate(const std::string& name, const std::string& peerName, uint32_t mtu, int peerNsFd) {
  Message m(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  m.extra<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.putStr(IFLA_IFNAME, name);
  if (mtu) m.putU32(IFLA_MTU, mtu);
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_KIND, "veth");
  nlattr* data = m.nestStart(IFLA_INFO_DATA);
  nlattr* peer = m.nestStart(VETH_INFO_PEER);
  m.putRaw(sizeof(ifinfomsg));  // the peer's own (empty) ifinfomsg
  m.putStr(IFLA_IFNAME, peerName);
  if (mtu) m.putU32(IFLA_MTU, mtu);
  if (peerNsFd != kSameNetns) m.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(peerNsFd));
  m.nestEnd(peer);
  m.nestEnd(data);
  m.nestEnd(li);
  return m;
}

}  // namespace weft::kernel::nl
