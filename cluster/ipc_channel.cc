#include "cluster/ipc_channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace weft::cluster::ipc {

Status send(int fd, std::string_view msg, SendMode mode) {
  if (msg.size() > kMaxMessage) return Error{EMSGSIZE, "ipc message too large"};
  int flags = MSG_NOSIGNAL | (mode == SendMode::kNonBlocking ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t n = ::send(fd, msg.data(), msg.size(), flags);
    if (n >= 0) return Status::Ok();
    if (errno == EINTR) continue;
    return Error::fromErrno(errno, "ipc send");
  }
}

Result<std::string> recv(int fd) {
  // One buffer per thread: zeroing 1 MiB per message would dominate a
  // configuration of thousands of endpoints.
  thread_local std::vector<char> buf(kMaxMessage + 1);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      if (static_cast<size_t>(n) > kMaxMessage) return Error{EMSGSIZE, "ipc message too large"};
      return std::string(buf.data(), static_cast<size_t>(n));
    }
    if (n == 0) return Error{ECONNRESET, "ipc peer closed the channel"};
    if (errno == EINTR) continue;
    return Error::fromErrno(errno, "ipc recv");
  }
}

}  // namespace weft::cluster::ipc
