#include "kernel/nl_msg_fdb.h"

#include <arpa/inet.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

namespace weft::kernel::nl {

namespace {

uint16_t writeFlags(FdbWrite how) {
  switch (how) {
    case FdbWrite::kCreate:
      return NLM_F_EXCL;
    case FdbWrite::kAppend:
      return NLM_F_APPEND;
    case FdbWrite::kReplace:
      return NLM_F_REPLACE;
  }
  return NLM_F_EXCL;
}

Message fdbMessage(uint16_t type, uint16_t flags, int ifindex, uint16_t state) {
  Message m(type, NLM_F_ACK | flags);
  auto* ndm = m.extra<ndmsg>();
  ndm->ndm_family = AF_BRIDGE;
  ndm->ndm_ifindex = ifindex;
  ndm->ndm_state = state;
  ndm->ndm_flags = NTF_SELF;
  return m;
}

}  // namespace

Message fdbAdd(int ifindex, const FdbTarget& t, FdbWrite how) {
  Message m = fdbMessage(RTM_NEWNEIGH, NLM_F_CREATE | writeFlags(how), ifindex, NUD_PERMANENT | NUD_NOARP);
  m.put(NDA_LLADDR, t.mac.bytes.data(), t.mac.bytes.size());
  m.put(NDA_DST, t.dst.bytes.data(), t.dst.size());
  if (t.port) m.putU16(NDA_PORT, htons(*t.port));
  if (t.vni) m.putU32(NDA_VNI, *t.vni);
  return m;
}

Message fdbDelete(int ifindex, const MacAddr& mac, const std::optional<IpAddr>& dst) {
  Message m = fdbMessage(RTM_DELNEIGH, 0, ifindex, 0);
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  if (dst) m.put(NDA_DST, dst->bytes.data(), dst->size());
  return m;
}

Message fdbGet(int ifindex, const MacAddr& mac) {
  Message m = fdbMessage(RTM_GETNEIGH, 0, ifindex, 0);
  m.put(NDA_LLADDR, mac.bytes.data(), mac.bytes.size());
  return m;
}

Message fdbDump(int ifindex) {
  Message m(RTM_GETNEIGH, NLM_F_DUMP);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_BRIDGE;
  ifi->ifi_index = ifindex;
  return m;
}

}  // namespace weft::kernel::nl
