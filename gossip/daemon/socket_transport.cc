#include "gossip/daemon/socket_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstring>

#include "common/log.h"

namespace weft::gossip {

namespace {
constexpr auto kConnTimeout = std::chrono::seconds(5);
}  // namespace

Result<sockaddr_storage> parseHostPort(const std::string& s, socklen_t* len) {
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 2 > s.size() || s[close + 1] != ':')
      return Error{EINVAL, "bad address \"" + s + "\" (want [ipv6]:port)"};
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return Error{EINVAL, "bad address \"" + s + "\" (want ip:port)"};
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    return Error{EINVAL, "bad port in \"" + s + "\""};
  sockaddr_storage ss{};
  auto p = static_cast<uint16_t>(std::stoi(port));
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(p);
    *len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(p);
    *len = sizeof(sockaddr_in6);
  } else {
    return Error{EINVAL, "bad IP address in \"" + s + "\""};
  }
  return ss;
}

std::string formatHostPort(const sockaddr* sa) {
  char buf[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(sa);
    ::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(v4->sin_port));
  }
  auto* v6 = reinterpret_cast<const sockaddr_in6*>(sa);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
  return "[" + std::string(buf) + "]:" + std::to_string(ntohs(v6->sin6_port));
}

SocketTransport::~SocketTransport() {
  for (auto& [fd, c] : conns_) ::close(fd);
  if (udp_ >= 0) ::close(udp_);
  if (tcp_ >= 0) ::close(tcp_);
}

Status SocketTransport::bind(const std::string& hostPort) {
  socklen_t len = 0;
  auto addr = parseHostPort(hostPort, &len);
  if (!addr.ok()) return addr.error();
  int fam = addr->ss_family;
  udp_ = ::socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  tcp_ = ::socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (udp_ < 0 || tcp_ < 0) return Error::fromErrno(errno, "socket");
  int one = 1;
  ::setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int buf = 4 << 20;
  ::setsockopt(udp_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (::bind(udp_, reinterpret_cast<sockaddr*>(&*addr), len) != 0)
    return Error::fromErrno(errno, "bind udp " + hostPort);
  if (::bind(tcp_, reinterpret_cast<sockaddr*>(&*addr), len) != 0)
    return Error::fromErrno(errno, "bind tcp " + hostPort);
  if (::listen(tcp_, 64) != 0) return Error::fromErrno(errno, "listen " + hostPort);
  loop_.watch(udp_, EPOLLIN, [this](uint32_t) { onUdp(); });
  loop_.watch(tcp_, EPOLLIN, [this](uint32_t) { onAccept(); });
  return Status::Ok();
}

void SocketTransport::onUdp() {
  std::vector<uint8_t> buf(kMaxDatagram);
  for (;;) {
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    ssize_t n = ::recvfrom(udp_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) return;  // EAGAIN or error: wait for the next readiness
    if (handler_)
      handler_(formatHostPort(reinterpret_cast<sockaddr*>(&from)),
               std::vector<uint8_t>(buf.begin(), buf.begin() + n), false);
  }
}

void SocketTransport::sendDatagram(const std::string& to, std::vector<uint8_t> packet) {
  socklen_t len = 0;
  auto addr = parseHostPort(to, &len);
  if (!addr.ok() || packet.size() > kMaxDatagram) {
    ++droppedSends_;
    return;
  }
  if (::sendto(udp_, packet.data(), packet.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&*addr), len) <
      0)
    ++droppedSends_;  // like any lost datagram; SWIM copes
}

void SocketTransport::sendStream(const std::string& to, std::vector<uint8_t> frame) {
  socklen_t len = 0;
  auto addr = parseHostPort(to, &len);
  if (!addr.ok() || frame.size() > kMaxStreamFrame) {
    ++droppedSends_;
    return;
  }
  int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++droppedSends_;
    return;
  }
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&*addr), len);
  if (r != 0 && errno != EINPROGRESS) {
    ::close(fd);
    ++droppedSends_;
    return;
  }
  Conn c;
  c.peer = to;
  c.outgoing = true;
  c.connecting = r != 0;
  uint32_t n = htonl(static_cast<uint32_t>(frame.size()));
  c.out.resize(4);
  std::memcpy(c.out.data(), &n, 4);
  c.out.insert(c.out.end(), frame.begin(), frame.end());
  c.deadline = loop_.schedule(kConnTimeout, [this, fd] { closeConn(fd); });
  conns_.emplace(fd, std::move(c));
  loop_.watch(fd, EPOLLOUT | EPOLLIN, [this, fd](uint32_t ev) { onConn(fd, ev); });
}

void SocketTransport::onAccept() {
  for (;;) {
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    int fd = ::accept4(tcp_, reinterpret_cast<sockaddr*>(&from), &flen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (conns_.size() > 256) {  // a flood of connections must not exhaust us
      ::close(fd);
      continue;
    }
    Conn c;
    c.peer = formatHostPort(reinterpret_cast<sockaddr*>(&from));
    c.deadline = loop_.schedule(kConnTimeout, [this, fd] { closeConn(fd); });
    conns_.emplace(fd, std::move(c));
    loop_.watch(fd, EPOLLIN, [this, fd](uint32_t ev) { onConn(fd, ev); });
  }
}

void SocketTransport::onConn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (events & (EPOLLERR)) {
    if (c.outgoing) ++droppedSends_;
    closeConn(fd);
    return;
  }
  if ((events & EPOLLOUT) && c.outgoing) {
    c.connecting = false;
    while (c.outOff < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.outOff, c.out.size() - c.outOff, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        ++droppedSends_;
        closeConn(fd);
        return;
      }
      c.outOff += static_cast<size_t>(n);
    }
    if (c.outOff == c.out.size()) {
      closeConn(fd);  // one frame per connection; the reply comes on its own
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLHUP)) {
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) {
        closeConn(fd);
        return;
      }
      if (n < 0) {
        if (errno == EAGAIN) break;
        closeConn(fd);
        return;
      }
      c.in.insert(c.in.end(), buf, buf + n);
      while (c.in.size() >= 4) {
        uint32_t len;
        std::memcpy(&len, c.in.data(), 4);
        len = ntohl(len);
        if (len > kMaxStreamFrame) {
          ++oversized_;
          LOG_WARN("gossip",
                   "dropping stream from " << c.peer << ": frame of " << len << " bytes is too big");
          closeConn(fd);
          return;
        }
        if (c.in.size() < 4 + len) break;
        std::vector<uint8_t> frame(c.in.begin() + 4, c.in.begin() + 4 + len);
        c.in.erase(c.in.begin(), c.in.begin() + 4 + len);
        std::string peer = c.peer;
        if (handler_) handler_(peer, std::move(frame), true);
        if (!conns_.count(fd)) return;
      }
    }
  }
}

void SocketTransport::closeConn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  loop_.cancel(it->second.deadline);
  loop_.unwatch(fd);
  ::close(fd);
  conns_.erase(it);
}

}  // namespace weft::gossip
