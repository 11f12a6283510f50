#pragma once
// Private to kernel/: the first tier of the netlink code. A netlink request
// as a value: a byte buffer holding one message (header, family header,
// attributes), built without a socket or a syscall, so every builder in
// kernel/nl_msg_*.h can be checked byte for byte. The socket (kernel/nl_socket.h)
// fills in the sequence number and port id when it sends one.

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace weft::kernel::nl {

class Message {
 public:
  // flags besides NLM_F_REQUEST, which every request carries.
  Message(uint16_t type, uint16_t flags);
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  const nlmsghdr* hdr() const { return reinterpret_cast<const nlmsghdr*>(buf_.data()); }
  // The message as it goes on the wire (nlmsg_len bytes).
  std::span<const uint8_t> bytes() const;

  // The family header (ifinfomsg, ndmsg, ...), zeroed; call once, first.
  template <class H>
  H* extra() {
    return static_cast<H*>(mnl_nlmsg_put_extra_header(hdr(), sizeof(H)));
  }
  // Raw zeroed bytes inside the current nest (e.g. the ifinfomsg of a veth peer).
  void* putRaw(size_t len);

  void putU8(uint16_t type, uint8_t v) { mnl_attr_put_u8(hdr(), type, v); }
  void putU16(uint16_t type, uint16_t v) { mnl_attr_put_u16(hdr(), type, v); }
  void putU32(uint16_t type, uint32_t v) { mnl_attr_put_u32(hdr(), type, v); }
  // A NUL-terminated string attribute.
  void putStr(uint16_t type, const std::string& v) { mnl_attr_put_strz(hdr(), type, v.c_str()); }
  void put(uint16_t type, const void* data, size_t len) { mnl_attr_put(hdr(), type, len, data); }
  nlattr* nestStart(uint16_t type) { return mnl_attr_nest_start(hdr(), type); }
  void nestEnd(nlattr* nest) { mnl_attr_nest_end(hdr(), nest); }

 private:
  std::vector<char> buf_;
};

// Attribute tables: tb[type] = attribute (last one wins), for types up to
// `max`; types above it are ignored.
void parseAttrs(const nlmsghdr* nlh, size_t headerLen, const nlattr** tb, int max);
void parseNested(const nlattr* nest, const nlattr** tb, int max);

}  // namespace weft::kernel::nl
