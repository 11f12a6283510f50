#include "kernel/nl_msg_nsid.h"

#include <linux/net_namespace.h>
#include <linux/rtnetlink.h>

namespace weft::kernel::nl {

Message nsidDump() {
  Message m(RTM_GETNSID, NLM_F_DUMP);
  m.extra<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  return m;
}

Message nsidOfFd(int nsFd) {
  Message m(RTM_GETNSID, NLM_F_ACK);
  m.extra<rtgenmsg>()->rtgen_family = AF_UNSPEC;
  m.putU32(NETNSA_FD, static_cast<uint32_t>(nsFd));
  return m;
}

int parseNsid(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWNSID || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(rtgenmsg)))
    return NETNSA_NSID_NOT_ASSIGNED;
  const nlattr* tb[NETNSA_MAX + 1];
  parseAttrs(nlh, sizeof(rtgenmsg), tb, NETNSA_MAX);
  return tb[NETNSA_NSID] ? static_cast<int32_t>(mnl_attr_get_u32(tb[NETNSA_NSID])) : NETNSA_NSID_NOT_ASSIGNED;
}

}  // namespace weft::kernel::nl
