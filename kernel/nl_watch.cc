// NetlinkKernel's change notifications: a NETLINK_ROUTE socket opened inside
// the namespace (from a short-lived thread, see netns_util.h) and bound to the
// multicast groups of links, neighbours/FDB entries and addresses. It is
// non-blocking: drain() reads what is queued and returns.
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "kernel/netlink_kernel.h"
#include "kernel/nl_socket.h"

namespace weft::kernel {

namespace {

// Room for a burst of notifications (weft programming a thousand remote
// endpoints at once sends ~3000); beyond it the kernel drops them and says
// so (ENOBUFS), which drain() reports as a change.
constexpr int kWatchRcvBuf = 4 << 20;

// Whether a notification can concern what weft manages. A new neighbour
// entry that is neither permanent nor NOARP is the ARP/ND cache or the
// bridge's learning at work (br0 and its ports, several a second on a busy
// network): weft's entries are all permanent, so those are skipped. Every
// removal counts, and every link and address change.
bool matters(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWNEIGH) return true;
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return true;
  const auto* nd = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(nlh));
  return (nd->ndm_state & (NUD_PERMANENT | NUD_NOARP)) != 0;
}

class NetlinkWatch : public ChangeWatch {
 public:
  explicit NetlinkWatch(std::unique_ptr<mnl_socket, nl::MnlSocketCloser> s) : sock_(std::move(s)) {}
  int fd() const override { return mnl_socket_get_fd(sock_.get()); }
  size_t drain() override {
    size_t n = 0;
    for (;;) {
      ssize_t len = mnl_socket_recvfrom(sock_.get(), buf_.data(), buf_.size());
      if (len < 0) {
        if (errno == ENOBUFS) {  // notifications were lost: something changed
          ++n;
          continue;
        }
        return n;  // EAGAIN: all read (anything else: nothing more to read now)
      }
      auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data());
      int left = static_cast<int>(len);
      for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
        if (matters(nlh)) ++n;
    }
  }

 private:
  std::unique_ptr<mnl_socket, nl::MnlSocketCloser> sock_;
  std::vector<char> buf_ = std::vector<char>(64 * 1024);
};

}  // namespace

Result<ChangeWatchPtr> NetlinkKernel::watchChanges(const Netns& ns) {
  auto fd = nsFd(ns, "watchChanges");
  if (!fd) return fd.error();
  std::unique_ptr<mnl_socket, nl::MnlSocketCloser> sock;
  Status s = runInNetns(fd->get(), [&]() -> Status {
    sock.reset(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!sock) return Error::fromErrno(errno, "opening netlink socket");
    return {};
  });
  if (!s) return Error{s.code(), "watchChanges: " + s.error().message};
  const unsigned groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (mnl_socket_bind(sock.get(), groups, MNL_SOCKET_AUTOPID) < 0)
    return Error::fromErrno(errno, "watchChanges: binding to the link/neighbour/address groups");
  // Best effort: the default buffer only means overflows come sooner.
  int rcv = kWatchRcvBuf;
  ::setsockopt(mnl_socket_get_fd(sock.get()), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  return ChangeWatchPtr(std::make_unique<NetlinkWatch>(std::move(sock)));
}

}  // namespace weft::kernel
