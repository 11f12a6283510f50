#include "kernel/nl_msg_vxlan.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "common/ip.h"

namespace weft::kernel::nl {

namespace {
constexpr uint16_t kVxlanPort = 4789;  // IANA
}

Message vxlanCreate(const VxlanSpec& spec) {
  Message m(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
  m.extra<ifinfomsg>()->ifi_family = AF_UNSPEC;
  m.putStr(IFLA_IFNAME, spec.name);
  if (spec.mtu) m.putU32(IFLA_MTU, spec.mtu);
  if (auto mac = MacAddr::parse(spec.mac)) m.put(IFLA_ADDRESS, mac->bytes.data(), mac->bytes.size());
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_KIND, "vxlan");
  nlattr* data = m.nestStart(IFLA_INFO_DATA);
  m.putU32(IFLA_VXLAN_ID, spec.vni);
  m.putU16(IFLA_VXLAN_PORT, htons(spec.port ? spec.port : kVxlanPort));
  if (auto local = IpAddr::parse(spec.local))
    m.put(local->isV6() ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, local->bytes.data(), local->size());
  m.putU8(IFLA_VXLAN_LEARNING, spec.learning);
  m.putU8(IFLA_VXLAN_PROXY, spec.proxy);
  m.putU8(IFLA_VXLAN_L2MISS, spec.l2miss);
  m.putU8(IFLA_VXLAN_L3MISS, spec.l3miss);
  m.nestEnd(data);
  m.nestEnd(li);
  return m;
}

void parseVxlanData(const nlattr* data, LinkInfo* l) {
  if (!data) return;
  const nlattr* vx[IFLA_VXLAN_MAX + 1];
  parseNested(data, vx, IFLA_VXLAN_MAX);
  if (vx[IFLA_VXLAN_ID]) l->vni = mnl_attr_get_u32(vx[IFLA_VXLAN_ID]);
  if (vx[IFLA_VXLAN_PORT]) l->port = ntohs(mnl_attr_get_u16(vx[IFLA_VXLAN_PORT]));
  if (vx[IFLA_VXLAN_LEARNING]) l->learning = mnl_attr_get_u8(vx[IFLA_VXLAN_LEARNING]) != 0;
  if (vx[IFLA_VXLAN_LOCAL] && mnl_attr_get_payload_len(vx[IFLA_VXLAN_LOCAL]) == 4)
    l->local = IpAddr::fromBytes(AF_INET, mnl_attr_get_payload(vx[IFLA_VXLAN_LOCAL]));
  if (vx[IFLA_VXLAN_LOCAL6] && mnl_attr_get_payload_len(vx[IFLA_VXLAN_LOCAL6]) == 16)
    l->local = IpAddr::fromBytes(AF_INET6, mnl_attr_get_payload(vx[IFLA_VXLAN_LOCAL6]));
}

}  // namespace weft::kernel::nl
