#pragma once
// Private to kernel/: one netlink socket (libmnl) and the message helpers the
// NetlinkKernel files share. A socket stays bound to the network namespace of
// the thread that opened it.

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace weft::kernel::nl {

struct MnlSocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

// A request under construction: a netlink header, a fixed family header of
// type H, then attributes put with libmnl.
class Message {
 public:
  Message(uint16_t type, uint16_t flags);
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  template <class H>
  H* extra() {
    return static_cast<H*>(mnl_nlmsg_put_extra_header(hdr(), sizeof(H)));
  }
  // Raw bytes inside the current nest (e.g. the ifinfomsg of a veth peer).
  void* putRaw(size_t len);

 private:
  std::vector<char> buf_;
};

using MessageFn = std::function<void(const nlmsghdr*)>;

class Socket {
 public:
  // Opens a socket of `bus` (NETLINK_ROUTE, NETLINK_XFRM) in the calling
  // thread's network namespace.
  static Result<std::unique_ptr<Socket>> open(int bus);

  // Sends one request and waits for its acknowledgement; replies before it
  // go to `onReply`. The error carries the kernel's errno and extack text.
  Status request(Message& m, const std::string& what, const MessageFn& onReply = {});
  // Sends a dump request (NLM_F_DUMP is added) and feeds every message to
  // `onMessage`; restarts when the kernel reports the dump was interrupted.
  Status dump(Message& m, const std::string& what, const MessageFn& onMessage);

 private:
  Status exchange(nlmsghdr* nlh, const std::string& what, const MessageFn& fn, bool* interrupted);

  std::mutex mu_;
  std::unique_ptr<mnl_socket, MnlSocketCloser> sock_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
};

// Attribute table helpers: tb[type] = attribute (last one wins), for types
// up to `max`.
void parseAttrs(const nlmsghdr* nlh, size_t headerLen, const nlattr** tb, int max);
void parseNested(const nlattr* nest, const nlattr** tb, int max);

}  // namespace weft::kernel::nl
