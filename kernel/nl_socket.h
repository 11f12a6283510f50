#pragma once
// Private to kernel/: the transport tier of the netlink code. One netlink
// socket (libmnl): sends a request built by kernel/nl_msg_*.h, reads its
// acknowledgement or its dump, and turns the kernel's answer into a Status
// carrying the errno (and the extended-ack text). It knows nothing about
// links or neighbours. A socket stays bound to the network namespace of the
// thread that opened it.

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "kernel/nl_message.h"

namespace weft::kernel::nl {

struct MnlSocketCloser {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};

using MessageFn = std::function<void(const nlmsghdr*)>;

class Socket {
 public:
  // Opens a socket of `bus` (NETLINK_ROUTE, NETLINK_XFRM) in the calling
  // thread's network namespace. Every round trip (one request sent and its
  // answer read to the end) is counted in *roundTrips when given; it must
  // outlive the socket.
  static Result<std::unique_ptr<Socket>> open(int bus, std::atomic<uint64_t>* roundTrips = nullptr);

  // Sends one request and waits for its acknowledgement (NLM_F_ACK is
  // added); replies before it go to `onReply`. The error carries the
  // kernel's errno and extack text.
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
  std::atomic<uint64_t>* roundTrips_ = nullptr;
};

}  // namespace weft::kernel::nl
