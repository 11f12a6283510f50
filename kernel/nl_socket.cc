#include "kernel/nl_socket.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace weft::kernel::nl {

namespace {
constexpr size_t kRecvSize = 65536;
constexpr int kDumpRetries = 5;
}  // namespace

Result<std::unique_ptr<Socket>> Socket::open(int bus, std::atomic<uint64_t>* roundTrips) {
  auto s = std::unique_ptr<Socket>(new Socket());
  s->roundTrips_ = roundTrips;
  s->sock_.reset(mnl_socket_open2(bus, SOCK_CLOEXEC));
  if (!s->sock_) return Error::fromErrno(errno, "opening netlink socket");
  int on = 1;
  // Extended acks carry the kernel's reason; capped acks keep them short.
  setsockopt(mnl_socket_get_fd(s->sock_.get()), SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  setsockopt(mnl_socket_get_fd(s->sock_.get()), SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  if (mnl_socket_bind(s->sock_.get(), 0, MNL_SOCKET_AUTOPID) < 0)
    return Error::fromErrno(errno, "binding netlink socket");
  s->portid_ = mnl_socket_get_portid(s->sock_.get());
  return s;
}

Status Socket::request(Message& m, const std::string& what, const MessageFn& onReply) {
  std::lock_guard<std::mutex> lock(mu_);
  m.hdr()->nlmsg_flags |= NLM_F_ACK;
  bool interrupted = false;
  return exchange(m.hdr(), what, onReply, &interrupted);
}

Status Socket::dump(Message& m, const std::string& what, const MessageFn& onMessage) {
  std::lock_guard<std::mutex> lock(mu_);
  m.hdr()->nlmsg_flags |= NLM_F_DUMP;
  for (int attempt = 0;; ++attempt) {
    std::vector<std::vector<char>> msgs;
    bool interrupted = false;
    auto collect = [&](const nlmsghdr* n) {
      const char* p = reinterpret_cast<const char*>(n);
      msgs.emplace_back(p, p + n->nlmsg_len);
    };
    if (auto s = exchange(m.hdr(), what, collect, &interrupted); !s) return s;
    if (interrupted && attempt < kDumpRetries) continue;
    if (interrupted) return Error{EAGAIN, what + ": dump kept being interrupted by changes"};
    for (auto& b : msgs) onMessage(reinterpret_cast<const nlmsghdr*>(b.data()));
    return {};
  }
}

Status Socket::exchange(nlmsghdr* nlh, const std::string& what, const MessageFn& fn, bool* interrupted) {
  nlh->nlmsg_seq = ++seq_;
  if (roundTrips_) roundTrips_->fetch_add(1, std::memory_order_relaxed);
  if (mnl_socket_sendto(sock_.get(), nlh, nlh->nlmsg_len) < 0)
    return Error::fromErrno(errno, what + ": sending netlink request");
  std::vector<char> buf(kRecvSize);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::fromErrno(errno, what + ": receiving netlink reply");
    }
    int len = static_cast<int>(n);
    for (auto* r = reinterpret_cast<const nlmsghdr*>(buf.data()); mnl_nlmsg_ok(r, len);
         r = mnl_nlmsg_next(r, &len)) {
      if (r->nlmsg_seq != nlh->nlmsg_seq || r->nlmsg_pid != portid_) continue;  // stale
      if (r->nlmsg_flags & NLM_F_DUMP_INTR) *interrupted = true;
      if (r->nlmsg_type == NLMSG_DONE) {
        const auto* code = static_cast<const int*>(mnl_nlmsg_get_payload(r));
        if (r->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) && *code < 0) return Error::fromErrno(-*code, what);
        return {};
      }
      if (r->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(r));
        if (e->error == 0) return {};
        std::string msg;
        if (r->nlmsg_flags & NLM_F_ACK_TLVS) {
          size_t off = sizeof(nlmsgerr);
          if (!(r->nlmsg_flags & NLM_F_CAPPED)) off += e->msg.nlmsg_len - sizeof(nlmsghdr);
          const nlattr* tb[NLMSGERR_ATTR_MAX + 1];
          parseAttrs(r, off, tb, NLMSGERR_ATTR_MAX);
          if (tb[NLMSGERR_ATTR_MSG]) msg = mnl_attr_get_str(tb[NLMSGERR_ATTR_MSG]);
        }
        Error err = Error::fromErrno(-e->error, what);
        if (!msg.empty()) err.message += " (" + msg + ")";
        return err;
      }
      if (r->nlmsg_type == NLMSG_NOOP || r->nlmsg_type == NLMSG_OVERRUN) continue;
      if (fn) fn(r);
    }
  }
}

}  // namespace weft::kernel::nl
