#include "kernel/nl_msg_mcast.h"

#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>

#include <cstring>

namespace weft::kernel::nl {

namespace {

Message linkChange(int index) {
  Message m(RTM_NEWLINK, NLM_F_ACK);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  return m;
}

void putCentis(Message& m, uint16_t type, uint32_t ms) {
  const uint64_t cs = ms / 10;
  m.put(type, &cs, sizeof cs);
}

uint32_t getMs(const nlattr* a, uint32_t fallback) {
  if (!a || mnl_attr_get_payload_len(a) != sizeof(uint64_t)) return fallback;
  return static_cast<uint32_t>(mnl_attr_get_u64(a) * 10);
}

// Every attribute of a nest, repeated types included (parseNested keeps
// only the last of each type).
std::vector<const nlattr*> children(const nlattr* nest) {
  std::vector<const nlattr*> out;
  mnl_attr_parse_nested(
      nest,
      [](const nlattr* a, void* data) {
        static_cast<std::vector<const nlattr*>*>(data)->push_back(a);
        return MNL_CB_OK;
      },
      &out);
  return out;
}

}  // namespace

Message bridgeMcastSet(int index, const BridgeMcast& c) {
  Message m = linkChange(index);
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_KIND, "bridge");
  nlattr* d = m.nestStart(IFLA_INFO_DATA);
  m.putU8(IFLA_BR_MCAST_SNOOPING, c.snooping);
  m.putU8(IFLA_BR_MCAST_QUERIER, c.querier);
  putCentis(m, IFLA_BR_MCAST_QUERY_INTVL, c.queryIntervalMs);
  putCentis(m, IFLA_BR_MCAST_MEMBERSHIP_INTVL, c.membershipIntervalMs);
  putCentis(m, IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, c.queryResponseIntervalMs);
  putCentis(m, IFLA_BR_MCAST_STARTUP_QUERY_INTVL, c.startupQueryIntervalMs);
  putCentis(m, IFLA_BR_MCAST_LAST_MEMBER_INTVL, c.lastMemberIntervalMs);
  m.putU8(IFLA_BR_MCAST_IGMP_VERSION, c.igmpVersion);
  m.putU8(IFLA_BR_MCAST_MLD_VERSION, c.mldVersion);
  m.nestEnd(d);
  m.nestEnd(li);
  return m;
}

Message portMcastRouterSet(int index, McastRouter mode) {
  Message m = linkChange(index);
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_SLAVE_KIND, "bridge");
  nlattr* d = m.nestStart(IFLA_INFO_SLAVE_DATA);
  m.putU8(IFLA_BRPORT_MULTICAST_ROUTER, static_cast<uint8_t>(mode));
  m.nestEnd(d);
  m.nestEnd(li);
  return m;
}

Message portIsolatedSet(int index, bool isolated) {
  Message m = linkChange(index);
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_SLAVE_KIND, "bridge");
  nlattr* d = m.nestStart(IFLA_INFO_SLAVE_DATA);
  m.putU8(IFLA_BRPORT_ISOLATED, isolated ? 1 : 0);
  m.nestEnd(d);
  m.nestEnd(li);
  return m;
}

Message mdbDump(int bridgeIndex) {
  Message m(RTM_GETMDB, NLM_F_DUMP);
  auto* b = m.extra<br_port_msg>();
  b->family = AF_BRIDGE;
  b->ifindex = static_cast<uint32_t>(bridgeIndex);
  return m;
}

std::optional<BridgeMcast> parseBridgeMcast(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const nlattr* tb[IFLA_MAX + 1];
  parseAttrs(nlh, sizeof(ifinfomsg), tb, IFLA_MAX);
  const nlattr* info[IFLA_INFO_MAX + 1];
  parseNested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
  if (!info[IFLA_INFO_DATA]) return std::nullopt;
  const nlattr* d[IFLA_BR_MAX + 1];
  parseNested(info[IFLA_INFO_DATA], d, IFLA_BR_MAX);
  if (!d[IFLA_BR_MCAST_SNOOPING]) return std::nullopt;
  BridgeMcast c;
  c.snooping = mnl_attr_get_u8(d[IFLA_BR_MCAST_SNOOPING]);
  if (d[IFLA_BR_MCAST_QUERIER]) c.querier = mnl_attr_get_u8(d[IFLA_BR_MCAST_QUERIER]);
  c.queryIntervalMs = getMs(d[IFLA_BR_MCAST_QUERY_INTVL], c.queryIntervalMs);
  c.membershipIntervalMs = getMs(d[IFLA_BR_MCAST_MEMBERSHIP_INTVL], c.membershipIntervalMs);
  c.queryResponseIntervalMs = getMs(d[IFLA_BR_MCAST_QUERY_RESPONSE_INTVL], c.queryResponseIntervalMs);
  c.startupQueryIntervalMs = getMs(d[IFLA_BR_MCAST_STARTUP_QUERY_INTVL], c.startupQueryIntervalMs);
  c.lastMemberIntervalMs = getMs(d[IFLA_BR_MCAST_LAST_MEMBER_INTVL], c.lastMemberIntervalMs);
  if (d[IFLA_BR_MCAST_IGMP_VERSION]) c.igmpVersion = mnl_attr_get_u8(d[IFLA_BR_MCAST_IGMP_VERSION]);
  if (d[IFLA_BR_MCAST_MLD_VERSION]) c.mldVersion = mnl_attr_get_u8(d[IFLA_BR_MCAST_MLD_VERSION]);
  return c;
}

// The IFLA_BRPORT_* attributes of an RTM_NEWLINK of a bridge port into d;
// false when the message is not one or carries none.
static bool parsePortData(const nlmsghdr* nlh, const nlattr* (&d)[IFLA_BRPORT_MAX + 1]) {
  if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return false;
  const nlattr* tb[IFLA_MAX + 1];
  parseAttrs(nlh, sizeof(ifinfomsg), tb, IFLA_MAX);
  const nlattr* info[IFLA_INFO_MAX + 1];
  parseNested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
  if (!info[IFLA_INFO_SLAVE_DATA]) return false;
  parseNested(info[IFLA_INFO_SLAVE_DATA], d, IFLA_BRPORT_MAX);
  return true;
}

std::optional<McastRouter> parsePortMcastRouter(const nlmsghdr* nlh) {
  const nlattr* d[IFLA_BRPORT_MAX + 1];
  if (!parsePortData(nlh, d) || !d[IFLA_BRPORT_MULTICAST_ROUTER]) return std::nullopt;
  const uint8_t v = mnl_attr_get_u8(d[IFLA_BRPORT_MULTICAST_ROUTER]);
  if (v > static_cast<uint8_t>(McastRouter::kPermanent)) return std::nullopt;  // 3: temporary (not weft's)
  return static_cast<McastRouter>(v);
}

std::optional<bool> parsePortIsolated(const nlmsghdr* nlh) {
  const nlattr* d[IFLA_BRPORT_MAX + 1];
  if (!parsePortData(nlh, d) || !d[IFLA_BRPORT_ISOLATED]) return std::nullopt;
  return mnl_attr_get_u8(d[IFLA_BRPORT_ISOLATED]) != 0;
}

std::vector<std::pair<int, IpAddr>> parseMdb(const nlmsghdr* nlh, int bridgeIndex) {
  std::vector<std::pair<int, IpAddr>> out;
  // A dump answers with RTM_GETMDB messages (br_mdb_dump); notifications
  // are RTM_NEWMDB: the same layout.
  if ((nlh->nlmsg_type != RTM_GETMDB && nlh->nlmsg_type != RTM_NEWMDB) ||
      nlh->nlmsg_len < NLMSG_LENGTH(sizeof(br_port_msg)))
    return out;
  const auto* bpm = static_cast<const br_port_msg*>(mnl_nlmsg_get_payload(nlh));
  if (static_cast<int>(bpm->ifindex) != bridgeIndex) return out;
  const nlattr* tb[MDBA_MAX + 1];
  parseAttrs(nlh, sizeof(br_port_msg), tb, MDBA_MAX);
  if (!tb[MDBA_MDB]) return out;
  for (const nlattr* e : children(tb[MDBA_MDB])) {
    if (mnl_attr_get_type(e) != MDBA_MDB_ENTRY) continue;
    for (const nlattr* i : children(e)) {
      if (mnl_attr_get_type(i) != MDBA_MDB_ENTRY_INFO || mnl_attr_get_payload_len(i) < sizeof(br_mdb_entry))
        continue;
      br_mdb_entry be;
      std::memcpy(&be, mnl_attr_get_payload(i), sizeof be);
      if (be.addr.proto == htons(ETH_P_IP))
        out.emplace_back(static_cast<int>(be.ifindex), IpAddr::fromBytes(AF_INET, &be.addr.u.ip4));
      else if (be.addr.proto == htons(ETH_P_IPV6))
        out.emplace_back(static_cast<int>(be.ifindex), IpAddr::fromBytes(AF_INET6, &be.addr.u.ip6));
    }
  }
  return out;
}

}  // namespace weft::kernel::nl
