#include "kernel/netns_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "kernel/netns_util.h"

namespace weft::kernel {
namespace {

// backlog < 0: not listening (UDP).
Result<Fd> bindInNetns(const std::string& nsPath, const IpAddr& addr, uint16_t port, int type, int backlog) {
  auto ns = openNetnsFile(nsPath);
  if (!ns) return ns.error();
  int made = -1;
  Status st = runInNetns(ns->get(), [&]() -> Status {
    Fd s(::socket(addr.isV6() ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s) return Error{errno, std::string("socket: ") + std::strerror(errno)};
    if (backlog >= 0) {
      // A restarted responder binds again while the last one's connections
      // sit in TIME_WAIT.
      int one = 1;
      ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (addr.isV6()) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      std::memcpy(&a->sin6_addr, addr.bytes.data(), 16);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      std::memcpy(&a->sin_addr, addr.bytes.data(), 4);
      len = sizeof *a;
    }
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
      return Error{errno, "bind " + addr.str() + ":" + std::to_string(port) + " in " + nsPath + ": " +
                              std::strerror(errno)};
    if (backlog >= 0 && ::listen(s.get(), backlog) != 0)
      return Error{errno,
                   "listen on " + addr.str() + ":" + std::to_string(port) + ": " + std::strerror(errno)};
    made = ::dup(s.get());
    if (made < 0) return Error{errno, std::string("dup: ") + std::strerror(errno)};
    return Status::Ok();
  });
  if (!st) return st.error();
  return Fd(made);
}

}  // namespace

Result<Fd> bindUdpInNetns(const std::string& nsPath, const IpAddr& addr, uint16_t port) {
  return bindInNetns(nsPath, addr, port, SOCK_DGRAM, -1);
}

Result<Fd> listenTcpInNetns(const std::string& nsPath, const IpAddr& addr, uint16_t port, int backlog) {
  return bindInNetns(nsPath, addr, port, SOCK_STREAM, backlog);
}

}  // namespace weft::kernel
