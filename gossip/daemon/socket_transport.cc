#include "gossip/daemon/socket_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/host_port.h"
#include "common/log.h"

namespace weft::gossip {

namespace {
constexpr size_t kMaxRefusalPeers = 64;  // entries of refusedBy(): peers we chose to contact
constexpr size_t kRefusalSize = sizeof(kRefusalNotice) - 1;

uint32_t lengthPrefix(const std::vector<uint8_t>& in) {
  uint32_t len;
  std::memcpy(&len, in.data(), 4);
  return ntohl(len);
}

void appendFrame(std::vector<uint8_t>* out, const std::vector<uint8_t>& frame) {
  uint32_t n = htonl(static_cast<uint32_t>(frame.size()));
  const auto* p = reinterpret_cast<const uint8_t*>(&n);
  out->insert(out->end(), p, p + 4);
  out->insert(out->end(), frame.begin(), frame.end());
}
}  // namespace

Result<sockaddr_storage> parseHostPort(const std::string& s, socklen_t* len) {
  auto hp = HostPort::parse(s);
  if (!hp) return Error{EINVAL, "bad address \"" + s + "\" (want ip:port or [ipv6]:port)"};
  return hp->toSockaddr(len);
}

std::string formatHostPort(const sockaddr* sa) {
  auto hp = HostPort::fromSockaddr(sa);
  return hp ? hp->str() : std::string();
}

std::string canonicalHostPort(const std::string& s) {
  socklen_t len = 0;
  auto addr = parseHostPort(s, &len);
  return addr.ok() ? formatHostPort(reinterpret_cast<const sockaddr*>(&*addr)) : s;
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
  // Outgoing streams leave from the same address (any port), so peers see
  // this host's own address, not one the kernel picks by route.
  local_ = *addr;
  localLen_ = len;
  if (fam == AF_INET)
    reinterpret_cast<sockaddr_in*>(&local_)->sin_port = 0;
  else
    reinterpret_cast<sockaddr_in6*>(&local_)->sin6_port = 0;
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
    ++stats_.droppedSends;
    return;
  }
  if (::sendto(udp_, packet.data(), packet.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&*addr), len) <
      0)
    ++stats_.droppedSends;  // like any lost datagram; SWIM copes
}

void SocketTransport::sendStream(const std::string& to, std::vector<uint8_t> frame) {
  socklen_t len = 0;
  auto addr = parseHostPort(to, &len);
  std::vector<uint8_t> hello = makeHello_ ? makeHello_(to) : std::vector<uint8_t>();
  if (!addr.ok() || frame.size() > kMaxStreamFrame || hello.empty() || hello.size() > kMaxHelloFrame) {
    ++stats_.droppedSends;
    return;
  }
  int fd = ::socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ++stats_.droppedSends;
    return;
  }
  int one = 1;  // the port is picked at connect: binding the address alone does not use one up
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (localLen_ != 0 && local_.ss_family == addr->ss_family &&
      ::bind(fd, reinterpret_cast<sockaddr*>(&local_), localLen_) != 0) {
    LOG_DEBUG("gossip", "cannot bind an outgoing stream to our address: " << std::strerror(errno));
  }
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&*addr), len);
  if (r != 0 && errno != EINPROGRESS) {
    ::close(fd);
    ++stats_.droppedSends;
    return;
  }
  Conn c;
  c.peer = to;
  c.outgoing = true;
  c.connecting = r != 0;
  appendFrame(&c.out, hello);
  appendFrame(&c.out, frame);
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
    if (incoming_ >= kMaxIncomingConns) {
      ++stats_.refusedConnections;
      ::close(fd);
      continue;
    }
    // A newcomer gets its chance at the cost of the connection that has had
    // the longest to authenticate: holding every slot takes a steady flood.
    if (stats_.unauthConns >= kMaxUnauthConns) evictOldestUnauthenticated();
    Conn c;
    c.peer = formatHostPort(reinterpret_cast<sockaddr*>(&from));
    c.accepted = loop_.now();
    c.deadline = loop_.schedule(kHelloTimeout, [this, fd] {
      ++stats_.helloTimeouts;
      closeConn(fd);
    });
    conns_.emplace(fd, std::move(c));
    ++incoming_;
    stats_.unauthConnsPeak = std::max(stats_.unauthConnsPeak, ++stats_.unauthConns);
    loop_.watch(fd, EPOLLIN, [this, fd](uint32_t ev) { onConn(fd, ev); });
    // The hello is often here already: read it before the next accept, so a
    // burst of real peers does not evict its own members.
    onConn(fd, EPOLLIN);
  }
}

void SocketTransport::evictOldestUnauthenticated() {
  int oldest = -1;
  Time when{};
  for (const auto& [fd, c] : conns_)
    if (!c.outgoing && !c.authenticated && (oldest < 0 || c.accepted < when)) {
      oldest = fd;
      when = c.accepted;
    }
  if (oldest >= 0) {
    ++stats_.refusedConnections;
    closeConn(oldest);
  }
}

void SocketTransport::onConn(int fd, uint32_t events) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (events & (EPOLLERR)) {
    if (c.outgoing) readRefusal(fd, c);  // a refusal may be queued before the reset
    closeConn(fd);
    return;
  }
  if ((events & EPOLLOUT) && c.outgoing) {
    c.connecting = false;
    while (c.outOff < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.outOff, c.out.size() - c.outOff, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        ++stats_.droppedSends;
        closeConn(fd);
        return;
      }
      c.outOff += static_cast<size_t>(n);
    }
    if (c.outOff == c.out.size()) {
      // Sent: only a refusal can still come back. Wait for it or the close.
      c.out.clear();
      c.out.shrink_to_fit();
      c.outOff = 0;
      ::shutdown(fd, SHUT_WR);  // the peer reads to the end and closes
      loop_.modify(fd, EPOLLIN);
      return;
    }
  }
  if (events & (EPOLLIN | EPOLLHUP)) {
    if (c.outgoing)
      readRefusal(fd, c);
    else
      readIncoming(fd, c);
  }
}

// An outgoing connection carries nothing back but, perhaps, kRefusalNotice.
void SocketTransport::readRefusal(int fd, Conn& c) {
  char buf[kRefusalSize];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && errno == EAGAIN) return;
  if (n == static_cast<ssize_t>(kRefusalSize) && std::memcmp(buf, kRefusalNotice, kRefusalSize) == 0 &&
      (refusedBy_.size() < kMaxRefusalPeers || refusedBy_.count(c.peer)))
    ++refusedBy_[c.peer];
  if (c.outOff < c.out.size()) ++stats_.droppedSends;
  closeConn(fd);
}

// Reads only what the connection may hold next: before authentication the
// rest of the hello and no byte more, afterwards up to one chunk of a frame.
void SocketTransport::readIncoming(int fd, Conn& c) {
  uint8_t buf[kStreamReadChunk];
  for (;;) {
    size_t want;
    if (c.in.size() < 4) {
      want = 4 - c.in.size();
    } else {
      const uint32_t len = lengthPrefix(c.in);
      const size_t limit = c.authenticated ? kMaxStreamFrame : kMaxHelloFrame;
      if (len > limit || (!c.authenticated && len == 0)) {
        ++stats_.oversizedFrames;
        LOG_DEBUG("gossip", "dropping stream from " << c.peer << ": frame of " << len << " bytes "
                                                    << (c.authenticated ? "is too big" : "before a hello"));
        closeConn(fd);
        return;
      }
      want = std::min(kStreamReadChunk, 4 + len - c.in.size());
    }
    ssize_t n = ::recv(fd, buf, want, 0);
    if (n == 0) {
      closeConn(fd);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN) closeConn(fd);
      return;
    }
    const size_t before = c.in.size();
    if (!c.authenticated) setUnauthBytes(c, before + static_cast<size_t>(n));
    c.in.insert(c.in.end(), buf, buf + n);
    if (c.in.size() >= 4 && c.in.size() == 4 + lengthPrefix(c.in) && !completeFrame(fd, c)) return;
  }
}

// A whole frame is in `c.in`. Returns false when the connection is gone.
bool SocketTransport::completeFrame(int fd, Conn& c) {
  std::vector<uint8_t> frame(c.in.begin() + 4, c.in.end());
  setUnauthBytes(c, 0);
  c.in.clear();
  c.in.shrink_to_fit();
  if (!c.authenticated) {
    const StreamHello verdict = verifyHello_ ? verifyHello_(c.peer, frame) : StreamHello::kRefused;
    if (verdict == StreamHello::kRefused) {
      ++stats_.helloFailures;
      refuse(fd);
      return false;
    }
    if (verdict == StreamHello::kDropped) {
      ++stats_.helloDropped;
      closeConn(fd);
      return false;
    }
    c.authenticated = true;
    --stats_.unauthConns;
    loop_.cancel(c.deadline);
    c.deadline = loop_.schedule(kConnTimeout, [this, fd] { closeConn(fd); });
    return true;
  }
  std::string peer = c.peer;
  if (handler_) handler_(peer, std::move(frame), true);
  return conns_.count(fd) != 0;
}

void SocketTransport::refuse(int fd) {
  (void)::send(fd, kRefusalNotice, kRefusalSize, MSG_NOSIGNAL | MSG_DONTWAIT);
  closeConn(fd);
}

void SocketTransport::setUnauthBytes(Conn& c, size_t newSize) {
  if (c.authenticated) return;
  stats_.unauthBytes = stats_.unauthBytes - c.in.size() + newSize;
  stats_.unauthBytesPeak = std::max(stats_.unauthBytesPeak, stats_.unauthBytes);
  stats_.unauthConnBytesPeak = std::max<uint64_t>(stats_.unauthConnBytesPeak, newSize);
}

void SocketTransport::closeConn(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  Conn& c = it->second;
  if (!c.outgoing) {
    --incoming_;
    if (!c.authenticated) {
      setUnauthBytes(c, 0);
      --stats_.unauthConns;
    }
  }
  loop_.cancel(c.deadline);
  loop_.unwatch(fd);
  ::close(fd);
  conns_.erase(it);
}

}  // namespace weft::gossip
