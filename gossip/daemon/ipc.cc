#include "gossip/daemon/ipc.h"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace weft::gossip {

Status ipcSend(int fd, const std::string& msg) {
  if (msg.size() > kMaxIpcMessage) return Error{EMSGSIZE, "ipc message too large"};
  for (;;) {
    ssize_t n = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    if (n >= 0) return Status::Ok();
    if (errno == EINTR) continue;
    return Error::fromErrno(errno, "ipc send");
  }
}

Result<std::string> ipcRecv(int fd) {
  std::vector<char> buf(kMaxIpcMessage + 1);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n > 0) {
      if (static_cast<size_t>(n) > kMaxIpcMessage) return Error{EMSGSIZE, "ipc message too large"};
      return std::string(buf.data(), static_cast<size_t>(n));
    }
    if (n == 0) return Error{ECONNRESET, "ipc peer closed the channel"};
    if (errno == EINTR) continue;
    return Error::fromErrno(errno, "ipc recv");
  }
}

}  // namespace weft::gossip
