// NetlinkKernel: xfrm (IPsec ESP in transport mode, AES-GCM) over
// NETLINK_XFRM in the host namespace. Messages come from nl_msg_xfrm.h.
#include <linux/xfrm.h>

#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/nl_msg_xfrm.h"
#include "kernel/validate.h"

namespace weft::kernel {

Status NetlinkKernel::addXfrmState(const XfrmState& s) {
  auto p = parseXfrmState("addXfrmState", s, XfrmUse::kAdd);
  if (!p) return p.error();
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmStateAdd(s, *p);
  return (*sock)->request(m, "addXfrmState " + s.src + " -> " + s.dst + " spi " + std::to_string(s.spi));
}

Status NetlinkKernel::delXfrmState(const XfrmState& s) {
  auto p = parseXfrmState("delXfrmState", s, XfrmUse::kDelete);
  if (!p) return p.error();
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmStateDelete(*p, s.spi);
  return nl::translate((*sock)->request(m, "delXfrmState " + s.dst + " spi " + std::to_string(s.spi)), ESRCH,
                       ENOENT);
}

Result<std::vector<XfrmState>> NetlinkKernel::listXfrmStates() {
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmStateDump();
  std::vector<XfrmState> out;
  Status st = (*sock)->dump(m, "listXfrmStates", [&](const nlmsghdr* r) {
    if (auto s = nl::parseXfrmState(r)) out.push_back(std::move(*s));
  });
  if (!st) return st.error();
  return out;
}

Status NetlinkKernel::addXfrmPolicy(const XfrmPolicy& p) {
  auto parsed = parseXfrmPolicy("addXfrmPolicy", p, XfrmUse::kAdd);
  if (!parsed) return parsed.error();
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmPolicyAdd(p, *parsed);
  return (*sock)->request(m, "addXfrmPolicy " + p.src + " -> " + p.dst);
}

Status NetlinkKernel::updateXfrmPolicy(const XfrmPolicy& p) {
  auto parsed = parseXfrmPolicy("updateXfrmPolicy", p, XfrmUse::kAdd);
  if (!parsed) return parsed.error();
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmPolicyUpdate(p, *parsed);
  return (*sock)->request(m, "updateXfrmPolicy " + p.src + " -> " + p.dst);
}

Status NetlinkKernel::delXfrmPolicy(const XfrmPolicy& p) {
  auto parsed = parseXfrmPolicy("delXfrmPolicy", p, XfrmUse::kDelete);
  if (!parsed) return parsed.error();
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmPolicyDelete(p, *parsed);
  return (*sock)->request(m, "delXfrmPolicy " + p.src + " -> " + p.dst);
}

Result<std::vector<XfrmPolicy>> NetlinkKernel::listXfrmPolicies() {
  auto sock = xfrmSocket();
  if (!sock) return sock.error();
  auto m = nl::xfrmPolicyDump();
  std::vector<XfrmPolicy> out;
  Status st = (*sock)->dump(m, "listXfrmPolicies", [&](const nlmsghdr* r) {
    if (auto p = nl::parseXfrmPolicy(r)) out.push_back(std::move(*p));
  });
  if (!st) return st.error();
  return out;
}

}  // namespace weft::kernel
