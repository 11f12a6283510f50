#include "kernel/nl_message.h"

#include <cstring>

namespace weft::kernel::nl {

namespace {
// Room for the largest request weft builds (a VXLAN device or an xfrm state:
// well under 1 KiB); libmnl's attribute writers do not check bounds.
constexpr size_t kMsgSize = 4096;

struct AttrTable {
  const nlattr** tb;
  int max;
};

int storeAttr(const nlattr* a, void* data) {
  auto* t = static_cast<AttrTable*>(data);
  int type = mnl_attr_get_type(a);
  if (type >= 0 && type <= t->max) t->tb[type] = a;
  return MNL_CB_OK;
}
}  // namespace

Message::Message(uint16_t type, uint16_t flags) : buf_(kMsgSize, 0) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf_.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
}

std::span<const uint8_t> Message::bytes() const {
  return {reinterpret_cast<const uint8_t*>(buf_.data()), hdr()->nlmsg_len};
}

void* Message::putRaw(size_t len) {
  void* p = mnl_nlmsg_get_payload_tail(hdr());
  std::memset(p, 0, MNL_ALIGN(len));
  hdr()->nlmsg_len += MNL_ALIGN(len);
  return p;
}

void parseAttrs(const nlmsghdr* nlh, size_t headerLen, const nlattr** tb, int max) {
  for (int i = 0; i <= max; ++i) tb[i] = nullptr;
  AttrTable t{tb, max};
  mnl_attr_parse(nlh, static_cast<unsigned>(headerLen), storeAttr, &t);
}

void parseNested(const nlattr* nest, const nlattr** tb, int max) {
  for (int i = 0; i <= max; ++i) tb[i] = nullptr;
  if (!nest) return;
  AttrTable t{tb, max};
  mnl_attr_parse_nested(nest, storeAttr, &t);
}

}  // namespace weft::kernel::nl
